/**
 * Rebalancing and catch-up costs of the replicated cluster (src/cluster/partition_mover.ts, anti_entropy.ts,
 * hints.ts), on the real runtime: real sockets on loopback, real file systems under a temp directory, nodes in
 * this one process (so throughput is one event loop's, and the ratios are what to compare).
 *
 * 1. steady state: three nodes (N = 3), writes at quorum from 32 concurrent writers for a fixed time;
 * 2. join: a fourth node joins while the same load runs; reports throughput during the join (until every node
 *    has settled: nothing left to pull or hand off) against steady state, and how long the join took;
 * 3. catch-up: one node stops (no leave), the load runs on, the node restarts; reports how long until
 *    anti-entropy and hints have brought it up to date (every key written while it was away is on it).
 *
 *   node --import tsx bench/cluster_join.ts [--quick]
 *   node_modules/.bin/deno run -A bench/cluster_join.ts [--quick]
 *   node_modules/.bin/bun bench/cluster_join.ts [--quick]
 */
import { assembleNode } from "../src/cli/assemble.ts";
import type { ClusterBackend } from "../src/cluster/cluster_backend.ts";
import type { ClusterNode } from "../src/cluster/node.ts";
import { TIMING_PRESETS } from "../src/cluster/presets.ts";
import { values } from "../src/core/version.ts";
import { liveCount } from "../src/cluster/records.ts";
import { detectRuntime } from "../src/runtime/detect.ts";
import { fmt, printTable } from "./_table.ts";

const rt = await detectRuntime();
const quick = rt.args().includes("--quick");
const PRELOAD = quick ? 5_000 : 50_000;
const PHASE_MS = quick ? 2_000 : 5_000;
const WRITERS = 32;
const PARTITIONS = 64;
const root = `${rt.env("TMPDIR") ?? "/tmp"}/meshkv-bench-join-${rt.pid}`;

interface Running {
  id: string;
  node: ClusterNode;
  backend: ClusterBackend;
}

async function startOne(id: string, seeds: string[]): Promise<Running> {
  const a = await assembleNode({
    runtime: rt,
    random: rt.random(),
    nodeId: id,
    datacenter: "dc1",
    timings: TIMING_PRESETS.fast,
    node: { host: "127.0.0.1", port: 0, secret: "bench-secret", seeds },
    kv: {
      dir: `${root}/${id}`,
      auth: null,
      options: { replication: { partitions: PARTITIONS, n: 3, sloppy: true }, engine: { durability: "batch" } },
    },
  });
  return { id, node: a.cluster, backend: a.backend! };
}

async function until(check: () => boolean, limitMs: number, what: string): Promise<number> {
  const start = rt.clock.monotonic();
  while (!check()) {
    if (rt.clock.monotonic() - start > limitMs) throw new Error(`Timed out waiting for ${what}`);
    await rt.clock.sleep(20);
  }
  return rt.clock.monotonic() - start;
}

const value = { contentType: "application/octet-stream", data: new Uint8Array(100).fill(7) };
let counter = 0;

/** Quorum writes of fresh keys from WRITERS loops through `via` until `stop()`; returns writes done. */
async function load(via: () => Running[], stop: () => boolean, keys: string[]): Promise<number> {
  let done = 0;
  await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    while (!stop()) {
      const nodes = via().filter((n) => n.backend.ready());
      const key = `k${counter++}`;
      try {
        await nodes[(w + done) % nodes.length]!.backend.put(key, value, {
          context: [],
          ifNoneMatch: false,
          strict: false,
          consistency: "quorum",
          ttlMs: null,
        });
        keys.push(key);
        done++;
      } catch {
        // A write that failed is not counted; back off a little so a failing node cannot spin the loop.
        await rt.clock.sleep(5);
      }
    }
  }));
  return done;
}

async function timed(
  via: () => Running[],
  until: () => boolean,
  keys: string[],
): Promise<{ writes: number; ms: number }> {
  const start = rt.clock.monotonic();
  const writes = await load(via, until, keys);
  return { writes, ms: rt.clock.monotonic() - start };
}

