/**
 * Benchmarks of the cluster core (src/core): lookups, claim balance and movement, version operations, and
 * hash-tree update and diff cost. Plain timing with medians over batches, so the numbers mean the same thing
 * on every runtime. Prints one table per section, headed by the runtime's name and version.
 *
 *   node --import tsx bench/core.ts
 *   node_modules/.bin/deno run -A bench/core.ts
 *   node_modules/.bin/bun bench/core.ts
 */
import {
  claim,
  contextOf,
  decodeContext,
  decodeSet,
  descends,
  diffTrees,
  type DvvSet,
  emptySet,
  encodeContext,
  encodeSet,
  HashTree,
  merge,
  ownedCounts,
  Placement,
  planJoin,
  planLeave,
  recommendedPartitions,
  type RingNode,
  update,
} from "../src/core/mod.ts";
import { fmt, printTable } from "./_table.ts";

const g = globalThis as unknown as {
  Deno?: { version: { deno: string } };
  Bun?: { version: string };
  process?: { versions?: { node?: string } };
};
const runtime = g.Deno
  ? `deno ${g.Deno.version.deno}`
  : g.Bun
  ? `bun ${g.Bun.version}`
  : `node ${g.process?.versions?.node}`;

const table = (title: string, rows: Record<string, string | number>[]) => printTable(title, runtime, rows);

