import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { isMeshkvError } from "../../src/errors.ts";
import {
  createTable,
  decide,
  digest,
  downSet,
  leave,
  MEMBER_STATUSES,
  type MemberInfo,
  type MemberTable,
  mergeTables,
  rejoin,
  remove,
  tick,
  validateMember,
} from "../../src/core/membership.ts";

const info = (id: string, over: Partial<MemberInfo> = {}): MemberInfo => ({
  id,
  address: `${id}.local:7000`,
  datacenter: "dc1",
  capacity: 1,
  heartbeat: 0,
  incarnation: 0,
  status: "alive",
  ...over,
});
const settings = { suspicionMs: 5000 };

function cluster(nowMs: number): MemberTable {
  const self = createTable({ id: "me", address: "me.local:7000", datacenter: "dc1", capacity: 1 }, nowMs);
  return mergeTables(self, [info("a"), info("b")], nowMs, "me");
}

test("a member whose heartbeat has not risen for suspicionMs becomes suspect", () => {
  const t0 = cluster(0);
  assert.equal(decide(t0, "me", 4999, settings).transitions, []);
  const d = decide(t0, "me", 5000, settings);
  assert.equal(d.transitions, [{ id: "a", from: "alive", to: "suspect" }, { id: "b", from: "alive", to: "suspect" }]);
  assert.equal(d.probeIndirectly, ["a", "b"]);
  assert.is(d.table.get("me")!.status, "alive", "self is never suspected");
});

test("a rising heartbeat keeps a member alive", () => {
  let t = cluster(0);
  t = mergeTables(t, [info("a", { heartbeat: 1 })], 4000);
  assert.equal(decide(t, "me", 6000, settings).transitions.map((x) => x.id), ["b"]);
});

test("a suspect is declared down only when an indirect probe also failed", () => {
  const suspected = decide(cluster(0), "me", 6000, settings).table;
  assert.equal(decide(suspected, "me", 60_000, settings).transitions, [], "time alone does not make it down");
  assert.equal(decide(suspected, "me", 7000, settings, new Map([["a", { direct: "failed" }]])).transitions, []);
  assert.equal(decide(suspected, "me", 7000, settings, new Map([["a", { indirect: "ok" }]])).transitions, []);
  const d = decide(suspected, "me", 7000, settings, new Map([["a", { direct: "failed", indirect: "failed" }]]));
  assert.equal(d.transitions, [{ id: "a", from: "suspect", to: "down" }]);
  assert.equal([...downSet(d.table)], ["a"]);
});

test("a failed direct probe makes a fresh member suspect; with a failed indirect probe, down", () => {
  const t = cluster(0);
  assert.equal(decide(t, "me", 100, settings, new Map([["a", { direct: "failed" }]])).transitions, [{
    id: "a",
    from: "alive",
    to: "suspect",
  }]);
  assert.equal(
    decide(t, "me", 100, settings, new Map([["a", { indirect: "failed" }]])).transitions,
    [],
    "an indirect failure alone is not enough",
  );
  assert.equal(
    decide(t, "me", 100, settings, new Map([["a", { direct: "failed", indirect: "failed" }]])).transitions,
    [{ id: "a", from: "alive", to: "down" }],
  );
});

test("a suspect whose newer heartbeat arrives by gossip is alive again", () => {
  const suspected = decide(cluster(0), "me", 6000, settings).table;
  assert.is(suspected.get("a")!.status, "suspect");
  const back = mergeTables(suspected, [info("a", { heartbeat: 3 })], 6500);
  assert.is(back.get("a")!.status, "alive");
  assert.is(back.get("a")!.lastHeartbeatChangeAt, 6500);
});

test("down is final for an incarnation: an old heartbeat does not revive, a higher incarnation does", () => {
  const down = mergeTables(cluster(0), [info("a", { status: "down", heartbeat: 2 })], 10);
  assert.is(mergeTables(down, [info("a", { heartbeat: 50 })], 20).get("a")!.status, "down");
  assert.is(mergeTables(down, [info("a", { incarnation: 1 })], 20).get("a")!.status, "alive");
});

test("a node refutes a suspicion about itself by raising its incarnation", () => {
  const t = cluster(0);
  const refuted = mergeTables(t, [info("me", { status: "suspect", heartbeat: 5, address: "me.local:7000" })], 10, "me");
  const me = refuted.get("me")!;
  assert.equal([me.status, me.incarnation], ["alive", 1]);
  const elsewhere = mergeTables(
    new Map(),
    [info("me", { status: "suspect", heartbeat: 5, address: "me.local:7000" })],
    10,
  );
  assert.is(mergeTables(elsewhere, digest(refuted), 20).get("me")!.status, "alive");
});

test("a graceful leave spreads as left, which outranks down; a rejoin with a higher incarnation wins", () => {
  let t = cluster(0);
  t = tick(t, "me", 1);
  const left = leave(t, "me", 2);
  assert.is(left.get("me")!.status, "left");
  const peer = mergeTables(new Map(), [info("me", { status: "down", heartbeat: 1 })], 3);
  assert.is(mergeTables(peer, digest(left), 4).get("me")!.status, "left");
  const back = rejoin(left, "me", 5);
  assert.equal([back.get("me")!.status, back.get("me")!.incarnation], ["alive", 1]);
  assert.is(mergeTables(mergeTables(peer, digest(left), 4), digest(back), 6).get("me")!.status, "alive");
  assert.equal(
    decide(left, "b", 100_000, settings).transitions.filter((x) => x.id === "me"),
    [],
    "left members are not suspected",
  );
});

