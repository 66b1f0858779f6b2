/**
 * Deletes stay deleted: a tombstone is purged only once every replica of its partition, down ones included,
 * completed an anti-entropy exchange after the delete and the grace passed; a ring change starts that proof over.
 * Scenarios in the deterministic simulation (replay a failure with MESHKV_SIM_SEED=<seed>).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { del, drive, get, kvCluster, put, replicasOf, texts } from "./_kv_sim.ts";
import { forEachSeed, seedsFor } from "./_sim.ts";
import type { SimCluster } from "../../src/testing/sim_cluster.ts";

async function compact(c: SimCluster, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await drive(c, c.kv(id).store.engine.flush());
    await drive(c, c.kv(id).store.engine.compact());
  }
}

async function tombstoneAt(c: SimCluster, id: string, key: string): Promise<boolean> {
  const b = c.kv(id);
  const e = await drive(c, b.store.engine.get(b.view.partitionOf(key), key, { includeTombstones: true }));
  return e?.tombstone === true;
}

test("a replica that missed a delete and stays away past the grace does not bring the key back when it returns", async () => {
  await forEachSeed(seedsFor(2, 1701), async (seed) => {
    const c = await kvCluster(seed, { size: 3, timings: { tombstoneGraceMs: 2_000 } });
    await put(c, "n01", "k", "old", { level: "all" });
    await c.crash("n03");
    await del(c, "n01", "k", { level: "quorum" });
    await c.run(10_000);
    await compact(c, ["n01", "n02"]);
    for (const id of ["n01", "n02"]) {
      assert.ok(await tombstoneAt(c, id, "k"), `${id} keeps the tombstone while n03, a replica, is away`);
    }
    const status = await c.kv("n01").status() as { tombstones: { waiting: number; byReplica: Record<string, number> } };
    assert.is(status.tombstones.byReplica["n03"], 1, "status says one tombstone waits for n03");
    const metrics = c.kv("n01").metrics().filter((m) => m.name === "meshkv_tombstones_waiting");
    assert.ok(metrics.some((m) => m.value === 1), "the metric shows it too");

    await c.restart("n03");
    assert.ok(await c.runUntil(() => c.allSee("alive"), 15_000) !== null, "n03 is back");
    await c.run(10_000); // anti-entropy carries the tombstone to n03
    assert.equal((await get(c, "n02", "k", "all")).values, [], "the deleted key stays deleted");
    assert.ok(await tombstoneAt(c, "n03", "k"), "n03 holds the tombstone now");
    await compact(c, ["n01", "n02", "n03"]);
    for (const id of ["n01", "n02", "n03"]) {
      assert.not.ok(await tombstoneAt(c, id, "k"), `${id} purged it once every replica held it`);
    }
    assert.equal((await get(c, "n01", "k", "all")).values, []);
    await c.stopAll();
  });
});

test("a partition whose replicas change keeps its tombstones until the new replica completed an exchange", async () => {
  await forEachSeed(seedsFor(1, 1702), async (seed) => {
    const c = await kvCluster(seed, { size: 3, timings: { tombstoneGraceMs: 1_000 } });
    await put(c, "n01", "gone", "v", { level: "all" });
    await del(c, "n01", "gone", { level: "all" });
    await c.run(3_000);
    const ae = c.kv("n01");
    const p = ae.view.partitionOf("gone");
    assert.ok(ae.purgeable(p, c.clock.now() - 2_500), "with a stable ring the proof is there");
    await c.start("n04");
    await c.runUntil(() => c.allSee("alive") && c.converged(), 15_000);
    const replicas = ae.view.update(c.nodes.get("n01")!.gossip.table).placement.forPartition(p).replicas.map((r) =>
      r.node
    );
    if (replicas.includes("n04")) {
      assert.not.ok(ae.purgeable(p, c.clock.now() - 2_500), "a new replica set has no proof yet");
    }
    await c.run(10_000);
    assert.ok(
      ae.purgeable(p, c.clock.now() - 12_000) || !replicas.includes("n01"),
      "exchanges with the new set give the proof again",
    );
    assert.equal(texts(await get(c, "n02", "gone", "all")), []);
    await c.stopAll();
  });
});

test("a down node that lost a partition to a joiner cannot hand a deleted key back when it returns", async () => {
  await forEachSeed(seedsFor(2, 1703), async (seed) => {
    const c = await kvCluster(seed, { size: 4, timings: { tombstoneGraceMs: 1_000 } });
    const keys = Array.from({ length: 120 }, (_, i) => `key${i}`);
    for (const k of keys) await put(c, "n01", k, `old ${k}`, { level: "all" });
    const before = new Map(keys.map((k) => [k, replicasOf(c, "n01", k)]));
    await c.crash("n03");
    assert.ok(
      await c.runUntil(() => ["n01", "n02", "n04"].every((id) => c.statusOf(id, "n03") === "down"), 20_000) !== null,
      "n03 is down",
    );
    await c.start("n05");
    assert.ok(
      await c.runUntil(() => c.converged() && [...c.backends.values()].every((b) => b.settled()), 30_000) !== null,
      "the join settles",
    );
    const moved = keys.filter((k) => before.get(k)!.includes("n03") && !replicasOf(c, "n01", k).includes("n03"));
    assert.ok(moved.length > 0, "the join took some of n03's partitions");
    for (const k of moved) await del(c, "n01", k, { level: "quorum" });
    await c.run(8_000); // past the grace; the new replica sets complete their exchanges
    await compact(c, [...c.backends.keys()]);
    const waiting =
      (await c.kv("n01").status() as { antiEntropy: { partitions: Record<string, { formerHolders?: string[] }> } })
        .antiEntropy.partitions;
    assert.ok(
      Object.values(waiting).some((x) => x.formerHolders?.includes("n03")),
      "status names n03 as a former holder that is waited for",
    );

    await c.restart("n03");
    assert.ok(
      await c.runUntil(() => c.allSee("alive") && [...c.backends.values()].every((b) => b.settled()), 30_000) !== null,
      "n03 is back and handed off what it lost",
    );
    await c.run(5_000);
    for (const k of moved) assert.equal(texts(await get(c, "n02", k, "all")), [], `${k} stays deleted`);
    await c.stopAll();
  });
});

test.run();
