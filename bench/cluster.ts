/**
 * The cost of anti-entropy repair (src/cluster/anti_entropy.ts): two replicas of 1,000,000 keys (100-byte
 * values; `--quick`: 100,000) in 256 partitions, first identical, then with 100 and 1,000 keys differing
 * (half changed on each side). Each pass exchanges every partition once, from one replica with the other, and
 * checks that the trees are equal afterwards; the table gives the bytes both ways (msgpack-encoded message
 * sizes), their ratio to the data held, the requests made (rounds) and the wall time of the pass.
 *
 *   node --import tsx bench/cluster.ts [--quick]
 *   node_modules/.bin/deno run -A bench/cluster.ts [--quick]
 *   node_modules/.bin/bun bench/cluster.ts [--quick]
 *
 * Stores live on the memory file system (fast to fill; repair reads are memory-speed, so the time is the
 * protocol and hashing, not the disk) and talk through real meshes on the simulated network with a manual
 * clock (1 ms simulated one-way delay, which the wall time does not include). The replicas are filled by
 * writing the same encoded version sets into both engines and rebuilding the trees, as a restart would.
 * Time to catch up and throughput during a join are measured by the cluster benchmarks of the join work.
 */
import { AntiEntropy } from "../src/cluster/anti_entropy.ts";
import { items as wireItems, obj } from "../src/cluster/_wire.ts";
import { encodeValue } from "../src/cluster/records.ts";
import { openReplicaStore, type ReplicaStore } from "../src/cluster/replica.ts";
import { decodeSet, encodeSet } from "../src/core/context.ts";
import { contextOf, emptySet, update } from "../src/core/version.ts";
import { pureAuthenticator } from "../src/mesh/auth.ts";
import { Mesh } from "../src/mesh/mesh.ts";
import { SimNetwork } from "../src/testing/sim_net.ts";
import { ManualClock, MemoryFileSystem, SeededRandom } from "../src/runtime/memory.ts";
import { fmt, printTable } from "./_table.ts";

const g = globalThis as unknown as {
  Deno?: { version: { deno: string }; args: string[] };
  Bun?: { version: string };
  process?: { versions?: { node?: string }; argv?: string[] };
};
const runtime = g.Deno
  ? `deno ${g.Deno.version.deno}`
  : g.Bun
  ? `bun ${g.Bun.version}`
  : `node ${g.process?.versions?.node}`;
const args = g.Deno ? g.Deno.args : (g.process?.argv ?? []).slice(2);
const quick = args.includes("--quick");

const KEYS = quick ? 100_000 : 1_000_000;
const PARTITIONS = 256;
const VALUE_BYTES = 100;
const BATCH = 1000;

interface Replica {
  id: string;
  store: ReplicaStore;
  mesh: Mesh;
  ae: AntiEntropy;
}

const clock = new ManualClock();
const random = new SeededRandom(42);
const net = new SimNetwork({ clock, random: random.fork() });

async function replica(id: string, peer: string): Promise<Replica> {
  const store = await openReplicaStore({
    fs: new MemoryFileSystem(),
    dir: `/${id}`,
    clock,
    random: random.fork(),
    nodeId: id,
    engineValueBytesMax: 16 * 1024 * 1024,
    engine: { durability: "none" },
  });
  const mesh = new Mesh({
    nodeId: id,
    cluster: "bench",
    datacenter: "dc1",
    runtime: { clock, dial: (url, o) => net.dial(id, url, o) },
    random: random.fork(),
    auth: pureAuthenticator("bench"),
  });
  await net.serve(id, { hostname: id, port: 7000, fetch: () => new Response("ok"), websocket: mesh.websocket() });
  mesh.setSelfAddress(`${id}:7000`);
  mesh.setAddress(peer, `${peer}:7000`);
  mesh.onRequest("kvMergeBatch", async (body) => {
    for (const it of wireItems(obj(body, "body"), "items", PARTITIONS, 10_000)) {
      await store.merge(it.p, it.key, decodeSet(it.set), it.exp);
    }
    return { ok: true };
  });
  const all = Array.from({ length: PARTITIONS }, (_, p) => p);
  const ae = new AntiEntropy({
    store,
    mesh,
    clock,
    random: random.fork(),
    nodeId: id,
    partitions: PARTITIONS,
    mine: () => all,
    peersFor: () => [peer],
    replicasFor: () => [peer],
    keysPerExchangeMax: 1000,
  });
  ae.start();
  return { id, store, mesh, ae };
}

/** Settles `promise`, moving simulated time forward so messages are delivered. */
async function drive<T>(promise: Promise<T>): Promise<T> {
  let settled = false;
  const watched = promise.finally(() => (settled = true));
  watched.catch(() => {});
  while (!settled) await clock.advance(1);
  return await watched;
}

