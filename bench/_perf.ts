/**
 * CPU profiles that count CPU time, for bench/ycsb.ts `--perf`: Linux `perf record` on the nodes' processes
 * (every thread) with the `cpu-clock` software event, which samples a thread only while it runs on a core.
 *
 * Why besides `--profile`: V8's sampler (`--cpu-prof`) takes a sample of a thread on a timer whether it runs or
 * not, so a system call that wakes another process on the same two cores collects samples while its thread
 * waits for the core, and it sees neither the kernel's side of a system call nor V8's own threads (the
 * optimizing compiler, concurrent marking). perf shows all of it: on this machine it put a fifth of a Node
 * node's CPU in the kernel, and a third in Node's HTTP and socket code with the system calls under it
 * (docs/bench.md, seventh round).
 *
 * Each sample goes to one area, in this order: the kernel (by the system call it was made from: the first
 * user-space frame under the kernel's), garbage collection, JIT compilation, else the nearest JavaScript frame
 * on the stack: a folder of `src/`, a dependency or the runtime's own JavaScript, so V8's builtins (property
 * access, calls, promises) count for the JavaScript that called them. JavaScript frames have names when the
 * runtime writes a perf map (`node --perf-basic-prof`, `deno run --v8-flags=--perf-basic-prof`); Bun writes
 * none, so its JavaScript shows as code without symbols, and Deno's binary has no symbols for V8's own code, so
 * its garbage collection and compiler cannot be told apart from other unnamed code.
 *
 * Needs `perf` (Debian: `apt-get install linux-perf`) and permission to profile other processes
 * (`/proc/sys/kernel/perf_event_paranoid` at most 1, or root, who may lower it).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

/** Samples per second per thread. */
export const PERF_FREQUENCY_HZ = 999;

/** Why perf cannot profile the nodes here, or null when it can (lowering perf_event_paranoid if root). */
export function perfUnavailable(): string | null {
  if (process.platform !== "linux") return "perf profiles need Linux";
  if (spawnSync("perf", ["--version"], { stdio: "ignore" }).status !== 0) {
    return "the perf tool is not installed (Debian: apt-get install linux-perf)";
  }
  const knob = "/proc/sys/kernel/perf_event_paranoid";
  const level = existsSync(knob) ? Number(readFileSync(knob, "utf8").trim()) : 2;
  if (level > 1 && process.getuid?.() === 0) {
    try {
      writeFileSync(knob, "1");
      return null;
    } catch { /* reported below */ }
  }
  if (level > 1) return `${knob} is ${level}: perf may not profile other processes (set it to 1 as root)`;
  return null;
}

/** A running `perf record` on some processes; `stop()` ends it and resolves once the file is written. */
export function recordPerf(pids: readonly number[], file: string): { stop(): Promise<void> } {
  const child = spawn("perf", [
    "record",
    "-q",
    "-F",
    String(PERF_FREQUENCY_HZ),
    "-e",
    "cpu-clock",
    "-g",
    "-p",
    pids.join(","),
    "-o",
    file,
  ], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return {
    async stop() {
      child.kill("SIGINT");
      await exited;
    },
  };
}

/**
 * The text of `perf script` for a recording (every sample with its stack), with JavaScript frames named again
 * from the perf maps by `PerfMaps` (see there: perf's own choice can name a function whose code was freed).
 */
export function perfScript(file: string): string {
  const r = spawnSync("perf", ["script", "-i", file], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`perf script failed: ${r.stderr}`);
  return new PerfMaps((path) => (existsSync(path) ? readFileSync(path, "utf8") : null)).rename(r.stdout);
}

/**
 * Names JavaScript frames by the newest perf map entry that covers their address.
 *
 * A runtime appends a line (`start size name`) to `/tmp/perf-<pid>.map` for every piece of code it compiles, and
 * never takes one back: when code is freed (a function deoptimized, its bytecode flushed), the space is reused
 * by later code, whose line comes after the old one. perf picks among overlapping entries by its own rules, not
 * by age, and on this machine named the WebSocket receiver's frames `decideWrite` (a function compiled while the
 * cluster was loaded, and freed since) in a run of reads only: 3% of the samples under the wrong name, and the
 * wrong area. The newest entry is the code that was there when the sample was taken (for samples taken before
 * it was reused, the newest is still the best guess: the maps carry no times).
 */
export class PerfMaps {
  readonly #read: (path: string) => string | null;
  readonly #maps = new Map<string, MapIndex | null>();

  constructor(read: (path: string) => string | null) {
    this.#read = read;
  }

  /** The name of the newest entry of map file `path` covering `address`, or null when none does. */
  lookup(path: string, address: bigint): string | null {
    let index = this.#maps.get(path);
    if (index === undefined) {
      const text = this.#read(path);
      index = text === null ? null : new MapIndex(text);
      this.#maps.set(path, index);
    }
    return index?.lookup(address) ?? null;
  }

  /** `perf script` text with every frame in a perf map named by `lookup` (other lines as they were). */
  rename(script: string): string {
    return script.replace(
      /^(\s*)([0-9a-f]+) .*? \((\/tmp\/perf-\d+\.map)\)$/gm,
      (line, indent: string, address: string, path: string) => {
        const name = this.lookup(path, BigInt(`0x${address}`));
        return name === null ? line : `${indent}${address} ${name} (${path})`;
      },
    );
  }
}

/** One perf map's entries, sorted by start, each with its line number (its age). */
class MapIndex {
  readonly #starts: bigint[] = [];
  readonly #ends: bigint[] = [];
  readonly #lines: number[] = [];
  readonly #names: string[] = [];
  /** The largest entry: an entry starting further below an address than this cannot cover it. */
  #sizeMax = 0n;
  readonly #cache = new Map<bigint, string | null>();

  constructor(text: string) {
    const entries: { start: bigint; size: bigint; line: number; name: string }[] = [];
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(lines[i]!);
      if (m) entries.push({ start: BigInt(`0x${m[1]}`), size: BigInt(`0x${m[2]}`), line: i, name: m[3]! });
    }
    entries.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.line - b.line));
    for (const e of entries) {
      this.#starts.push(e.start);
      this.#ends.push(e.start + e.size);
      this.#lines.push(e.line);
      this.#names.push(e.name);
      if (e.size > this.#sizeMax) this.#sizeMax = e.size;
    }
  }

  lookup(address: bigint): string | null {
    const cached = this.#cache.get(address);
    if (cached !== undefined) return cached;
    // The last entry starting at or below the address, then back over every entry that could still cover it.
    let lo = 0, hi = this.#starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#starts[mid]! <= address) lo = mid + 1;
      else hi = mid;
    }
    let best = -1;
    for (let i = lo - 1; i >= 0 && this.#starts[i]! + this.#sizeMax > address; i--) {
      if (this.#ends[i]! > address && (best < 0 || this.#lines[i]! > this.#lines[best]!)) best = i;
    }
    const name = best < 0 ? null : this.#names[best]!;
    this.#cache.set(address, name);
    return name;
  }
}

