/**
 * Two pieces of every single-key request, timed on their own (issue 18, thirteenth round, docs/bench.md):
 *
 * - `memtable get`: a point lookup in a memtable of 7,000 records (what 8 MiB holds at 1.1 KB) whose internal
 *   keys have the cluster's shape (two partition bytes, then YCSB's `user` and ten digits), the keys chosen by
 *   YCSB's scrambled zipfian. Run it at two commits to compare memtable changes.
 * - `target check`: what a hot route does with its target before routing, both ways in the same run: two URL
 *   parses (the check and the key, before) against `plainPath` (a target URL parsing keeps as sent).
 *
 * CPU µs per operation (`process.cpuUsage`), median and quartiles of `--rounds` rounds after ten unmeasured ones.
 *
 *   node --import tsx bench/hot_path.ts [--rounds 60]
 */
import process from "node:process";
import { plainPath } from "../src/http/raw_target.ts";
import { plainRec } from "../src/storage/_record.ts";
import { Memtable } from "../src/storage/memtable.ts";
import { printTable } from "./_table.ts";
import { ScrambledZipfian, SeededRandom } from "./_zipf.ts";

const argv = process.argv.slice(2);
const at = argv.indexOf("--rounds");
const rounds = at < 0 ? 60 : Number(argv[at + 1]);
if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error("--rounds must be a positive integer");

const RECORDS = 100_000;
const enc = new TextEncoder();
const userKey = (i: number) => `user${((i * 2654435761) >>> 0).toString().padStart(10, "0")}`;

function internalKey(i: number): Uint8Array {
  const k = enc.encode(userKey(i));
  const b = new Uint8Array(2 + k.length);
  b[0] = (i % 1024) >> 8;
  b[1] = i % 1024;
  b.set(k, 2);
  return b;
}

const VALUE = new Uint8Array(1100);

/** Median and quartiles of the CPU µs per call of `f` (which makes `calls` calls per round). */
function measure(calls: number, f: () => number): [number, number, number] {
  let sink = 0;
  for (let i = 0; i < 10; i++) sink += f();
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const c = process.cpuUsage();
    sink += f();
    const u = process.cpuUsage(c);
    out.push((u.user + u.system) / calls);
  }
  if (sink === -1) console.log(sink);
  out.sort((a, b) => a - b);
  const q = (x: number) => out[Math.min(out.length - 1, Math.floor(out.length * x))]!;
  return [q(0.5), q(0.25), q(0.75)];
}

const zipf = new ScrambledZipfian(RECORDS, new SeededRandom(3));
const keys = new Map<number, Uint8Array>();
const keyOf = (i: number) => keys.get(i) ?? (keys.set(i, internalKey(i)), keys.get(i)!);
const mem = new Memtable(0);
let seq = 0;
for (let i = 0; i < 7000; i++) mem.add(plainRec(keyOf(zipf.next()), VALUE, ++seq), 1120);
const probes = Array.from({ length: 7000 }, () => keyOf(zipf.next()));
const memtableGet = measure(probes.length * 10, () => {
  let found = 0;
  for (let r = 0; r < 10; r++) for (const k of probes) if (mem.get(k, seq) !== null) found++;
  return found;
});

const targets = Array.from({ length: 1000 }, (_, i) => `/v1/kv/${userKey(i)}`);
const parsed = measure(targets.length, () => {
  let n = 0;
  for (const t of targets) {
    n += new URL(`http://127.0.0.1:4000${t}`).pathname.length;
    n += new URL(`http://127.0.0.1:4000${t}`).pathname.length;
  }
  return n;
});
const plain = measure(targets.length, () => {
  let n = 0;
  for (const t of targets) n += plainPath(t)?.length ?? 0;
  return n;
});

const row = (piece: string, [m, lo, hi]: [number, number, number]) => ({
  piece,
  "median µs": m.toFixed(3),
  quartiles: `${lo.toFixed(3)}-${hi.toFixed(3)}`,
});
printTable(`Hot path pieces, CPU µs per operation, median of ${rounds} rounds`, `node ${process.versions.node}`, [
  row("memtable get (7,000 records)", memtableGet),
  row("target check: two URL parses", parsed),
  row("target check: plainPath", plain),
]);
