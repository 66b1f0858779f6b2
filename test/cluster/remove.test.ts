/**
 * Removing a node that is gone for good, in the deterministic simulation: the checks that refuse a wrong
 * removal and change nothing, the dry run's plan, the rebuild of the removed node's copies from the survivors
 * (whole partitions), hints for it dropped, tombstones it blocked purged afterwards, and a restart of the
 * removed node under its old id refused by the cluster.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { liveCount } from "../../src/cluster/records.ts";
import { values } from "../../src/core/version.ts";
import { isMeshkvError } from "../../src/errors.ts";
import { del, drive, get, kvCluster, put, replicasOf, storedAt, texts } from "./_kv_sim.ts";

async function refused(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
    assert.unreachable(`expected ${code}`);
  } catch (err) {
    assert.ok(isMeshkvError(err, code as never), `expected ${code}: ${String(err)}`);
  }
}

test("a dead node is removed: bad requests change nothing, the dry run plans, the survivors rebuild its copies and it cannot rejoin", async () => {
  const c = await kvCluster(1801, { size: 4, timings: { tombstoneGraceMs: 1_000 } });
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
  for (const k of keys) await put(c, "n01", k, `v-${k}`, { level: "all" });
  await refused(drive(c, c.kv("n01").remove("n04", { dryRun: false })), "NODE_ALIVE");
  await refused(drive(c, c.kv("n01").remove("nobody", { dryRun: false })), "NODE_UNKNOWN");
  await refused(drive(c, c.kv("n01").remove("n01", { dryRun: false })), "INVALID_ARGUMENT");

  await c.crash("n04");
  assert.ok(
    await c.runUntil(() => ["n01", "n02", "n03"].every((id) => c.statusOf(id, "n04") === "down"), 20_000) !== null,
    "n04 is down everywhere",
  );
  // Writes go on at quorum, and a delete waits for n04 (a replica of its key) before its tombstone may go.
  const doomed = keys.find((k) => replicasOf(c, "n01", k).includes("n04"))!;
  await del(c, "n02", doomed, { level: "quorum" });
  for (let i = 0; i < 10; i++) {
    await put(c, "n02", `w${i}`, `v-w${i}`, { level: "quorum" });
    keys.push(`w${i}`);
  }
  await c.run(3_000);
  const p = c.kv("n01").view.partitionOf(doomed);
  assert.not.ok(c.kv("n01").purgeable(p, c.clock.now() - 2_500), "the tombstone waits for n04");

  const plan = await drive(c, c.kv("n01").remove("n04", { dryRun: true }));
  assert.is(plan.dryRun, true);
  assert.ok((plan.partitionsMoving as number) > 0, "partitions move");
  assert.ok(
    (plan.keys as number) > 0 && (plan.bytes as number) > 0,
    `keys and bytes are counted: ${JSON.stringify({ k: plan.keys, b: plan.bytes })}`,
  );
  assert.is(c.statusOf("n01", "n04"), "down", "a dry run changes nothing");

  const done = await drive(c, c.kv("n02").remove("n04", { dryRun: false }));
  assert.is(done.removed, true);
  assert.ok(
    await c.runUntil(() => ["n01", "n02", "n03"].every((id) => c.statusOf(id, "n04") === "removed"), 10_000) !== null,
    "gossip spreads the removal",
  );
  assert.ok(
    await c.runUntil(() => [...c.backends.values()].every((b) => b.settled()), 30_000) !== null,
    "the rebuild finishes",
  );
  const status = await c.kv("n03").status() as { removed: { members: string[]; rebuild: { done: boolean } } };
  assert.equal(status.removed.members, ["n04"]);
  assert.is(status.removed.rebuild.done, true);
  // A hint for n04 stored after the removal (by a write in flight when it happened) is dropped by the next
  // delivery round, not kept forever.
  const p0 = c.kv("n01").view.partitionOf("k0");
  const item =
    (await drive(c, c.kv("n01").store.scan(p0, { after: null, limit: 1, keysOnly: false, tombstones: false })))
      .items[0]!;
  const droppedBefore = (await c.kv("n01").status() as { removed: { hintsDropped: number } }).removed.hintsDropped;
  await drive(
    c,
    c.kv("n01").hints.add({ target: "n04", partition: p0, key: item.key, set: item.set, expiresAt: null }),
  );
  assert.is(c.kv("n01").hints.stats().pending, 1);
  assert.ok(
    await c.runUntil(() => c.kv("n01").hints.stats().pending === 0, 5_000) !== null,
    "the late hint for the removed member is dropped",
  );
  assert.is(
    (await c.kv("n01").status() as { removed: { hintsDropped: number } }).removed.hintsDropped,
    droppedBefore + 1,
    "and counted",
  );
  for (const k of keys) {
    const replicas = replicasOf(c, "n01", k);
    assert.not.ok(replicas.includes("n04"));
    for (const id of replicas) {
      const s = await storedAt(c, id, k);
      if (k === doomed) assert.is(liveCount(values(s.set)), 0, `${k} stays deleted on ${id}`);
      else assert.is(liveCount(values(s.set)), 1, `${k} is on ${id}, one of its replicas now`);
    }
    if (k !== doomed) assert.equal(texts(await get(c, "n03", k, "all")).length, 1, `${k} reads at all`);
  }
  await c.run(10_000);
  assert.ok(
    c.kv("n01").purgeable(p, c.clock.now() - 12_000),
    "with n04 out of the ring the tombstone may go once the new replicas hold it",
  );

  // The removed node's process comes back with its old data: the cluster tells it, and it stops serving.
  await c.restart("n04");
  assert.ok(await c.runUntil(() => c.nodes.get("n04")!.gossip.removed, 10_000) !== null, "n04 learns it was removed");
  assert.is(c.kv("n04").ready(), false, "it serves nothing");
  await c.run(2_000);
  assert.is(c.statusOf("n01", "n04"), "removed", "its restart does not bring it back");
  assert.equal(texts(await get(c, "n01", keys[5]!, "all")).length, 1);
  await c.stopAll();
});

test.run();
