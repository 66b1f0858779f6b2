/**
 * Real local clusters for bench/ycsb.ts: three `meshkv start` child processes on loopback, each on the runtime
 * asked for (node, deno or bun), started with fast mesh timers and batch durability, joined through the first
 * node, and ready once every node answers /health and lists three alive members. Also the small process
 * helpers the peers (etcd, Redis) share: free ports, waiting for a condition, stopping a child politely.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DENO_SERVER_V8_ARG } from "../src/runtime/_v8_flags.ts";

export type RuntimeName = "node" | "deno" | "bun";
export const RUNTIME_NAMES: readonly RuntimeName[] = ["node", "deno", "bun"];

const bin = (root: string, n: string) => join(root, "node_modules", ".bin", n);

const built = new Set<string>();

/**
 * Compiles `root` once per benchmark process (`npm run build`, a few seconds), so Node nodes run dist/ as a
 * user who installed meshkv from npm does. In a clone `meshkv` on Node runs the TypeScript through tsx, whose
 * transform (names kept on every inner function) cost 10-15% more CPU per request on this machine.
 */
export function buildOnce(root: string): void {
  if (built.has(root)) return;
  const r = spawnSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`npm run build failed in ${root} (status ${r.status})`);
  built.add(root);
}

/**
 * The command that runs `meshkv <args>` on a runtime, with a CPU profile written to `profileDir` when given.
 * Node runs the compiled build (see `buildOnce`); Deno and Bun run the TypeScript source, as their users do.
 */
export function meshkvCommand(
  root: string,
  runtime: RuntimeName,
  args: string[],
  profileDir?: string,
  perfMaps = false,
): [string, string[]] {
  const prof = profileDir === undefined;
  if (runtime === "node") {
    buildOnce(root);
    return [process.execPath, [
      ...(prof ? [] : ["--cpu-prof", "--cpu-prof-dir", profileDir]),
      ...(perfMaps ? ["--perf-basic-prof"] : []),
      join(root, "bench/_dist_bin.mjs"),
      ...args,
    ]];
  }
  if (runtime === "deno") {
    return [bin(root, "deno"), [
      "run",
      "-A",
      "--quiet",
      ...(prof ? [] : ["--cpu-prof-dir", profileDir]),
      // As `deno task start` runs a node (deno.json): the server's V8 flags, and perf's maps when asked.
      perfMaps ? `${DENO_SERVER_V8_ARG},--perf-basic-prof` : DENO_SERVER_V8_ARG,
      join(root, "src/cli/main.ts"),
      ...args,
    ]];
  }
  return [bin(root, "bun"), [
    ...(prof ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]),
    join(root, "src/cli/main.ts"),
    ...args,
  ]];
}

/** Whether `meshkv start` knows `--replicas` yet (replication landing); asked once of the Node build. */
export function startHasReplicasFlag(root: string): boolean {
  const [cmd, args] = meshkvCommand(root, "node", ["start", "--help"]);
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", timeout: 30_000 });
  return `${r.stdout}${r.stderr}`.includes("--replicas");
}

/** A free TCP port on loopback (bound and released; good enough for a benchmark on one machine). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An error that stops `waitFor` at once (the process it waits for has exited). */
export function fatal(message: string): Error {
  return Object.assign(new Error(message), { fatal: true });
}

/** Polls `check` every 100 ms until it returns true; fails after `timeoutMs` with `what` and the last error. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown = null;
  while (performance.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      if ((e as { fatal?: boolean }).fatal) throw e;
      last = e;
    }
    await sleep(100);
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message ?? last}` : ""}`,
  );
}

/** A child process whose output is kept (last 64 KiB) for error messages. */
export interface Proc {
  name: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Every child still running, killed when this process exits however it exits (a crash must not leave nodes behind). */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    for (const c of live) c.kill("SIGKILL");
    process.exit(130);
  });
}

/**
 * CPU seconds (user + system) the processes `pids` have used so far, from /proc/<pid>/stat (Linux; 0 for a pid
 * that is gone or where /proc is missing). Threads count toward their process, so Deno's and Bun's worker
 * threads are included. Clock ticks are taken as 100 per second (`getconf CLK_TCK` on Linux).
 */
export function procCpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the command name (which may hold spaces) start at the last ')'.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // gone: counts nothing
    }
  }
  return ticks / 100;
}