const keyOf = (i: number) => `user:${i}/profile`;
const partitionOf = (i: number) => i % PARTITIONS;

function valueOf(i: number, tag: string): Uint8Array {
  const v = new Uint8Array(VALUE_BYTES);
  const t = new TextEncoder().encode(`${tag}:${i}:`);
  for (let k = 0; k < VALUE_BYTES; k++) v[k] = t[k % t.length]!;
  return v;
}

/** Writes the same version set of every key into both engines; returns the bytes of data held per replica. */
async function fill(a: Replica, b: Replica): Promise<number> {
  let dataBytes = 0;
  for (let i = 0; i < KEYS; i += BATCH) {
    const ops = [];
    for (let k = i; k < Math.min(KEYS, i + BATCH); k++) {
      const set = encodeSet(
        update(
          emptySet<Uint8Array>(),
          [],
          encodeValue({ contentType: "application/octet-stream", data: valueOf(k, "v") }),
          "seed.0001",
          1_700_000_000_000,
        ),
      );
      dataBytes += set.byteLength + keyOf(k).length;
      ops.push({ type: "put" as const, partition: partitionOf(k), key: keyOf(k), value: set });
    }
    await a.store.engine.batch(ops);
    await b.store.engine.batch(ops);
  }
  await a.store.rebuildTrees();
  await b.store.rebuildTrees();
  return dataBytes;
}

/** A client write on `r` of key `i` (a new version made by `r`). */
async function write(r: Replica, i: number): Promise<void> {
  await r.store.readModifyWrite(partitionOf(i), keyOf(i), (before) => ({
    set: update(
      before.set,
      contextOf(before.set),
      encodeValue({ contentType: "application/octet-stream", data: valueOf(i, r.id) }),
      r.store.versionId,
      clock.now(),
    ),
    expiresAt: null,
  }));
}

async function pass(
  a: Replica,
  b: Replica,
  label: string,
  differing: number,
  dataBytes: number,
): Promise<Record<string, string | number>> {
  // Spread the differences over the key space: half written on each side.
  const step = Math.floor(KEYS / Math.max(1, differing));
  for (let d = 0; d < differing; d++) await write(d % 2 === 0 ? a : b, d * step + 7);
  let bytes = 0;
  let rounds = 0;
  let hashes = 0;
  let pulled = 0;
  let pushed = 0;
  let segments = 0;
  const t = performance.now();
  for (let p = 0; p < PARTITIONS; p++) {
    const r = await drive(a.ae.exchange(p, b.id));
    bytes += r.bytesSent + r.bytesReceived;
    rounds += r.rounds;
    hashes += r.hashesExchanged;
    pulled += r.keysPulled;
    pushed += r.keysPushed;
    segments += r.segmentsDiffering;
  }
  const ms = performance.now() - t;
  for (let p = 0; p < PARTITIONS; p++) {
    if (!a.store.tree(p).equals(b.store.tree(p))) throw new Error(`Partition ${p} still differs after the pass`);
  }
  return {
    pass: label,
    "keys differing": differing,
    "segments differing": segments,
    "keys pulled / pushed": `${fmt(pulled)} / ${fmt(pushed)}`,
    "hashes": hashes,
    "rounds (requests)": rounds,
    "bytes exchanged": bytes,
    "bytes / data": `${(100 * bytes / dataBytes).toFixed(4)} %`,
    "bytes per key repaired": pulled + pushed === 0 ? "-" : Math.round(bytes / (pulled + pushed)),
    "time ms": Math.round(ms),
  };
}

const a = await replica("a", "b");
const b = await replica("b", "a");
let t = performance.now();
const dataBytes = await fill(a, b);
const fillMs = performance.now() - t;
console.log(
  `\n${fmt(KEYS)} keys per replica, ${
    fmt(dataBytes)
  } bytes of keys and version sets, ${PARTITIONS} partitions, ${a.store.treeSegments} tree segments each; filled in ${
    fmt(Math.round(fillMs))
  } ms`,
);
t = performance.now();
const rows = [
  await pass(a, b, "identical", 0, dataBytes),
  await pass(a, b, "100 differ", 100, dataBytes),
  await pass(a, b, "1,000 differ", 1000, dataBytes),
];
printTable(
  `Anti-entropy repair, ${fmt(KEYS)} keys of ${VALUE_BYTES} bytes, one pass over ${PARTITIONS} partitions`,
  runtime,
  rows,
);
await drive(a.ae.stop());
await drive(b.ae.stop());
a.mesh.close();
b.mesh.close();
await a.store.close();
await b.store.close();
