/**
 * Active anti-entropy between replica stores on memory file systems, joined by real meshes on the simulated
 * network with a manual clock: only differences move, in both directions, within the bounds, and the
 * background loop converges replicas on its own.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AntiEntropy, type AntiEntropyOptions } from "../../src/cluster/anti_entropy.ts";
import { items as wireItems, obj } from "../../src/cluster/_wire.ts";
import { encodeValue, TOMBSTONE, visibleValues } from "../../src/cluster/records.ts";
import { openReplicaStore, type ReplicaStore } from "../../src/cluster/replica.ts";
import { decodeSet } from "../../src/core/context.ts";
import { contextOf, update, values } from "../../src/core/version.ts";
import { pureAuthenticator } from "../../src/mesh/auth.ts";
import { Mesh } from "../../src/mesh/mesh.ts";
import { SimNetwork } from "../../src/testing/sim_net.ts";
import { ManualClock, MemoryFileSystem, SeededRandom } from "../../src/runtime/memory.ts";
import { rejectsWith } from "../_helpers.ts";

const PARTITIONS = 4;
const enc = new TextEncoder();

interface Node {
  id: string;
  store: ReplicaStore;
  mesh: Mesh;
  ae: AntiEntropy;
}

interface Cluster {
  clock: ManualClock;
  nodes: Node[];
  /** Settles `promise`, moving simulated time forward 1 ms at a time so messages are delivered. */
  drive<T>(promise: Promise<T>): Promise<T>;
  close(): Promise<void>;
}

async function cluster(size: number, over: Partial<AntiEntropyOptions> = {}, seed = 1): Promise<Cluster> {
  const clock = new ManualClock();
  const random = new SeededRandom(seed);
  const net = new SimNetwork({ clock, random: random.fork() });
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const nodes: Node[] = [];
  for (const id of ids) {
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
      cluster: "test",
      datacenter: "dc1",
      runtime: { clock, dial: (url, o) => net.dial(id, url, o) },
      random: random.fork(),
      auth: pureAuthenticator("s3cret"),
    });
    await net.serve(id, { hostname: id, port: 7000, fetch: () => new Response("ok"), websocket: mesh.websocket() });
    mesh.setSelfAddress(`${id}:7000`);
    // What the node's backend does with kvMergeBatch: merge every item.
    mesh.onRequest("kvMergeBatch", async (body) => {
      for (const it of wireItems(obj(body, "body"), "items", PARTITIONS, 10_000)) {
        await store.merge(it.p, it.key, decodeSet(it.set), it.exp);
      }
      return { ok: true };
    });
    const ae = new AntiEntropy({
      store,
      mesh,
      clock,
      random: random.fork(),
      nodeId: id,
      partitions: PARTITIONS,
      mine: () => Array.from({ length: PARTITIONS }, (_, p) => p),
      peersFor: () => ids.filter((x) => x !== id),
      replicasFor: () => ids.filter((x) => x !== id),
      ...over,
    });
    nodes.push({ id, store, mesh, ae });
  }
  for (const n of nodes) for (const m of nodes) if (n !== m) n.mesh.setAddress(m.id, `${m.id}:7000`);
  for (const n of nodes) n.ae.start();
  async function drive<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    const watched = promise.finally(() => (settled = true));
    watched.catch(() => {});
    for (let i = 0; i < 600_000 && !settled; i++) await clock.advance(1);
    return await watched;
  }
  return {
    clock,
    nodes,
    drive,
    async close() {
      for (const n of nodes) {
        await drive(n.ae.stop());
        n.mesh.close();
        await n.store.close();
      }
    },
  };
}

/** A client write of `text` on `node` (a new version by that node, superseding what it holds). */
async function put(c: Cluster, node: Node, key: string, text: string): Promise<void> {
  await node.store.readModifyWrite(partitionOf(key), key, (before) => ({
    set: update(
      before.set,
      contextOf(before.set),
      encodeValue({ contentType: "text/plain", data: enc.encode(text) }),
      node.store.versionId,
      c.clock.now(),
    ),
    expiresAt: null,
  }));
}

async function del(c: Cluster, node: Node, key: string): Promise<void> {
  await node.store.readModifyWrite(partitionOf(key), key, (before) => ({
    set: update(before.set, contextOf(before.set), TOMBSTONE, node.store.versionId, c.clock.now()),
    expiresAt: null,
  }));
}

/** Copies `key` from one store to another as replication would. */
async function copy(from: Node, to: Node, key: string): Promise<void> {
  const p = partitionOf(key);
  const s = await from.store.read(p, key);
  await to.store.merge(p, key, s.set, s.expiresAt);
}

async function live(node: Node, key: string): Promise<string[]> {
  const s = await node.store.read(partitionOf(key), key);
  return visibleValues(values(s.set), false).map((v) => new TextDecoder().decode(v.data)).sort();
}

function partitionOf(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0;
  return h % PARTITIONS;
}

function treesEqual(a: Node, b: Node): boolean {
  for (let p = 0; p < PARTITIONS; p++) if (!a.store.tree(p).equals(b.store.tree(p))) return false;
  return true;
}

