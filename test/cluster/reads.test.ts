/**
 * The read path in the deterministic simulation: a read asks only as many replicas as its level needs,
 * closest first, and asks one more when an answer fails or is late (speculative retry).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SimCluster } from "../../src/testing/sim_cluster.ts";
import { GOSSIP_FAST } from "../../src/cluster/presets.ts";
import { drive, get, kvCluster, put, replicasOf, texts } from "./_kv_sim.ts";
import { forEachSeed, seedsFor } from "./_sim.ts";

/** Counts the reads each node's replica store serves (for a coordinator's own copy or a peer's kvGet). */
function countReads(c: SimCluster): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [id, b] of c.backends) {
    counts.set(id, 0);
    const read = b.store.read.bind(b.store);
    b.store.read = (p, key) => (counts.set(id, counts.get(id)! + 1), read(p, key));
  }
  return counts;
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

test("a read through a replica asks itself first and only as many others as the level needs: one asks none, quorum one, all two", async () => {
  await forEachSeed(seedsFor(2, 401), async (seed) => {
    const c = await kvCluster(seed, { size: 3 });
    await put(c, "n01", "k", "v", { level: "all" });
    await c.run(100);
    const counts = countReads(c);
    for (const [level, others] of [["one", 0], ["quorum", 1], ["all", 2]] as const) {
      for (const id of counts.keys()) counts.set(id, 0);
      assert.equal(texts(await get(c, "n01", "k", level)), ["v"]);
      await c.run(50);
      assert.is(counts.get("n01"), 1, `${level}: the coordinator reads its own copy`);
      assert.is(total(counts) - 1, others, `${level}: other replicas asked`);
    }
    await c.stopAll();
  });
});

test("a quorum read whose closest other replica does not answer asks the next one after the speculative delay, long before the replica deadline", async () => {
  await forEachSeed(seedsFor(2, 402), async (seed) => {
    const c = await kvCluster(seed, { size: 3, timings: { replicaTimeoutMs: 2000, requestTimeoutMs: 4000 } });
    await put(c, "n01", "slow", "v", { level: "all" });
    const first = replicasOf(c, "n01", "slow").find((n) => n !== "n01")!;
    c.net.partition([first], ["n01"]);
    const counts = countReads(c);
    const started = c.clock.monotonic();
    assert.equal(texts(await drive(c, c.kv("n01").get("slow", { consistency: "quorum" }))), ["v"]);
    const took = c.clock.monotonic() - started;
    assert.ok(took < 500, `answered after ${took} simulated ms (replica deadline 2000)`);
    assert.is(counts.get(first), 0, "the cut-off replica never answered");
    assert.is(total(counts), 2, "the coordinator and the next replica answered");
    c.net.heal();
    await c.stopAll();
  });
});

test("a cluster that has just formed acquires its (empty) partitions in one step of the mover, so its replicas count toward reads at once", async () => {
  await forEachSeed(seedsFor(2, 403), async (seed) => {
    // 64 partitions, pulled 16 at a time: paced at one batch per step (100 ms here), that took four steps.
    const c = await SimCluster.create({ seed, size: 3, gossip: GOSSIP_FAST, kv: { replication: { n: 2 } } });
    assert.ok(await c.runUntil(() => c.allSee("alive") && c.converged(), 15_000, 10) !== null, "formed");
    const acquiring = () => [...c.backends.values()].some((b) => !b.settled());
    const settled = await c.runUntil(() => !acquiring(), 15_000, 10);
    assert.ok(settled !== null && settled < 150, `every node acquired its partitions ${settled} ms after forming`);
    await put(c, "n01", "k", "v", { level: "all" });
    for (const id of c.backends.keys()) assert.equal(texts(await get(c, id, "k", "quorum")), ["v"], `${id} reads`);
    await c.stopAll();
  });
});

test.run();
