/**
 * Storage engine benchmark (issue 4): batched random inserts, awaited single puts, random point reads and a
 * full ordered scan on the runtime's real file system, with ops/s, p50/p99 latency, bytes on disk and peak
 * resident memory. On Node the same work also runs against classic-level (LevelDB) in a separate process, so
 * each engine's memory is its own, and the table prints our/their ratio.
 *
 *   node --import tsx bench/storage.ts [--quick]
 *   node_modules/.bin/deno run -A bench/storage.ts [--quick]
 *   node_modules/.bin/bun bench/storage.ts [--quick]
 *
 * Both engines run with their default settings except durability: meshkv uses `none`, LevelDB `sync: false`
 * (both hand writes to the OS without fsync before acknowledging), so the comparison is like for like.
 *
 * A second table compares meshkv's block compression (`--compression deflate`) with none in the same run, on
 * values that compress as JSON documents do (the main workload's random values would not compress at all):
 * bytes on disk, insert and point-read speed. `--no-compression` skips it.
 */
import { detectRuntime } from "../src/runtime/detect.ts";
import type { FileSystem, Runtime } from "../src/runtime/types.ts";
import { openEngine } from "../src/storage/mod.ts";

interface Row {
  name: string;
  ops: number;
  seconds: number;
  p50?: number;
  p99?: number;
  /** Peak resident memory of the process at the end of this workload (including earlier ones). */
  peakRss?: number;
}

interface Result {
  engine: string;
  rows: Row[];
  diskBytes: number;
  peakRssBytes: number;
  notes: string[];
}

interface Work {
  inserts: number;
  puts: number;
  reads: number;
  batch: number;
}

const g = globalThis as unknown as { Deno?: unknown; Bun?: unknown };
const rt: Runtime = await detectRuntime();
const args = rt.args();
const quick = args.includes("--quick");
const work: Work = quick
  ? { inserts: 100_000, puts: 20_000, reads: 50_000, batch: 100 }
  : { inserts: 1_000_000, puts: 200_000, reads: 500_000, batch: 100 };
const KEY_BYTES = 16;
const KEY_SEED = 42;
const VALUE_BYTES = 100;
const clock = rt.clock;

/**
 * The key of operation `i`: 16 bytes that look random, computed from `i` (murmur3's finalizer on four words)
 * instead of held in a 19 MiB array, so the bench's own memory does not count against the engine's. The first
 * word is a bijection of `i`, so the keys of distinct operations are distinct.
 */
function keyAt(i: number): Uint8Array {
  const k = new Uint8Array(KEY_BYTES);
  for (let w = 0; w < KEY_BYTES; w += 4) {
    const h = fmix32((i * 4 + w / 4 + KEY_SEED) >>> 0);
    k[w] = h >>> 24;
    k[w + 1] = h >>> 16;
    k[w + 2] = h >>> 8;
    k[w + 3] = h;
  }
  return k;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
}

class Meter {
  peak = 0;
  sample(): void {
    const rss = rt.memoryRss();
    if (rss > this.peak) this.peak = rss;
  }
}

async function timed(name: string, n: number, meter: Meter, op: (i: number) => Promise<unknown>): Promise<Row> {
  const lat = new Float64Array(n);
  const start = clock.monotonic();
  for (let i = 0; i < n; i++) {
    const t = clock.monotonic();
    await op(i);
    lat[i] = clock.monotonic() - t;
    if ((i & 1023) === 0) meter.sample();
  }
  const seconds = (clock.monotonic() - start) / 1000;
  lat.sort();
  meter.sample();
  return {
    name,
    ops: n,
    seconds,
    p50: percentile(lat, 0.5) * 1000,
    p99: percentile(lat, 0.99) * 1000,
    peakRss: meter.peak,
  };
}

async function diskBytes(fs: FileSystem, dir: string): Promise<number> {
  let n = 0;
  for (const name of await fs.list(dir)) {
    const st = await fs.stat(`${dir}/${name}`);
    n += st.isDirectory ? await diskBytes(fs, `${dir}/${name}`) : st.size;
  }
  return n;
}

async function tempDir(label: string): Promise<string> {
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const dir = `${root}/.tmp/bench-${label}-${rt.random().int(1e9)}`;
  await rt.fs.mkdir(dir, { recursive: true });
  return dir;
}

/** The common workload, over a tiny adapter so both engines run exactly the same loop. */
interface Adapter {
  batch(keys: Uint8Array[], values: Uint8Array[]): Promise<void>;
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  get(key: Uint8Array): Promise<unknown>;
  scan(): Promise<number>;
}