export interface PerfShare {
  name: string;
  samples: number;
  share: number;
}

export interface PerfSummary {
  samples: number;
  /** Every sample in one area (see the module doc); the shares add up to 1. */
  areas: PerfShare[];
  /** The kernel's samples by the system call (user-space function) they were made from. */
  syscalls: PerfShare[];
  /** The functions samples landed in (self time), native and JavaScript. */
  top: PerfShare[];
}

/** V8's garbage collector (its C++ namespace only, as for the compilers below). */
const GC =
  /v8::internal::\S*(?:Scaveng|MarkCompact|Marking|Sweep|Evacuat|RememberedSet|Ephemeron)|v8::internal::Heap::/;
/**
 * V8's compilers and parser (its C++ namespaces only: Node's HTTP parser is `node::…::Parser`, and
 * `Builtins_CompileLazy` stays on the stack under the first call of every new closure, so matching either would
 * put a request's whole work under compilation).
 */
const JIT =
  /v8::internal::compiler::|v8::internal::maglev::|turboshaft|v8::internal::Compiler::|v8::internal::(?:Pre)?Parser(?:Base)?\b|v8::internal::Scanner::|v8::internal::interpreter::BytecodeGenerator|OptimizingCompileDispatcher/;

interface Frame {
  symbol: string;
  dso: string;
}

/** One frame line of `perf script`: `addr symbol+0xoff (dso)`. */
function frameOf(line: string): Frame {
  const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(line);
  if (!m) return { symbol: line.trim(), dso: "" };
  return { symbol: m[1]!.replace(/\+0x[0-9a-f]+$/, ""), dso: m[2]! };
}

const isKernel = (f: Frame) => f.dso.includes("kernel") || f.dso.includes("vmlinux");

/** Where a JavaScript frame's function lives: a folder of `src/`, a dependency, or the runtime's own code. */
function jsArea(symbol: string): string {
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(symbol);
  if (dep) return dep[1]!;
  const src = /\/src\/([^/:]+)\/[^/]+:\d/.exec(symbol);
  if (src) return `src/${src[1]}`;
  if (symbol.includes(" node:")) return "node: internals";
  if (symbol.includes("ext:") || symbol.includes("deno:")) return "deno: internals";
  return "other JavaScript";
}

/** Sums one `perf script` text into areas, system calls and top functions. */
export function summarizePerf(script: string, topN = 25): PerfSummary {
  const areas = new Map<string, number>();
  const syscalls = new Map<string, number>();
  const top = new Map<string, number>();
  let samples = 0;
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const finish = (frames: Frame[]) => {
    if (frames.length === 0) return;
    samples++;
    const self = frames[0]!;
    bump(top, isKernel(self) ? `[kernel] ${self.symbol}` : self.symbol);
    if (isKernel(self)) {
      const user = frames.find((f) => !isKernel(f));
      const call = user === undefined ? "(kernel thread or interrupt)" : user.symbol;
      bump(syscalls, call);
      bump(areas, "kernel (system calls)");
      return;
    }
    if (frames.some((f) => GC.test(f.symbol))) return void bump(areas, "garbage collection");
    if (frames.some((f) => JIT.test(f.symbol))) return void bump(areas, "JIT compilation");
    const js = frames.find((f) => f.symbol.startsWith("JS:"));
    if (js !== undefined) return void bump(areas, jsArea(js.symbol));
    if (frames.some((f) => f.dso.startsWith("/tmp/perf-") || f.symbol === "[unknown]")) {
      return void bump(areas, "JIT code without symbols");
    }
    bump(areas, "runtime native (no JavaScript on the stack)");
  };
  let frames: Frame[] = [];
  let inSample = false;
  for (const line of script.split("\n")) {
    if (line.trim() === "") {
      if (inSample) finish(frames);
      frames = [];
      inSample = false;
    } else if (!/^\s/.test(line)) {
      if (inSample) finish(frames);
      frames = [];
      inSample = true; // a sample's header: `comm pid time: period event:`
    } else if (inSample) {
      frames.push(frameOf(line));
    }
  }
  if (inSample) finish(frames);
  const shares = (m: Map<string, number>, n = Infinity) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
      .map(([name, count]) => ({ name, samples: count, share: samples === 0 ? 0 : count / samples }));
  return { samples, areas: shares(areas), syscalls: shares(syscalls, 12), top: shares(top, topN) };
}