await rt.fs.mkdir(root, { recursive: true });
const nodes: Running[] = [];
try {
  nodes.push(await startOne("a", []));
  const seed = nodes[0]!.node.address;
  nodes.push(await startOne("b", [seed]), await startOne("c", [seed]));
  await until(() => nodes.every((n) => n.backend.settled()), 30_000, "three nodes");
  const keys: string[] = [];
  // 200 at a time: a peer link takes at most 256 requests in flight (mesh incomingInFlightMax).
  for (let i = 0; i < PRELOAD; i += 200) {
    await Promise.all(
      Array.from({ length: 200 }, (_, j) =>
        nodes[j % 3]!.backend.put(`pre${i + j}`, value, {
          context: [],
          ifNoneMatch: false,
          strict: false,
          consistency: "quorum",
          ttlMs: null,
        })),
    );
  }
  const rows: Record<string, string | number>[] = [];

  let t0 = rt.clock.monotonic();
  const steady = await timed(() => nodes, () => rt.clock.monotonic() - t0 > PHASE_MS, keys);
  const steadyRate = (steady.writes / steady.ms) * 1000;
  rows.push({
    phase: "steady state, 3 nodes",
    "writes/s": Math.round(steadyRate),
    "vs steady": "1.00",
    "took (ms)": Math.round(steady.ms),
  });

  const joinStart = rt.clock.monotonic();
  const joining = startOne("d", [seed]).then((r) => nodes.push(r));
  let settledAt: number | null = null;
  const during = await timed(() => nodes, () => {
    if (settledAt === null && nodes.length === 4 && nodes.every((n) => n.backend.settled())) {
      settledAt = rt.clock.monotonic();
    }
    return settledAt !== null || rt.clock.monotonic() - joinStart > 120_000;
  }, keys);
  await joining;
  const joinRate = (during.writes / during.ms) * 1000;
  rows.push({
    phase: `during a join (${PRELOAD.toLocaleString("en-US")} keys preloaded)`,
    "writes/s": Math.round(joinRate),
    "vs steady": (joinRate / steadyRate).toFixed(2),
    "took (ms)": Math.round((settledAt ?? rt.clock.monotonic()) - joinStart),
  });

  // Catch-up: c is away while writes go on, then comes back.
  const away = nodes.find((n) => n.id === "c")!;
  await away.node.kill();
  await away.backend.close();
  nodes.splice(nodes.indexOf(away), 1);
  const missed: string[] = [];
  t0 = rt.clock.monotonic();
  await timed(() => nodes, () => rt.clock.monotonic() - t0 > PHASE_MS, missed);
  const back = await startOne("c", [seed]);
  nodes.push(back);
  const backAt = rt.clock.monotonic();
  await until(() => back.backend.ready(), 30_000, "c to rejoin");
  const ring = back.backend.view.update(back.node.gossip.table);
  const mine = missed.filter((k) => ring.placement.forKey(k).replicas.some((r) => r.node === "c"));
  let have = 0;
  const caughtUp = async () => {
    have = 0;
    for (const k of mine) {
      if (liveCount(values((await back.backend.store.read(back.backend.view.partitionOf(k), k)).set)) > 0) have++;
    }
    return have === mine.length;
  };
  while (!(await caughtUp()) && rt.clock.monotonic() - backAt < 300_000) await rt.clock.sleep(200);
  rows.push({
    phase: `catch-up after ${PHASE_MS / 1000} s away (${mine.length.toLocaleString("en-US")} keys missed)`,
    "writes/s": "",
    "vs steady": "",
    "took (ms)": Math.round(rt.clock.monotonic() - backAt),
  });
  printTable(
    `Cluster rebalance and catch-up: ${WRITERS} writers at quorum, N = 3, ${PARTITIONS} partitions, 100-byte values`,
    `${rt.name} ${rt.version}`,
    rows,
  );
  console.log(`\ncaught up: ${fmt(have)} of ${fmt(mine.length)} missed keys on the returning node`);
} finally {
  for (const n of nodes) {
    await n.node.kill().catch(() => {});
    await n.backend.close().catch(() => {});
  }
  await rt.fs.remove(root, { recursive: true }).catch(() => {});
}
rt.exit(0);