/** Writes `count` keys on `a` and replicates them to the others. */
async function load(c: Cluster, count: number): Promise<void> {
  const [a, ...rest] = c.nodes;
  for (let i = 0; i < count; i++) {
    const key = `key:${i}`;
    await put(c, a!, key, `value ${i}`);
    for (const r of rest) await copy(a!, r, key);
  }
}

test("identical replicas exchange only the root hash and transfer no keys", async () => {
  const c = await cluster(2);
  await load(c, 500);
  const [a, b] = c.nodes as [Node, Node];
  for (let p = 0; p < PARTITIONS; p++) {
    const r = await c.drive(a.ae.exchange(p, b.id));
    assert.equal({ ...r, bytesSent: 0, bytesReceived: 0 }, {
      segmentsDiffering: 0,
      keysPulled: 0,
      keysPushed: 0,
      hashesExchanged: 1,
      bytesSent: 0,
      bytesReceived: 0,
      complete: true,
      rounds: 1,
    });
    assert.ok(r.bytesSent + r.bytesReceived < 100, `${r.bytesSent + r.bytesReceived} bytes for one hash`);
  }
  await c.close();
});

test("100 differing keys out of 10,000 are repaired both ways and concurrent versions become siblings on both", async () => {
  const c = await cluster(2);
  await load(c, 10_000);
  const [a, b] = c.nodes as [Node, Node];
  for (let i = 0; i < 40; i++) await put(c, a, `only-a:${i}`, `a ${i}`);
  for (let i = 0; i < 40; i++) await put(c, b, `only-b:${i}`, `b ${i}`);
  for (let i = 0; i < 20; i++) {
    await put(c, a, `key:${i}`, `a wrote ${i}`);
    await put(c, b, `key:${i}`, `b wrote ${i}`);
  }
  assert.not.ok(treesEqual(a, b));
  let pulled = 0;
  let pushed = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const r = await c.drive(a.ae.exchange(p, b.id));
    assert.ok(r.complete);
    pulled += r.keysPulled;
    pushed += r.keysPushed;
  }
  assert.is(pulled, 60, "pulled: only-b keys and the concurrent ones");
  assert.is(pushed, 60, "pushed: only-a keys and the merged concurrent ones");
  assert.ok(treesEqual(a, b));
  assert.equal(await live(b, "only-a:7"), ["a 7"]);
  assert.equal(await live(a, "only-b:7"), ["b 7"]);
  assert.equal(await live(a, "key:3"), ["a wrote 3", "b wrote 3"]);
  assert.equal(await live(b, "key:3"), ["a wrote 3", "b wrote 3"]);
  assert.equal(await live(b, "key:500"), ["value 500"]);
  for (let p = 0; p < PARTITIONS; p++) assert.is((await c.drive(a.ae.exchange(p, b.id))).segmentsDiffering, 0);
  await c.close();
});

test("a delete propagates as a tombstone set and is not resurrected by later exchanges", async () => {
  const c = await cluster(2);
  await load(c, 50);
  const [a, b] = c.nodes as [Node, Node];
  await del(c, a, "key:9");
  const p = partitionOf("key:9");
  const r = await c.drive(b.ae.exchange(p, a.id));
  assert.is(r.keysPulled, 1);
  assert.is(r.keysPushed, 0, "b's version is older: nothing to push back");
  assert.equal(await live(b, "key:9"), []);
  assert.ok((await b.store.read(p, "key:9")).set.entries.length > 0, "the delete's history is kept");
  for (let i = 0; i < 3; i++) {
    await c.drive(a.ae.exchange(p, b.id));
    await c.drive(b.ae.exchange(p, a.id));
  }
  assert.equal(await live(a, "key:9"), []);
  assert.equal(await live(b, "key:9"), []);
  assert.ok(treesEqual(a, b));
  await c.close();
});

test("malformed bodies get PROTOCOL_ERROR", async () => {
  const c = await cluster(2);
  const [a, b] = c.nodes as [Node, Node];
  const bad: Array<["aeLevel" | "aeKeys" | "aeFetch", unknown]> = [
    ["aeLevel", "not an object"],
    ["aeLevel", { p: PARTITIONS, level: 0, indices: [0] }],
    ["aeLevel", { p: 0, level: 9, indices: [0] }],
    ["aeLevel", { p: 0, level: 1, indices: [32] }],
    ["aeLevel", { p: 0, level: 0, indices: "0" }],
    ["aeLevel", { p: 0, level: 2, indices: Array.from({ length: 5000 }, () => 0) }],
    ["aeLevel", { p: 0, level: 0, indices: [0], segments: 4096 }],
    ["aeKeys", { p: 0, segments: [1024] }],
    ["aeKeys", { p: 0, segments: [-1] }],
    ["aeKeys", { p: -1, segments: [0] }],
    ["aeFetch", { p: 0, keys: [1] }],
    ["aeFetch", { p: 0, keys: [] }],
    ["aeFetch", { p: 0, keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) }],
  ];
  for (const [kind, body] of bad) {
    await rejectsWith(
      () => c.drive(b.mesh.request(a.id, kind, body)),
      "PROTOCOL_ERROR",
      `${kind} ${JSON.stringify(body).slice(0, 60)}`,
    );
  }
  assert.ok(
    await c.drive(b.mesh.request(a.id, "aeLevel", { p: 0, level: 0, indices: [0] })),
    "a good body is still answered",
  );
  await c.close();
});