async function workload(db: Adapter, meter: Meter): Promise<Row[]> {
  const values = rt.random(7).bytes(1 << 20);
  const valueAt = (i: number) => {
    const at = (i * 7919) % ((1 << 20) - VALUE_BYTES);
    return values.subarray(at, at + VALUE_BYTES);
  };
  const rows: Row[] = [];
  const batches = work.inserts / work.batch;
  const inserts = await timed(
    `${work.inserts.toLocaleString("en")} random inserts, batches of ${work.batch}`,
    batches,
    meter,
    (b) => {
      const ks: Uint8Array[] = [];
      const vs: Uint8Array[] = [];
      for (let j = 0; j < work.batch; j++) {
        ks.push(keyAt(b * work.batch + j));
        vs.push(valueAt(b * work.batch + j));
      }
      return db.batch(ks, vs);
    },
  );
  rows.push({ ...inserts, ops: work.inserts, name: `${inserts.name} (latency per batch)` });
  rows.push(
    await timed(
      `${work.puts.toLocaleString("en")} awaited single puts`,
      work.puts,
      meter,
      (i) => db.put(keyAt(work.inserts + i), valueAt(i)),
    ),
  );
  const rnd = rt.random(99);
  const total = work.inserts + work.puts;
  rows.push(
    await timed(
      `${work.reads.toLocaleString("en")} random point reads`,
      work.reads,
      meter,
      (_) => db.get(keyAt(rnd.int(total))),
    ),
  );
  const start = clock.monotonic();
  const n = await db.scan();
  meter.sample();
  rows.push({
    name: `full ordered scan (${n.toLocaleString("en")} entries)`,
    ops: n,
    seconds: (clock.monotonic() - start) / 1000,
    peakRss: meter.peak,
  });
  return rows;
}

async function runMeshkv(): Promise<Result> {
  const dir = await tempDir("meshkv");
  const meter = new Meter();
  const e = await openEngine(rt.fs, `${dir}/db`, { clock, durability: "none" });
  const db: Adapter = {
    batch: (ks, vs) => e.batch(ks.map((key, i) => ({ type: "put", partition: 0, key, value: vs[i]! }))),
    put: (k, v) => e.put(0, k, v),
    get: (k) => e.get(0, k),
    async scan() {
      let n = 0;
      for await (const _ of e.iterate({ partition: 0 })) n++;
      return n;
    },
  };
  const rows = await workload(db, meter);
  const st = e.stats();
  await e.close();
  const bytes = await diskBytes(rt.fs, dir);
  await rt.fs.remove(dir, { recursive: true });
  return {
    engine: "meshkv",
    rows,
    diskBytes: bytes,
    peakRssBytes: meter.peak,
    notes: [
      `write amplification ${st.writeAmplification.toFixed(2)}, space amplification ${
        st.spaceAmplification.toFixed(2)
      }`,
      `levels ${
        st.levels.map((l) => l.tables).join("/")
      }, flushes ${st.flushes}, compactions ${st.compactions}, trivial moves ${st.trivialMoves}, stalls ${st.writeStalls}`,
      `peak RSS after each workload: ${rows.map((r) => mib(r.peakRss ?? 0)).join(", ")}`,
      `cache hit rate ${
        (st.cacheHits / Math.max(1, st.cacheHits + st.cacheMisses) * 100).toFixed(1)
      }%, bloom skipped ${st.bloomNegatives} of ${st.bloomChecks} table probes`,
    ],
  };
}

/** A JSON-like document of about 300 bytes: field names and small numbers repeat, as in real documents. */
function documentAt(i: number): Uint8Array {
  const doc = {
    id: i,
    name: `user-${i % 9973}`,
    email: `user${i % 9973}@example.com`,
    plan: ["free", "team", "enterprise"][i % 3],
    region: ["us-east", "eu-west", "ap-south"][i % 3],
    visits: i % 1000,
    tags: ["alpha", "beta", "gamma"].slice(0, 1 + (i % 3)),
    created: 1_700_000_000_000 + i * 1000,
    settings: { theme: i % 2 ? "dark" : "light", notifications: true, language: "en" },
  };
  return new TextEncoder().encode(JSON.stringify(doc));
}

async function runCompression(
  compression: "none" | "deflate",
): Promise<{ compression: string; rows: Row[]; diskBytes: number }> {
  const dir = await tempDir(`meshkv-${compression}`);
  const meter = new Meter();
  const e = await openEngine(rt.fs, `${dir}/db`, { clock, durability: "none", compression });
  const n = work.inserts / 4;
  const batches = n / work.batch;
  const rows: Row[] = [];
  rows.push(
    await timed(
      `${n.toLocaleString("en")} inserts of ~300-byte documents, batches of ${work.batch}`,
      batches,
      meter,
      (b) =>
        e.batch(
          Array.from(
            { length: work.batch },
            (_, j) => ({
              type: "put" as const,
              partition: 0,
              key: keyAt(b * work.batch + j),
              value: documentAt(b * work.batch + j),
            }),
          ),
        ),
    ),
  );
  rows[0] = { ...rows[0]!, ops: n };
  await e.flush();
  await e.idle();
  const rnd = rt.random(99);
  rows.push(
    await timed(
      `${(work.reads / 4).toLocaleString("en")} random point reads`,
      work.reads / 4,
      meter,
      () => e.get(0, keyAt(rnd.int(n))),
    ),
  );
  await e.close();
  const bytes = await diskBytes(rt.fs, dir);
  await rt.fs.remove(dir, { recursive: true });
  return { compression, rows, diskBytes: bytes };
}

