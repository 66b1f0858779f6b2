/**
 * The ring derived from membership (`ring_view.ts`): every node computes the same owners from the same
 * members, replica load stays within bounds, and a join moves about 1/n of the replica copies.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Member, MemberTable } from "../../src/core/membership.ts";
import { RingView } from "../../src/cluster/ring_view.ts";

function table(
  ids: string[],
  statuses: Record<string, Member["status"]> = {},
  since: Record<string, number> = {},
): MemberTable {
  return new Map(ids.map((id) => [id, {
    id,
    address: `${id}:1`,
    datacenter: "dc1",
    capacity: 1,
    heartbeat: 1,
    incarnation: 0,
    status: statuses[id] ?? "alive",
    lastHeartbeatChangeAt: 0,
    statusChangedAt: 0,
    ...(since[id] === undefined ? {} : { since: since[id] }),
  }]));
}

/** Replica copies in `after` that `before` did not have (what a ring change must stream). */
function copiesMoved(before: string[][], after: string[][]): number {
  let moved = 0;
  after.forEach((s, p) => (moved += s.filter((id) => !before[p]!.includes(id)).length));
  return moved;
}

function setsOf(t: MemberTable): string[][] {
  const s = new RingView(config).update(t);
  return Array.from({ length: 256 }, (_, p) => s.placement.forPartition(p).replicas.map((r) => r.node));
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `node-${String.fromCharCode(97 + i)}`);
const config = { partitions: 256, n: 3, sloppy: true };

function replicaSets(members: string[]): string[][] {
  const s = new RingView(config).update(table(members));
  return Array.from({ length: 256 }, (_, p) => s.placement.forPartition(p).replicas.map((r) => r.node));
}

test("nodes that know the same members compute the same owners, whatever order they learned them in", () => {
  const a = new RingView(config).update(table(ids(5)));
  const b = new RingView(config).update(table([...ids(5)].reverse()));
  assert.equal(a.ring.owners, b.ring.owners);
  const down = new RingView(config).update(table(ids(5), { "node-c": "down" }));
  assert.equal(down.ring.owners, a.ring.owners, "a down member keeps its partitions");
  assert.ok(down.down.has("node-c"));
  const left = new RingView(config).update(table(ids(5), { "node-c": "left" }));
  assert.not.ok(left.ring.owners.includes("node-c"), "a member that left owns nothing");
});

for (let n = 4; n <= 12; n++) {
  test(`with ${n} nodes, the most loaded node replicates at most 1.1 times what the least does, and the join of node ${n} moved about 1/${n} of the copies`, () => {
    const sets = replicaSets(ids(n));
    const load = new Map<string, number>();
    for (const s of sets) for (const id of s) load.set(id, (load.get(id) ?? 0) + 1);
    const max = Math.max(...load.values());
    const min = Math.min(...load.values());
    assert.ok(max / min <= 1.1, `replica load ${JSON.stringify(Object.fromEntries(load))}`);
    const before = replicaSets(ids(n - 1));
    let moved = 0;
    sets.forEach((s, p) => (moved += s.filter((id) => !before[p]!.includes(id)).length));
    const ideal = (256 * 3) / n;
    assert.ok(moved <= ideal * 1.35, `moved ${moved} replica copies, ideal ${ideal.toFixed(0)}`);
  });
}

test("members join the ring in the order their data directories were created: a new node whose id sorts first moves about 1/n of the copies", () => {
  const old = ["node-m", "node-n", "node-p", "node-q", "node-r", "node-s"];
  const since = Object.fromEntries(old.map((id, i) => [id, 1_000 + i]));
  const before = setsOf(table(old, {}, since));
  const after = setsOf(table(["node-a", ...old], {}, { ...since, "node-a": 9_000 }));
  const ideal = (256 * 3) / 7;
  assert.ok(
    copiesMoved(before, after) <= ideal * 1.35,
    `moved ${copiesMoved(before, after)} replica copies, ideal ${ideal.toFixed(0)}`,
  );
  // In id order (everyone's since equal) the same join reshuffles most of the ring: what this order avoids.
  const byId = copiesMoved(setsOf(table(old)), setsOf(table(["node-a", ...old])));
  assert.ok(byId > ideal * 3, `joining first in id order moved ${byId}`);
});

test("a leave, even of the first member to have joined, moves about the leaver's share of the copies", () => {
  const members = ids(8);
  const since = Object.fromEntries(members.map((id, i) => [id, 1_000 + i]));
  const before = setsOf(table(members, {}, since));
  for (const leaver of ["node-a", "node-d", "node-h"]) {
    const after = setsOf(table(members, { [leaver]: "left" }, since));
    assert.not.ok(after.some((s) => s.includes(leaver)), `${leaver} replicates nothing once it left`);
    const ideal = (256 * 3) / 8;
    const moved = copiesMoved(before, after);
    assert.ok(moved <= ideal * 1.35, `${leaver} leaving moved ${moved} replica copies, ideal ${ideal.toFixed(0)}`);
  }
});

test.run();
