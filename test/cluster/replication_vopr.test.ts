/**
 * Randomized simulation of the replicated cluster (TigerBeetle's VOPR style): client operations from every
 * node under message loss, partitions, and crashes with restarts, checked against what was acknowledged:
 * - with strict quorum and W + R > N, a read that starts after a write was acknowledged returns that write or
 *   a descendant (its context descends the write's);
 * - after faults stop and anti-entropy runs, every replica of every key holds the same versions, and every
 *   acknowledged write is present, superseded by a write that saw it, or kept as a sibling;
 * - concurrent writes in a siblings keyspace are never silently dropped (the same check: their dots survive);
 * - deleted keys do not come back after repair, also when a replica that missed the deletes is away for longer
 *   than the tombstone grace while the others flush and compact (tombstones wait for it).
 * Plus rebalancing: during a join and a leave, every key stays readable at quorum. Both kinds of scenario run with
 * keyspaces of two and four replicas beside the cluster's three (replica classes), so every check covers them too.
 * A failure names its seed: replay with MESHKV_SIM_SEED=<seed>; MESHKV_SIM_SEEDS=<n> runs more.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { descends, sameVersion, values, type VersionVector } from "../../src/core/version.ts";
import { liveCount } from "../../src/cluster/records.ts";
import { SimCluster } from "../../src/testing/sim_cluster.ts";
import { SeededRandom } from "../../src/runtime/memory.ts";
import { del, drive, get, kvCluster, put, replicasOf, storedAt, texts } from "./_kv_sim.ts";
import { forEachSeed, seedsFor } from "./_sim.ts";

const KEYS = Array.from({ length: 12 }, (_, i) => `key:${i}`);
/** Keys starting with `${base}1` have two replicas and `${base}2` four, the rest the cluster's three (replica classes). */
const CLASSES = (
  base: string,
) => [{ prefix: `${base}1`, replicas: { n: 2 } }, { prefix: `${base}2`, replicas: { n: 4 } }];

interface Acked {
  key: string;
  context: VersionVector;
  deleted: boolean;
}

async function workload(seed: number, sloppy: boolean) {
  const r = new SeededRandom(seed);
  const c = await kvCluster(seed, {
    size: 5,
    replication: { sloppy, keyspaces: CLASSES("key:") },
    link: { loss: 0.02 },
  });
  const acked: Acked[] = [];
  let violations: string[] = [];
  let down: string | null = null;
  for (let step = 0; step < 60; step++) {
    const roll = r.int(100);
    const live = [...c.nodes.keys()];
    const via = live[r.int(live.length)]!;
    const key = KEYS[r.int(KEYS.length)]!;
    if (roll < 6 && down === null && live.length > 3) {
      down = live[1 + r.int(live.length - 1)]!;
      await c.crash(down);
      continue;
    }
    if (roll < 12 && down !== null) {
      await c.restart(down);
      down = null;
      continue;
    }
    try {
      if (roll < 55) {
        const before = acked.filter((a) => a.key === key);
        const res = await get(c, via, key, "quorum");
        for (const a of before) {
          if (!descends(res.context, a.context)) {
            violations.push(`step ${step}: read of ${key} via ${via} missed an acknowledged write`);
          }
        }
        const w = await put(c, via, key, `${via}@${step}`, { context: res.context, level: "quorum" });
        acked.push({ key, context: w.context, deleted: false });
      } else if (roll < 90) {
        const w = await put(c, via, key, `${via}@${step}`, { level: "quorum" });
        acked.push({ key, context: w.context, deleted: false });
      } else {
        const w = await del(c, via, key, { level: "quorum" });
        acked.push({ key, context: w.context, deleted: true });
      }
    } catch (err) {
      const code = (err as { code?: string }).code;
      assert.ok(
        code === "QUORUM_UNMET" || code === "TIMEOUT" || code === "NODE_STARTING",
        `only availability errors are allowed: ${String(err)}`,
      );
    }
  }
  return { c, acked, violations, down };
}

async function converge(c: SimCluster, down: string | null): Promise<void> {
  if (down !== null) await c.restart(down);
  c.net.heal();
  c.net.setDefaults({ loss: 0 });
  await c.runUntil(() => [...c.backends.values()].every((b) => b.settled() && b.hints.stats().pending === 0), 30_000);
  await c.run(15_000);
}

for (const sloppy of [false, true]) {
  test(`${sloppy ? "sloppy" : "strict"} quorum under loss, crashes and restarts: reads see acknowledged writes, replicas converge, nothing acknowledged is lost`, async () => {
    await forEachSeed(seedsFor(3, sloppy ? 401 : 402), async (seed) => {
      const { c, acked, violations, down } = await workload(seed, sloppy);
      if (!sloppy) assert.equal(violations, [], "read-your-writes at quorum");
      await converge(c, down);
      for (const key of KEYS) {
        const ids = replicasOf(c, "n01", key);
        const sets = await Promise.all(ids.map((id) => storedAt(c, id, key)));
        for (let i = 1; i < sets.length; i++) {
          assert.ok(sameVersion(sets[0]!.set, sets[i]!.set), `${key}: ${ids[0]} and ${ids[i]} hold the same versions`);
        }
        const final = await get(c, "n02", key, "all");
        for (const a of acked.filter((x) => x.key === key)) {
          assert.ok(
            descends(final.context, a.context),
            `${key}: an acknowledged write is present or superseded: ${JSON.stringify(a.context)} not in ${
              JSON.stringify(final.context)
            }`,
          );
        }
        const last = acked.filter((x) => x.key === key).at(-1);
        if (last?.deleted && descends(last.context, final.context)) {
          assert.equal(final.values, [], `${key}: a delete that saw everything stays deleted`);
        }
      }
      await c.stopAll();
    });
  });
}