function printCompression(
  plain: Awaited<ReturnType<typeof runCompression>>,
  packed: Awaited<ReturnType<typeof runCompression>>,
): void {
  console.log(
    `\n## Block compression (${rt.name} ${rt.version}${quick ? ", --quick" : ""}): deflate against none, same run\n`,
  );
  console.log("| workload | none ops/s | deflate ops/s | deflate/none |");
  console.log("|---|---|---|---|");
  plain.rows.forEach((r, i) => {
    const d = packed.rows[i]!;
    console.log(
      `| ${r.name} | ${fmt(r.ops / r.seconds)} | ${fmt(d.ops / d.seconds)} | ${
        fmt((d.ops / d.seconds) / (r.ops / r.seconds), 2)
      } |`,
    );
  });
  console.log(
    `| bytes on disk | ${mib(plain.diskBytes)} | ${mib(packed.diskBytes)} | ${
      fmt(packed.diskBytes / plain.diskBytes, 2)
    } |`,
  );
}

async function runLevelDb(): Promise<Result> {
  const { ClassicLevel } = await import("classic-level");
  const dir = await tempDir("leveldb");
  const meter = new Meter();
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  const adapter: Adapter = {
    batch: (ks, vs) => db.batch(ks.map((key, i) => ({ type: "put", key, value: vs[i]! }))),
    put: (k, v) => db.put(k, v),
    get: (k) => db.get(k),
    async scan() {
      let n = 0;
      for await (const _ of db.iterator()) n++;
      return n;
    },
  };
  const rows = await workload(adapter, meter);
  await db.close();
  const bytes = await diskBytes(rt.fs, dir);
  await rt.fs.remove(dir, { recursive: true });
  return { engine: "leveldb", rows, diskBytes: bytes, peakRssBytes: meter.peak, notes: [] };
}

const fmt = (n: number, d = 0) => n.toLocaleString("en", { maximumFractionDigits: d, minimumFractionDigits: d });
const mib = (b: number) => `${fmt(b / 1048576, 1)} MiB`;

function print(ours: Result, theirs: Result | null): void {
  console.log(`\n## Storage engine (${rt.name} ${rt.version}${quick ? ", --quick" : ""})\n`);
  const head = ["workload", "meshkv ops/s", "p50 µs", "p99 µs"];
  if (theirs) head.push("LevelDB ops/s", "p50 µs", "p99 µs", "ours/theirs");
  console.log(`| ${head.join(" | ")} |`);
  console.log(`|${head.map(() => "---").join("|")}|`);
  const lat = (x?: number) => (x === undefined ? "" : fmt(x, 1));
  ours.rows.forEach((r, i) => {
    const cells = [r.name, fmt(r.ops / r.seconds), lat(r.p50), lat(r.p99)];
    const t = theirs?.rows[i];
    if (t) {
      cells.push(fmt(t.ops / t.seconds), lat(t.p50), lat(t.p99), fmt((r.ops / r.seconds) / (t.ops / t.seconds), 2));
    }
    console.log(`| ${cells.join(" | ")} |`);
  });
  const extra = (name: string, a: string, b: string, ratio: number) =>
    console.log(`| ${[name, a, "", "", ...(theirs ? [b, "", "", fmt(ratio, 2)] : [])].join(" | ")} |`);
  extra("bytes on disk", mib(ours.diskBytes), mib(theirs?.diskBytes ?? 0), ours.diskBytes / (theirs?.diskBytes ?? 1));
  extra(
    "peak RSS",
    mib(ours.peakRssBytes),
    mib(theirs?.peakRssBytes ?? 0),
    ours.peakRssBytes / (theirs?.peakRssBytes ?? 1),
  );
  console.log("");
  for (const n of ours.notes) console.log(`- meshkv: ${n}`);
}

if (args.includes("--engine=leveldb")) {
  console.log(JSON.stringify(await runLevelDb()));
} else {
  const ours = await runMeshkv();
  let theirs: Result | null = null;
  if (!g.Deno && !g.Bun && !args.includes("--no-leveldb")) {
    // LevelDB in its own process, so neither engine's memory counts against the other.
    const { execFileSync } = await import("node:child_process");
    const self = new URL(import.meta.url).pathname;
    const out = execFileSync(rt.name === "node" ? "node" : "node", [
      "--import",
      "tsx",
      self,
      "--engine=leveldb",
      ...(quick ? ["--quick"] : []),
    ], {
      encoding: "utf8",
      maxBuffer: 1 << 24,
    });
    theirs = JSON.parse(out.trim().split("\n").pop()!) as Result;
  }
  print(ours, theirs);
  if (!args.includes("--no-compression")) {
    printCompression(await runCompression("none"), await runCompression("deflate"));
  }
}