test("keysPerExchangeMax leaves the rest for the next exchange, and only a complete one counts as synced", async () => {
  const c = await cluster(2, { keysPerExchangeMax: 30 });
  const [a, b] = c.nodes as [Node, Node];
  const keys = Array.from({ length: 2000 }, (_, i) => `k:${i}`).filter((k) => partitionOf(k) === 0).slice(0, 100);
  for (const k of keys) await put(c, a, k, k);
  const counts: number[] = [];
  for (let i = 0; i < 10 && !a.store.tree(0).equals(b.store.tree(0)); i++) {
    const r = await c.drive(a.ae.exchange(0, b.id));
    counts.push(r.keysPushed);
    if (r.keysPushed === 30) {
      assert.is(a.ae.syncedWithAllSince(0), null, "an exchange that left keys behind proves nothing");
    }
  }
  assert.equal(counts, [30, 30, 30, 10]);
  assert.ok(a.ae.syncedWithAllSince(0) !== null, "the last exchange was complete");
  assert.is(a.ae.syncedWithAllSince(1), null, "partition 1 never exchanged");
  assert.is(a.ae.stats().keysRepaired, 100);
  await c.close();
});

test("syncedWithAllSince waits for every other replica", async () => {
  const c = await cluster(3);
  const [a, b, d] = c.nodes as [Node, Node, Node];
  await c.clock.advance(1000);
  await c.drive(a.ae.exchange(2, b.id));
  assert.is(a.ae.syncedWithAllSince(2), null);
  const started = c.clock.now();
  await c.drive(a.ae.exchange(2, d.id));
  assert.ok(a.ae.syncedWithAllSince(2)! >= 1000 && a.ae.syncedWithAllSince(2)! <= started);
  assert.equal(Object.keys(a.ae.stats().partitions[2]!.peers).sort(), [b.id, d.id]);
  await c.close();
});

test("the background loop converges three replicas with no manual call", async () => {
  const c = await cluster(3, { intervalMs: 100 });
  await load(c, 300);
  const [a, b, d] = c.nodes as [Node, Node, Node];
  for (let i = 0; i < 30; i++) await put(c, c.nodes[i % 3]!, `fresh:${i}`, `v${i}`);
  await del(c, b, "key:1");
  let converged = false;
  for (let t = 0; t < 60_000 && !converged; t += 100) {
    await c.clock.advance(100);
    converged = treesEqual(a, b) && treesEqual(b, d);
  }
  assert.ok(converged, "replicas converged");
  assert.equal(await live(d, "fresh:0"), ["v0"]);
  assert.equal(await live(a, "key:1"), []);
  assert.ok(a.ae.stats().exchanges > 0 && a.ae.stats().keysRepaired > 0);
  await c.close();
});

test("a partition of long keys that lists to more than a mesh frame is still repaired, in bounded replies", async () => {
  const c = await cluster(2, { keysPerExchangeMax: 10_000 });
  const [a, b] = c.nodes as [Node, Node];
  // 5,000 keys of 900 bytes in one partition: listing them all would take about 4.5 MiB, over the 4 MiB frame.
  const pad = "k".repeat(890);
  const keys: string[] = [];
  for (let i = 0; keys.length < 5000; i++) {
    const key = `${pad}${String(i).padStart(8, "0")}`;
    if (partitionOf(key) === 0) keys.push(key);
  }
  for (const key of keys) await put(c, a, key, "v");
  const r = await c.drive(b.ae.exchange(0, a.id));
  assert.is(r.keysPulled, keys.length, JSON.stringify({ ...r, bytesReceived: r.bytesReceived }));
  assert.ok(r.rounds > 5, `the listing came in several replies: ${r.rounds} rounds`);
  await c.close();
});

test("keys whose versions come from several long node ids (Kubernetes-style names) are still repaired", async () => {
  const c = await cluster(2);
  const [a, b] = c.nodes as [Node, Node];
  const key = "long-actors";
  const p = partitionOf(key);
  // Three coordinators with 40-character ids wrote this key one after another (each saw the previous write).
  let set = (await a.store.read(p, key)).set;
  for (let i = 0; i < 3; i++) {
    set = update(
      set,
      contextOf(set),
      encodeValue({ contentType: "text/plain", data: enc.encode(`v${i}`) }),
      `meshkv-europe-west4-statefulset-node-${i}.ab12`,
      c.clock.now(),
    );
  }
  await a.store.merge(p, key, set, null);
  const r = await c.drive(b.ae.exchange(p, a.id));
  assert.is(r.keysPulled, 1, JSON.stringify(r));
  assert.equal(await live(b, key), ["v2"]);
  await c.close();
});

test.run();
