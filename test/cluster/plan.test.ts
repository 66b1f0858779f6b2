/**
 * The preview of a membership change (`change_plan.ts`) in a simulated cluster: a planned join and a planned
 * leave change nothing, count the keys of the partitions that copy, agree with the ring code's own `planJoin`
 * and `planLeave`, and predict the replicas the cluster really ends with once the change is made; a change
 * that could not happen is refused with its stable code.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { planJoin, planLeave } from "../../src/core/ring.ts";
import type { PartitionMove } from "../../src/cluster/removal.ts";
import type { SimCluster } from "../../src/testing/sim_cluster.ts";
import { drive, kvCluster, put } from "./_kv_sim.ts";

async function refused(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.is((err as { code?: string }).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

function replicas(c: SimCluster, via: string): string[][] {
  const snap = c.kv(via).view.snapshot!;
  return Array.from(
    { length: snap.placement.partitions },
    (_, p) => snap.placement.forPartition(p).replicas.map((r) => r.node).sort(),
  );
}

/** The replicas a plan says each partition has afterwards. */
function predicted(before: string[][], moves: PartitionMove[]): string[][] {
  const after = before.map((r) => [...r]);
  for (const m of moves) {
    after[m.partition] = [...after[m.partition]!.filter((n) => !m.drop.includes(n)), ...m.to].sort();
  }
  return after;
}

function ringNodes(c: SimCluster, via: string) {
  return [...c.nodes.get(via)!.gossip.table.values()].filter((m) => m.status === "alive").sort((a, b) =>
    (a.since ?? 0) - (b.since ?? 0)
  ).map((m) => ({ id: m.id, capacity: m.capacity }));
}

test("a planned join changes nothing, counts the keys that copy, matches planJoin and is the ring the cluster reaches", async () => {
  const c = await kvCluster(2101, { size: 4 });
  const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
  for (const k of keys) await put(c, "n01", k, `v-${k}`, { level: "all" });
  await refused(drive(c, c.kv("n01").plan("join", "n02")), "NODE_MEMBER");

  const before = replicas(c, "n01");
  const plan = await drive(c, c.kv("n01").plan("join", "n05"));
  const moves = plan.moves as PartitionMove[];
  assert.is(plan.status, "new");
  assert.ok(moves.length > 0 && moves.every((m) => m.to.join() === "n05"), "every copy goes to the joiner");
  const moving = new Set(moves.map((m) => m.partition));
  const expectKeys = keys.filter((k) => moving.has(c.kv("n01").view.partitionOf(k))).length;
  assert.is(plan.keys, expectKeys, "the keys of the partitions that copy");
  assert.ok((plan.bytes as number) > expectKeys * 4, "and their bytes");
  assert.is(plan.partitionsUncounted, 0);
  const owners = planJoin(c.kv("n01").view.snapshot!.ring, ringNodes(c, "n01"), { id: "n05", capacity: 1 }, {
    targetN: 3,
  });
  for (const m of owners.moves) {
    assert.ok(moving.has(m.partition), `partition ${m.partition} changes owner in planJoin, so it moves in the plan`);
  }
  assert.equal(replicas(c, "n01"), before, "a plan changes nothing");

  await c.start("n05");
  assert.ok(await c.runUntil(() => c.allSee("alive") && c.converged(), 20_000) !== null, "n05 joins");
  assert.equal(replicas(c, "n01"), predicted(before, moves), "the cluster reaches the planned ring");
  await c.stopAll();
});

test("a planned leave copies nothing from the leaver's absence alone, matches planLeave, and is the ring after the leave; bad changes are refused", async () => {
  const c = await kvCluster(2102, { size: 4 });
  for (let i = 0; i < 40; i++) await put(c, "n01", `k${i}`, `v${i}`, { level: "all" });
  await refused(drive(c, c.kv("n01").plan("leave", "n09")), "NODE_UNKNOWN");
  await refused(drive(c, c.kv("n01").plan("remove", "n04")), "NODE_ALIVE");

  const before = replicas(c, "n01");
  const plan = await drive(c, c.kv("n01").plan("leave", "n04"));
  const moves = plan.moves as PartitionMove[];
  assert.ok(moves.length > 0);
  assert.ok(
    moves.every((m) => !m.to.includes("n04") && m.from.includes("n04")),
    "the leaver hands off: it is a source, never a target",
  );
  const owners = planLeave(c.kv("n01").view.snapshot!.ring, ringNodes(c, "n01"), "n04", { targetN: 3 });
  const moving = new Set(moves.map((m) => m.partition));
  for (const m of owners.moves) {
    assert.ok(moving.has(m.partition), `partition ${m.partition} leaves n04 in planLeave, so it moves in the plan`);
  }
  assert.ok((plan.keys as number) > 0);

  const left = await drive(c, c.kv("n04").leave());
  assert.is(left.drained, true);
  assert.ok(
    await c.runUntil(() => ["n01", "n02", "n03"].every((id) => c.statusOf(id, "n04") === "left"), 20_000) !== null,
    "n04 left everywhere",
  );
  assert.equal(replicas(c, "n01"), predicted(before, moves), "the cluster reaches the planned ring");
  await refused(drive(c, c.kv("n01").plan("leave", "n04")), "INVALID_ARGUMENT");
  await c.stopAll();
});

test.run();
