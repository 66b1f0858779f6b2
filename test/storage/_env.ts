/**
 * Environments the storage tests run in: the memory file system with a manual clock, and the real file system
 * of the runtime the test process is on (a fresh directory under `.tmp/`). Small limits force flushes and
 * compactions within a few thousand writes.
 */
import { ManualClock, MemoryFileSystem } from "../../src/runtime/memory.ts";
import type { Clock, FileSystem } from "../../src/runtime/types.ts";
import type { EngineOptions } from "../../src/storage/mod.ts";
import { realRuntime, tempDir } from "../_helpers.ts";

export interface Env {
  name: string;
  fs: FileSystem;
  dir: string;
  clock: Clock;
  /** Lets `ms` of clock time pass (fires the manual clock's timers, or sleeps on a real one). */
  advance(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

export const SMALL: Omit<EngineOptions, "clock"> = {
  durability: "none",
  memtableBytes: 8 * 1024,
  tableBytes: 8 * 1024,
  blockBytes: 512,
  levelBaseBytes: 32 * 1024,
  l0CompactionTables: 2,
  l0StopTables: 8,
  cacheBytes: 32 * 1024,
  ioStepBytes: 4096,
};

export async function memoryEnv(): Promise<Env & { fs: MemoryFileSystem; clock: ManualClock }> {
  const fs = new MemoryFileSystem();
  const clock = new ManualClock();
  await fs.mkdir("/data");
  await fs.syncDir("/");
  return { name: "memory", fs, dir: "/data/db", clock, advance: (ms) => clock.advance(ms), cleanup: async () => {} };
}

export async function realEnv(): Promise<Env> {
  const rt = await realRuntime();
  const dir = await tempDir(rt.fs, "storage");
  return {
    name: rt.name,
    fs: rt.fs,
    dir: `${dir}/db`,
    clock: rt.clock,
    advance: (ms) => rt.clock.sleep(ms),
    cleanup: () => rt.fs.remove(dir, { recursive: true }),
  };
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Awaits a write while letting clock time pass, so `batch` durability's sync timer can fire. */
export async function acked<T>(env: Env, p: Promise<T>): Promise<T> {
  let done = false;
  const out = p.finally(() => {
    done = true;
  });
  while (!done) await Promise.race([out.catch(() => {}), env.advance(2)]);
  return out;
}