test("a replica away for longer than the tombstone grace while keys are deleted and the others compact brings none of them back", async () => {
  await forEachSeed(seedsFor(3, 406), async (seed) => {
    const r = new SeededRandom(seed);
    const c = await kvCluster(seed, {
      size: 4,
      replication: { sloppy: false, keyspaces: CLASSES("key:") },
      timings: { tombstoneGraceMs: 1_000 },
    });
    const compactAll = async () => {
      for (const b of c.backends.values()) {
        await drive(c, b.store.engine.flush());
        await drive(c, b.store.engine.compact());
      }
    };
    for (const key of KEYS) await put(c, "n01", key, `first ${key}`, { level: "all" });
    const away = SimCluster.nodeId(2 + r.int(3));
    await c.crash(away);
    c.net.setDefaults({ loss: 0.02 });
    const acked: Acked[] = [];
    for (let step = 0; step < 40; step++) {
      const live = [...c.nodes.keys()];
      const via = live[r.int(live.length)]!;
      const key = KEYS[r.int(KEYS.length)]!;
      try {
        const seen = await get(c, via, key, "quorum");
        const deleting = r.int(100) < 70;
        const w = deleting
          ? await del(c, via, key, { context: seen.context, level: "quorum" })
          : await put(c, via, key, `${via}@${step}`, { context: seen.context, level: "quorum" });
        acked.push({ key, context: w.context, deleted: deleting && w.siblings === 0 });
      } catch (err) {
        const code = (err as { code?: string }).code;
        assert.ok(
          code === "QUORUM_UNMET" || code === "TIMEOUT",
          `only availability errors are allowed: ${String(err)}`,
        );
      }
      await c.run(200);
      if (step % 10 === 9) await compactAll();
    }
    await c.run(3_000); // past the grace: anti-entropy between the nodes that are up keeps running
    await compactAll();
    await c.restart(away);
    c.net.heal();
    c.net.setDefaults({ loss: 0 });
    await c.runUntil(() => c.allSee("alive") && [...c.backends.values()].every((b) => b.settled()), 30_000);
    await c.run(15_000);
    await compactAll();
    for (const key of KEYS) {
      const last = acked.filter((x) => x.key === key).at(-1);
      if (!last?.deleted) continue;
      const final = await get(c, "n01", key, "all");
      if (descends(last.context, final.context)) {
        assert.equal(texts(final), [], `${key}: deleted while ${away} was away, and it stays deleted`);
      }
    }
    await c.stopAll();
  });
});

test("concurrent writers on one key from every node leave every unseen write as a sibling", async () => {
  await forEachSeed(seedsFor(3, 403), async (seed) => {
    const c = await kvCluster(seed, { size: 5 });
    const writes = await Promise.all([...c.nodes.keys()].map((id) => put(c, id, "hot", `from-${id}`)));
    const r = await get(c, "n01", "hot", "all");
    assert.equal(texts(r), [...c.nodes.keys()].map((id) => `from-${id}`).sort());
    for (const w of writes) assert.ok(descends(r.context, w.context));
    await c.stopAll();
  });
});

test("while a node joins and another leaves, every key stays readable at quorum, and the leaver ends up empty", async () => {
  await forEachSeed(seedsFor(2, 404), async (seed) => {
    const c = await kvCluster(seed, { size: 4, replication: { keyspaces: CLASSES("k") } });
    const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
    for (const k of keys) await put(c, "n01", k, k, { level: "all" });
    const readAll = async (via: string) => {
      for (const k of keys) assert.equal(texts(await get(c, via, k, "quorum")), [k], `${k} readable via ${via}`);
    };
    await c.start(SimCluster.nodeId(5));
    for (let i = 0; i < 6; i++) {
      await c.run(300);
      await readAll(i % 2 === 0 ? "n02" : "n05");
    }
    assert.ok(
      await c.runUntil(() => [...c.backends.values()].every((b) => b.settled()), 30_000) !== null,
      "the join settles",
    );
    assert.ok(c.kv("n05").store.partitionsHeld().length > 0, "the new node holds partitions");
    const leaving = c.kv("n03").leave();
    let done = false;
    void leaving.then(() => (done = true));
    while (!done) {
      await c.run(300);
      await readAll("n04");
    }
    const result = await leaving;
    assert.is(result.drained, true);
    assert.is(c.kv("n03").store.partitionsHeld().length, 0, "the leaver handed everything off");
    await c.run(2000);
    for (const k of keys) {
      const holders = await Promise.all(replicasOf(c, "n01", k).map((id) => storedAt(c, id, k)));
      for (const s of holders) assert.is(liveCount(values(s.set)), 1, `${k} is on each of its new replicas`);
    }
    await c.stopAll();
  });
});

test("a node started on its own joins through POST /v1/admin/join's backend call, and its own writes reach the cluster", async () => {
  const c = await kvCluster(405, { size: 3 });
  await c.start("n04", { seeds: [] });
  assert.ok(await c.runUntil(() => c.kv("n04").ready(), 5_000) !== null, "alone, it serves as a cluster of one");
  await put(c, "n04", "solo", "written-alone");
  const joined = await drive(c, c.kv("n04").join(["n01:7000"]));
  assert.is(joined.joined, true);
  assert.ok(
    await c.runUntil(() => c.allSee("alive") && [...c.backends.values()].every((b) => b.settled()), 30_000) !== null,
    "the four nodes settle",
  );
  assert.equal(texts(await get(c, "n02", "solo", "all")), ["written-alone"]);
  const notYet = await drive(c, c.kv("n01").join(["nowhere:1"]));
  assert.is(notYet.joined, true, "a node already in a cluster reports the members it has");
  await c.stopAll();
});

test.run();
