/**
 * The memory runtime: in-memory files with fault injection, in-memory sockets and servers, a manual clock
 * and a seeded random source. For unit tests and the deterministic simulation; never what a user runs.
 */
import { MeshkvError } from "../errors.ts";
import { ManualClock } from "./_manual_clock.ts";
import { MemoryFileSystem } from "./_memory_fs.ts";
import { MemoryNetwork } from "./_memory_net.ts";
import { SeededRandom } from "./_random.ts";
import type { Clock, Runtime } from "./types.ts";

export { ManualClock, settle } from "./_manual_clock.ts";
export { MemoryFileHandle, MemoryFileSystem } from "./_memory_fs.ts";
export type { CrashOptions } from "./_memory_fs.ts";
export { MemoryNetwork, socketPair } from "./_memory_net.ts";
export { SeededRandom } from "./_random.ts";
export { BufferedSocket, type SocketDriver } from "./_socket.ts";

export interface MemoryRuntimeOptions {
  seed?: number;
  fs?: MemoryFileSystem;
  clock?: Clock;
  net?: MemoryNetwork;
  args?: string[];
  env?: Record<string, string>;
  /** Process ids `processAlive` reports running besides this runtime's own pid 1 (default none). */
  alivePids?: Iterable<number>;
}

export interface MemoryRuntime extends Runtime {
  readonly fs: MemoryFileSystem;
  readonly net: MemoryNetwork;
  /** The ids `processAlive` reports running (pid 1 is this runtime's own); tests add and remove ids to simulate other processes. */
  readonly alivePids: Set<number>;
}

export function createMemoryRuntime(options: MemoryRuntimeOptions = {}): MemoryRuntime {
  const fs = options.fs ?? new MemoryFileSystem();
  const net = options.net ?? new MemoryNetwork();
  const clock = options.clock ?? new ManualClock();
  const seedSource = new SeededRandom(options.seed ?? 1);
  const env = options.env ?? {};
  const signals = new Map<string, Set<() => void>>();
  const alivePids = new Set([1, ...(options.alivePids ?? [])]);
  return {
    name: "memory",
    version: "0",
    fs,
    net,
    clock,
    random: (seed) => (seed === undefined ? seedSource.fork() : new SeededRandom(seed)),
    serve: (o) => net.serve(o),
    dial: (url, o) => net.dial(url, o),
    args: () => [...(options.args ?? [])],
    env: (name) => env[name],
    onSignal(signal, fn) {
      const set = signals.get(signal) ?? new Set();
      signals.set(signal, set);
      set.add(fn);
      return () => set.delete(fn);
    },
    exit(code): never {
      throw new MeshkvError("UNSUPPORTED", `exit(${code}) called on the memory runtime`);
    },
    memoryRss: () => fs.totalBytes(),
    cpuSeconds: () => 0,
    pid: 1,
    alivePids,
    processAlive(pid) {
      if (!Number.isSafeInteger(pid) || pid <= 0) throw new RangeError(`Invalid process id: ${pid}`);
      return alivePids.has(pid);
    },
  };
}