test("a removed member stays removed: it outranks any incarnation, is never refuted and owns no slot", () => {
  const t = cluster(0);
  const gone = remove(mergeTables(t, [info("a", { status: "down", heartbeat: 3 })], 1, "me"), "a", 2);
  assert.is(gone.get("a")!.status, "removed");
  const back = mergeTables(gone, [info("a", { status: "alive", incarnation: 9, heartbeat: 50 })], 3, "me");
  assert.is(back.get("a")!.status, "removed", "a higher incarnation of the removed node does not bring it back");
  const itself = mergeTables(
    createTable({ id: "a", address: "a.local:7000", datacenter: "dc1", capacity: 1 }, 0),
    digest(gone),
    4,
    "a",
  );
  assert.equal(
    [itself.get("a")!.status, itself.get("a")!.incarnation],
    ["removed", 0],
    "the removed node takes the record instead of refuting it",
  );
  assert.ok(downSet(gone).has("a"));
  assert.equal(decide(gone, "me", 100_000, settings).transitions.filter((x) => x.id === "a"), []);
});

test("validateMember() rejects malformed gossip with INVALID_ARGUMENT", () => {
  const good = info("x");
  assert.equal(validateMember(good), good);
  assert.equal(
    validateMember({ ...good, since: 1_700_000_000_000 }),
    { ...good, since: 1_700_000_000_000 },
    "since travels with the record",
  );
  for (
    const bad of [
      null,
      3,
      { ...good, since: -1 },
      { ...good, since: "soon" },
      { ...good, id: "" },
      { ...good, heartbeat: -1 },
      { ...good, incarnation: 1.5 },
      { ...good, status: "zombie" },
      { ...good, capacity: 0 },
      { ...good, address: 7 },
      { ...good, rack: 1 },
    ]
  ) {
    try {
      validateMember(bad);
      assert.unreachable(JSON.stringify(bad));
    } catch (e) {
      assert.ok(isMeshkvError(e, "INVALID_ARGUMENT"), String(e));
    }
  }
});

test("a member's since survives records relayed without it (nodes from before it was gossiped)", () => {
  const t0 = mergeTables(cluster(0), [info("a", { heartbeat: 1, since: 1234 })], 0, "me");
  assert.is(t0.get("a")!.since, 1234);
  const t1 = mergeTables(t0, [info("a", { heartbeat: 2 })], 10, "me");
  assert.is(t1.get("a")!.heartbeat, 2, "the newer record wins");
  assert.is(t1.get("a")!.since, 1234, "and keeps the since it did not carry");
  const t2 = mergeTables(t1, [info("a", { incarnation: 1, since: 5678 })], 20, "me");
  assert.is(t2.get("a")!.since, 5678, "a later since (a new data directory) replaces it");
});

const arbRecord: fc.Arbitrary<MemberInfo> = fc.record({
  id: fc.constantFrom("a", "b", "c", "d"),
  address: fc.constantFrom("h1:1", "h2:1"),
  datacenter: fc.constantFrom("dc1", "dc2"),
  capacity: fc.constantFrom(1, 2),
  heartbeat: fc.nat(5),
  incarnation: fc.nat(2),
  status: fc.constantFrom(...MEMBER_STATUSES),
}).map((r) => ({ ...r }));

test("gossip merge converges regardless of order", () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(arbRecord, { maxLength: 6 }), { minLength: 1, maxLength: 5 }),
      fc.nat(),
      (tables, seed) => {
        const fold = (order: MemberInfo[][]) =>
          digest(order.reduce<MemberTable>((t, d, i) => mergeTables(t, d, i), new Map()));
        const forward = fold(tables);
        const shuffled = tables.map((t, i) => ({ t, k: (i * 7919 + seed) % 101 })).sort((x, y) => x.k - y.k).map((x) =>
          [...x.t].reverse()
        );
        assert.equal(fold(shuffled), forward);
        assert.equal(fold([...tables, ...tables]), forward, "idempotent");
        // Pairwise: merging A into B equals merging B into A.
        const [a, b] = [fold(tables.slice(0, 1)), fold(tables.slice(1))];
        assert.equal(
          digest(mergeTables(mergeTables(new Map(), a, 0), b, 0)),
          digest(mergeTables(mergeTables(new Map(), b, 0), a, 0)),
        );
      },
    ),
    { numRuns: 300 },
  );
});

test("gossip among simulated nodes spreads every heartbeat and status to everyone", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(4), fc.nat(4)), { minLength: 0, maxLength: 80 }), (exchanges) => {
      const ids = ["n0", "n1", "n2", "n3", "n4"];
      let tables = ids.map((id) => createTable({ id, address: `${id}:1`, datacenter: "dc1", capacity: 1 }, 0));
      exchanges.forEach(([from, to], i) => {
        tables[from] = tick(tables[from]!, ids[from]!, i);
        tables[to] = mergeTables(tables[to]!, digest(tables[from]!), i, ids[to]);
      });
      // A final full round in a ring spreads everything twice around.
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 5; i++) {
          tables[(i + 1) % 5] = mergeTables(tables[(i + 1) % 5]!, digest(tables[i]!), 1000, ids[(i + 1) % 5]);
        }
      }
      const first = digest(tables[0]!);
      assert.is(first.length, 5);
      for (const t of tables) {
        assert.equal(digest(t), first);
      }
    }),
    { numRuns: 100 },
  );
});

test.run();