export function startProc(
  name: string,
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Proc {
  const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  live.add(child);
  child.once("exit", () => live.delete(child));
  let out = "";
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 65_536) out = out.slice(-65_536);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.once("error", (e) => keep(Buffer.from(`spawn error: ${e.message}\n`)));
  return { name, child, output: () => out, exited };
}

/** Sends `signal`, waits up to `graceMs` for the exit, then kills. */
export async function stopProc(p: Proc, signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  const done = await Promise.race([p.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    p.child.kill("SIGKILL");
    await p.exited;
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface MeshkvNodeSpec {
  runtime: RuntimeName;
  datacenter?: string;
}

export interface ClusterOptions {
  root: string;
  nodes: readonly MeshkvNodeSpec[];
  /** Passed to every node when given, e.g. `us-east|eu-west=40`. */
  regionDelays?: string;
  /** Pass `--replicas N` (only when `meshkv start` has the flag). */
  replicas?: number;
  /** Write a CPU profile of every node into this directory. */
  profileDir?: string;
  /** Have Node and Deno nodes write perf maps (`--perf-basic-prof`), so `perf` names their JavaScript. */
  perfMaps?: boolean;
  /** `meshkv start --mesh-preset` (default: fast, for tests that want quick formation). */
  preset?: string;
  /** More `meshkv start` flags for every node, e.g. `["--conflicts", "lww"]`. */
  extraArgs?: readonly string[];
}

export interface MeshkvCluster {
  urls: string[];
  /** performance.now() just before the nodes were spawned (where their CPU profiles start, within a few ms). */
  spawnedAt: number;
  nodes: readonly MeshkvNodeSpec[];
  procs: Proc[];
  /** Stops every node (SIGINT, so a profiled node writes its profile) and removes the data directories. */
  stop(): Promise<void>;
}

interface Member {
  id?: string;
  status?: string;
}

/** Starts the nodes one after another (the first is the seed) and waits until the mesh has formed. */
export async function startMeshkvCluster(o: ClusterOptions): Promise<MeshkvCluster> {
  const dir = tempDir("meshkv-ycsb-");
  const procs: Proc[] = [];
  const urls: string[] = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => stopProc(p, "SIGINT", o.profileDir === undefined ? 5000 : 30_000)));
    removeDir(dir);
  };
  let spawnedAt = 0;
  try {
    let seedPort = 0;
    for (const [i, spec] of o.nodes.entries()) {
      const port = await freePort();
      if (i === 0) seedPort = port;
      const id = `${String.fromCharCode(97 + i)}-${spec.runtime}`;
      const args = [
        "start",
        "--id",
        id,
        "--port",
        String(port),
        "--data",
        join(dir, id),
        "--seeds",
        `127.0.0.1:${seedPort}`,
        "--mesh-preset",
        o.preset ?? "fast",
        "--durability",
        "batch",
      ];
      if (spec.datacenter !== undefined) args.push("--datacenter", spec.datacenter);
      if (o.regionDelays !== undefined) args.push("--region-delays", o.regionDelays);
      if (o.replicas !== undefined) args.push("--replicas", String(o.replicas));
      args.push(...(o.extraArgs ?? []));
      const [cmd, argv] = meshkvCommand(o.root, spec.runtime, args, o.profileDir, o.perfMaps ?? false);
      if (i === 0) spawnedAt = performance.now();
      procs.push(startProc(id, cmd, argv, o.root));
      urls.push(`http://127.0.0.1:${port}`);
    }
    for (const [i, url] of urls.entries()) {
      const p = procs[i]!;
      await waitFor(`${p.name} /health`, 60_000, async () => {
        if (p.child.exitCode !== null) throw fatal(`${p.name} exited with ${p.child.exitCode}`);
        const res = await fetch(`${url}/health`);
        await res.body?.cancel();
        return res.status === 200;
      });
    }
    for (const [i, url] of urls.entries()) {
      await waitFor(`${procs[i]!.name} to see ${urls.length} alive members`, 60_000, async () => {
        const res = await fetch(`${url}/v1/admin/members`);
        if (res.status !== 200) return false;
        const { members } = (await res.json()) as { members: Member[] };
        return members.filter((m) => m.status === "alive").length >= urls.length;
      });
    }
    return { urls, spawnedAt, nodes: o.nodes, procs, stop };
  } catch (e) {
    const logs = procs.map((p) => `--- ${p.name}\n${p.output().slice(-2000)}`).join("\n");
    await stop();
    throw new Error(`${(e as Error).message}\n${logs}`);
  }
}
