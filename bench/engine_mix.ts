/**
 * One node's storage engine under a mix like workload A, without the cluster: loads `--records` keys of 1.1 KB
 * (YCSB's record size with our framing), then runs `--ops` operations, half point reads and half puts, on YCSB's
 * scrambled zipfian keys with 32 in flight and durability `batch`, and prints the CPU per operation (the
 * process's user + system time over the mixed phase), compaction and flush bytes per operation, compactions, the
 * block cache's hit rate and the tables per level at the end. One process and no network: steadier than a
 * cluster run, so engine settings can be compared here first (docs/storage.md, "Compaction: leveled").
 *
 *   node --import tsx bench/engine_mix.ts [--records 100000] [--ops 1000000] [--options '{"memtableBytes":33554432}']
 *
 * `--options` is a JSON object of `EngineOptions` on top of the defaults. Node only (it reads `process.cpuUsage`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectRuntime } from "../src/runtime/detect.ts";
import { openEngine } from "../src/storage/mod.ts";
import { ScrambledZipfian, SeededRandom } from "./_zipf.ts";

const rt = await detectRuntime();
const args = rt.args();
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : fallback;
};
const records = Number(arg("records", "100000"));
const ops = Number(arg("ops", "1000000"));
const options = JSON.parse(arg("options", "{}"));
const INFLIGHT = 32;
const VALUE_BYTES = 1100;
const PARTITIONS = 256;
/** Distinct values the mixed phase's puts cycle through (1.1 MB of random bytes, so blocks rarely repeat one). */
const VALUE_POOL = 1024;

const dir = mkdtempSync(join(tmpdir(), "meshkv-engine-mix-"));
try {
  const e = await openEngine(rt.fs, join(dir, "db"), { clock: rt.clock, durability: "batch", ...options });
  const rnd = new SeededRandom(7);
  const key = (i: number) => `user${((i * 2654435761) >>> 0).toString().padStart(10, "0")}`;
  for (let i = 0; i < records; i += 100) {
    const puts = [];
    for (let j = i; j < Math.min(records, i + 100); j++) {
      puts.push(e.put(j % PARTITIONS, key(j), rnd.bytes(VALUE_BYTES)));
    }
    await Promise.all(puts);
  }
  await new Promise((r) => setTimeout(r, 3000)); // let the load's flushes and compactions start
  const zipf = new ScrambledZipfian(records, new SeededRandom(9));
  // Values for the mixed phase, made before it starts: drawing 1,100 random bytes per put was a fifth of the
  // phase's CPU (a V8 profile), which is the benchmark's work, not the engine's.
  const values = Array.from({ length: VALUE_POOL }, () => rnd.bytes(VALUE_BYTES));
  const s0 = e.stats();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let started = 0;
  const worker = async () => {
    while (started < ops) {
      started++;
      const k = zipf.next();
      if (rnd.next() < 0.5) await e.get(k % PARTITIONS, key(k));
      else await e.put(k % PARTITIONS, key(k), values[started % VALUE_POOL]!);
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  const s1 = e.stats();
  const hits = s1.cacheHits - s0.cacheHits;
  const misses = s1.cacheMisses - s0.cacheMisses;
  const per = (a: number, b: number) => Math.round((a - b) / ops);
  console.log(JSON.stringify({
    options,
    records,
    ops,
    cpuUsPerOp: +((cpu.user + cpu.system) / ops).toFixed(1),
    opsPerSec: Math.round(ops / seconds),
    compactionBytesReadPerOp: per(s1.compactionBytesRead, s0.compactionBytesRead),
    compactionBytesWrittenPerOp: per(s1.compactionBytesWritten, s0.compactionBytesWritten),
    flushBytesPerOp: per(s1.flushBytesWritten, s0.flushBytesWritten),
    compactions: s1.compactions - s0.compactions,
    cacheHitRate: +(hits / Math.max(1, hits + misses)).toFixed(3),
    levels: s1.levels.map((l) => `${l.tables} tables ${(l.bytes / 1048576).toFixed(0)} MiB`),
  }));
  await e.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