let sink = 0;
/** Median ops/s over batches of `batch` calls, running for about `ms`. */
function opsPerSecond(fn: (i: number) => unknown, batch = 1000, ms = 400): number {
  for (let i = 0; i < batch; i++) fn(i); // warm up
  const rates: number[] = [];
  const end = performance.now() + ms;
  let i = 0;
  while (performance.now() < end || rates.length < 5) {
    const t = performance.now();
    for (let k = 0; k < batch; k++) if (fn(i++)) sink++;
    rates.push(batch / ((performance.now() - t) / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)]!;
}

/** The result of `fn` and the median time in ms over `runs` runs. */
function time<T>(fn: () => T, runs = 1): [T, number] {
  const times: number[] = [];
  let out: T;
  do {
    const t = performance.now();
    out = fn();
    times.push(performance.now() - t);
  } while (times.length < runs);
  times.sort((a, b) => a - b);
  return [out, times[Math.floor(times.length / 2)]!];
}

const nodesOf = (n: number): RingNode[] => Array.from({ length: n }, (_, i) => ({ id: `node-${i}`, capacity: 1 }));

// ---------------------------------------------------------------------------------------------------------
function lookups(): void {
  const keys = Array.from({ length: 100_000 }, (_, i) => `user:${i}/profile`);
  const rows: Record<string, string | number>[] = [];
  for (
    const [label, n, options] of [
      ["10 nodes, n=3", 10, { n: 3 }],
      ["30 nodes, us:2 eu:1 ap:1, racks", 30, { replication: { us: 2, eu: 1, ap: 1 } }],
    ] as const
  ) {
    const nodes = nodesOf(n).map((x, i) => ({ ...x, datacenter: ["us", "eu", "ap"][i % 3]!, rack: `r${i % 4}` }));
    const { ring } = claim(null, nodes);
    const placement = new Placement(ring, nodes, options);
    const down = new Set([nodes[0]!.id]);
    rows.push({
      case: label,
      "forKey ops/s": opsPerSecond((i) => placement.forKey(keys[i % keys.length]!).replicas.length),
      "forKey+targets ops/s": opsPerSecond((i) => {
        const p = placement.forKey(keys[i % keys.length]!).partition;
        return placement.targets(p, down).length;
      }),
    });
  }
  table("key -> preference list", rows);
}

/** Most over least preference lists (N = 3) a node is in: what it stores and serves, not just what it owns. */
function replicaLoadRatio(ring: ReturnType<typeof claim>["ring"], nodes: readonly RingNode[]): number {
  const placement = new Placement(ring, nodes, { n: 3 });
  const load = new Map(nodes.map((x) => [x.id, 0]));
  for (let p = 0; p < ring.partitions; p++) {
    for (const r of placement.forPartition(p).replicas) load.set(r.node, load.get(r.node)! + 1);
  }
  return Math.max(...load.values()) / Math.min(...load.values());
}

function balance(): void {
  const rows: Record<string, string | number>[] = [];
  for (const n of [3, 10, 30, 100]) {
    for (const partitions of new Set([256, recommendedPartitions(n + 1)])) {
      const nodes = nodesOf(n);
      const [{ ring }, claimMs] = time(() => claim(null, nodes, { partitions }), 5);
      const counts = [...ownedCounts(ring).values()];
      const [join, joinMs] = time(() => planJoin(ring, nodes, { id: "joiner", capacity: 1 }), 5);
      const after = [...ownedCounts(join.ring).values()];
      const leave = planLeave(join.ring, [...nodes, { id: "joiner", capacity: 1 }], "node-0");
      rows.push({
        nodes: n,
        partitions,
        "max/min owned": Math.max(...counts) / Math.min(...counts),
        "max/min after join": Math.max(...after) / Math.min(...after),
        "max/min replica load (N=3) after join": replicaLoadRatio(join.ring, [...nodes, { id: "joiner", capacity: 1 }]),
        "moved on join": join.moves.length,
        "ideal (P/(n+1))": partitions / (n + 1),
        "moved on leave": leave.moves.length,
        "claim ms (median of 5)": claimMs,
        "join plan ms (median of 5)": joinMs,
      });
    }
  }
  table("claim balance and movement (equal capacities)", rows);
}

function versions(): void {
  const nodes = ["node-a", "node-b", "node-c"];
  let set: DvvSet<Uint8Array> = emptySet();
  const value = new Uint8Array(100);
  for (let i = 0; i < 30; i++) set = update(set, contextOf(set), value, nodes[i % 3]!, 1_700_000_000_000 + i);
  const sibling = update(set, [], value, "node-b", 1_700_000_001_000);
  const ctx = contextOf(set);
  const token = encodeContext(ctx);
  const bytes = encodeSet(sibling);
  const rows = [
    {
      operation: "update (write with context)",
      "ops/s": opsPerSecond((i) => update(set, ctx, value, nodes[i % 3]!, 1_700_000_002_000 + i)),
    },
    { operation: "merge (replica copies, 2 siblings)", "ops/s": opsPerSecond(() => merge(set, sibling)) },
    { operation: "descends (3-entry vectors)", "ops/s": opsPerSecond(() => descends(ctx, contextOf(sibling))) },
    { operation: "encodeContext", "ops/s": opsPerSecond(() => encodeContext(ctx)) },
    { operation: "decodeContext", "ops/s": opsPerSecond(() => decodeContext(token)) },
    { operation: `encodeSet (${bytes.length} B)`, "ops/s": opsPerSecond(() => encodeSet(sibling)) },
    { operation: "decodeSet", "ops/s": opsPerSecond(() => decodeSet(bytes)) },
  ];
  table("version vectors and DVVSets", rows);
}

function hashTrees(): void {
  const keysCount = 1_000_000;
  const differing = 100;
  const options = { segments: 65_536, fanout: 16 };
  const version = new Uint8Array([6, 110, 111, 100, 101, 45, 97, 1, 1]);
  const a = new HashTree(options);
  const [, buildMs] = time(() => {
    for (let i = 0; i < keysCount; i++) a.update(`user:${i}/profile`, null, version);
  });
  const b = HashTree.fromBytes(a.toBytes());
  const newer = new Uint8Array([6, 110, 111, 100, 101, 45, 97, 2, 1]);
  for (let i = 0; i < differing; i++) b.update(`user:${i * 9973}/profile`, version, newer);
  const [diff, diffMs] = time(() => diffTrees(a, b));
  const updateOps = opsPerSecond((i) => a.update(`user:${i % keysCount}/profile`, version, newer), 10_000);
  const [bytes, saveMs] = time(() => a.toBytes());
  table(
    `hash tree: ${fmt(keysCount)} keys, ${differing} differing, ${
      fmt(options.segments)
    } segments, fanout ${options.fanout}`,
    [
      { measure: "build from 1M keys (ms)", value: buildMs },
      { measure: "update ops/s (version change)", value: updateOps },
      { measure: "diff time (ms)", value: diffMs },
      { measure: "differing segments found", value: diff.segments.length },
      { measure: "hashes exchanged (8 B each)", value: diff.hashesExchanged },
      { measure: "rounds", value: diff.rounds },
      { measure: "saved tree size (bytes)", value: bytes.length },
      { measure: "save (ms)", value: saveMs },
    ],
  );
}

console.log(`# meshkv core benchmarks on ${runtime}`);
lookups();
balance();
versions();
hashTrees();
if (sink < 0) console.log(sink);
