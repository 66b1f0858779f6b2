import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import {
  concurrent,
  contextOf,
  descends,
  dominates,
  type DvvSet,
  emptySet,
  frontier,
  merge,
  mergeVectors,
  prune,
  sameVersion,
  setDescends,
  siblingCount,
  siblings,
  update,
  values,
  type VersionVector,
} from "../../src/core/version.ts";

const vv = (o: Record<string, number>): VersionVector =>
  Object.keys(o).sort().filter((k) => o[k]! > 0).map((node) => ({ node, counter: o[node]! }));

const arbVector = fc.dictionary(fc.constantFrom("a", "b", "c", "d"), fc.integer({ min: 0, max: 4 })).map(vv);

// ---------------------------------------------------------------------------------------------------------
// A model of causality: every value remembers its causal history (the context it was written with plus its
// own dot). A replica should keep exactly the values whose dot no other value it has heard of has seen.

/** `history` is the context the value was written with: the dots it supersedes. */
interface ModelValue {
  id: string;
  node: string;
  counter: number;
  history: VersionVector;
}
interface Replica {
  set: DvvSet<string>;
  heard: Map<string, ModelValue>;
}
type Op = { kind: "write"; at: number; readFrom: number | null } | { kind: "sync"; to: number; from: number };

const REPLICAS = ["A", "B", "C"];
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("write" as const), at: fc.nat(2), readFrom: fc.option(fc.nat(2), { nil: null }) }),
  fc.record({ kind: fc.constant("sync" as const), to: fc.nat(2), from: fc.nat(2) }),
);

function modelFrontier(heard: Map<string, ModelValue>): string[] {
  const all = [...heard.values()];
  return all
    .filter((v) => !all.some((u) => u !== v && u.history.some((e) => e.node === v.node && e.counter >= v.counter)))
    .map((v) => v.id)
    .sort();
}

function run(ops: readonly Op[]): Replica[] {
  const replicas: Replica[] = REPLICAS.map(() => ({ set: emptySet<string>(), heard: new Map() }));
  const written = REPLICAS.map(() => 0);
  let now = 1000;
  for (const op of ops) {
    now += 10;
    if (op.kind === "write") {
      const r = replicas[op.at]!;
      const ctx = op.readFrom === null ? [] : contextOf(replicas[op.readFrom]!.set);
      const node = REPLICAS[op.at]!;
      const counter = ++written[op.at]!;
      const id = `${node}${counter}`;
      r.set = update(r.set, ctx, id, node, now);
      r.heard.set(id, { id, node, counter, history: ctx });
    } else {
      const to = replicas[op.to]!;
      const from = replicas[op.from]!;
      to.set = merge(to.set, from.set);
      for (const [id, v] of from.heard) to.heard.set(id, v);
    }
  }
  return replicas;
}

test("a write with the read's context supersedes what was read", () => {
  const s1 = update(emptySet<string>(), [], "v1", "A", 1);
  const s2 = update(s1, contextOf(s1), "v2", "B", 2);
  assert.equal(values(s2), ["v2"]);
  assert.equal(contextOf(s2), vv({ A: 1, B: 1 }));
});

test("two writes from the same context become siblings, even through one coordinator", () => {
  const s1 = update(emptySet<string>(), [], "v1", "A", 1);
  const ctx = contextOf(s1);
  const s2 = update(s1, ctx, "x", "A", 2);
  const s3 = update(s2, ctx, "y", "A", 3);
  assert.equal(values(s3), ["y", "x"]);
  assert.equal(siblings(s3).map((s) => s.dot), [{ node: "A", counter: 3 }, { node: "A", counter: 2 }]);
  const s4 = update(s3, contextOf(s3), "resolved", "B", 4);
  assert.equal(values(s4), ["resolved"]);
});

test("a blind write keeps existing values as siblings", () => {
  const s1 = update(emptySet<string>(), [], "v1", "A", 1);
  assert.equal(values(update(s1, [], "v2", "A", 2)).sort(), ["v1", "v2"]);
});

test("merge() drops a value the other side has seen and replaced", () => {
  const a = update(emptySet<string>(), [], "old", "A", 1);
  const b = update(a, contextOf(a), "new", "B", 2);
  assert.equal(values(merge(a, b)), ["new"]);
  assert.equal(values(merge(b, a)), ["new"]);
  assert.ok(setDescends(b, a));
  assert.not.ok(setDescends(a, b));
});

test("merge() gives back the side that already holds the result, so its encoding is reused", () => {
  const a = update(emptySet<string>(), [], "v1", "A", 1);
  const b = update(a, contextOf(a), "v2", "A", 2);
  assert.is(merge(a, b), b, "a replica receiving a newer copy keeps the copy received");
  assert.is(merge(b, a), b, "and one receiving an older copy keeps its own");
  const copy: DvvSet<string> = { entries: b.entries.map((e) => ({ ...e, values: [...e.values] })) };
  assert.is(merge(b, copy), copy, "equal copies: the second side");
  const c = update(a, contextOf(a), "x", "B", 3);
  const m = merge(b, c);
  assert.ok(m !== b && m !== c, "concurrent writes: a new set");
  assert.equal(values(m).sort(), ["v2", "x"]);
  const later = { entries: b.entries.map((e) => ({ ...e, timeMs: e.timeMs + 5 })) };
  assert.is(merge(later, b), later, "the later time of an entry is part of what a side holds");
  assert.is(merge(b, later), later);
});

test("merge() returns a side only when that side holds everything the other does", () => {
  fc.assert(
    fc.property(fc.array(arbOp, { maxLength: 30 }), (ops) => {
      const [a, b] = run(ops).map((r) => r.set) as [DvvSet<string>, DvvSet<string>];
      const m = merge(a, b);
      if (m === b) assert.ok(setDescends(b, a));
      if (m === a) assert.ok(setDescends(a, b));
      const fresh = (x: DvvSet<string>) => ({ entries: x.entries.map((e) => ({ ...e, values: [...e.values] })) });
      assert.equal(merge(fresh(a), fresh(b)), m, "the same result whichever objects the sides are");
    }),
    { numRuns: 300 },
  );
});

test("replicas keep exactly the concurrent frontier of the values they have heard of", () => {
  fc.assert(
    fc.property(fc.array(arbOp, { maxLength: 40 }), (ops) => {
      for (const r of run(ops)) assert.equal([...values(r.set)].sort(), modelFrontier(r.heard));
    }),
    { numRuns: 300 },
  );
});

test("merge() is commutative, associative and idempotent on sets from real histories", () => {
  fc.assert(
    fc.property(fc.array(arbOp, { maxLength: 30 }), (ops) => {
      const [a, b, c] = run(ops).map((r) => r.set) as [DvvSet<string>, DvvSet<string>, DvvSet<string>];
      assert.equal(merge(a, b), merge(b, a));
      assert.equal(merge(merge(a, b), c), merge(a, merge(b, c)));
      assert.equal(merge(a, a), a);
      assert.ok(sameVersion(merge(a, merge(a, b)), merge(a, b)));
    }),
    { numRuns: 200 },
  );
});

test("after all replicas sync, they hold the same versions", () => {
  fc.assert(
    fc.property(fc.array(arbOp, { maxLength: 30 }), (ops) => {
      const sets = run(ops).map((r) => r.set);
      const all = sets.reduce((x, y) => merge(x, y));
      for (const s of sets) assert.ok(setDescends(all, s));
      assert.equal(sets.reduceRight((x, y) => merge(x, y)), all);
    }),
    { numRuns: 100 },
  );
});

test("descends() is a partial order: reflexive, antisymmetric and transitive", () => {
  fc.assert(
    fc.property(arbVector, arbVector, arbVector, (a, b, c) => {
      assert.ok(descends(a, a));
      if (descends(a, b) && descends(b, a)) assert.equal(a, b);
      if (descends(a, b) && descends(b, c)) assert.ok(descends(a, c));
      assert.is(dominates(a, b), descends(a, b) && !descends(b, a));
      assert.is(concurrent(a, b), !descends(a, b) && !descends(b, a));
      assert.ok(
        [dominates(a, b), dominates(b, a), concurrent(a, b), descends(a, b) && descends(b, a)].filter(Boolean)
          .length === 1,
      );
    }),
    { numRuns: 500 },
  );
});

test("mergeVectors() is the least upper bound", () => {
  fc.assert(
    fc.property(arbVector, arbVector, arbVector, (a, b, c) => {
      const m = mergeVectors(a, b);
      assert.ok(descends(m, a) && descends(m, b));
      if (descends(c, a) && descends(c, b)) assert.ok(descends(c, m));
      assert.equal(m, mergeVectors(b, a));
      assert.equal(mergeVectors(m, c), mergeVectors(a, mergeVectors(b, c)));
      assert.equal(mergeVectors(a, a), a);
    }),
    { numRuns: 300 },
  );
});

test("descends() on hand-written vectors", () => {
  const cases: [Record<string, number>, Record<string, number>, boolean][] = [
    [{}, {}, true],
    [{ a: 1 }, {}, true],
    [{}, { a: 1 }, false],
    [{ a: 2, b: 1 }, { a: 1, b: 1 }, true],
    [{ a: 1, b: 2 }, { a: 2, b: 1 }, false],
    [{ a: 1, c: 1 }, { b: 1 }, false],
    [{ a: 1, b: 1, c: 1 }, { b: 1 }, true],
  ];
  for (const [a, b, want] of cases) {
    assert.is(descends(vv(a), vv(b)), want, `${JSON.stringify(a)} >= ${JSON.stringify(b)}`);
  }
});

test("frontier() keeps exactly the items no other item dominates", () => {
  fc.assert(
    fc.property(fc.array(arbVector, { maxLength: 8 }), (clocks) => {
      const items = clocks.map((clock, i) => ({ clock, i }));
      const kept = frontier(items);
      for (const item of items) {
        const dominated = items.some((o) => dominates(o.clock, item.clock));
        const duplicateOfEarlier = items.some((o) =>
          o.i < item.i && descends(o.clock, item.clock) && descends(item.clock, o.clock)
        );
        assert.is(kept.includes(item), !dominated && !duplicateOfEarlier);
      }
    }),
    { numRuns: 300 },
  );
});

test("prune() keeps entries with values and never goes below entriesMin", () => {
  let s = emptySet<string>();
  for (let i = 0; i < 30; i++) s = update(s, contextOf(s), `v${i}`, `node-${String(i).padStart(2, "0")}`, i * 1000);
  assert.is(s.entries.length, 30);
  assert.is(siblingCount(s), 1);
  const day = 86_400_000;
  const none = new Set<string>();
  const pruned = prune(s, 29_000 + 2 * day, none, { entriesMin: 5, entriesMax: 50 });
  assert.is(pruned.entries.length, 5);
  assert.equal(values(pruned), ["v29"]);
  assert.equal(prune(s, 29_000 + 1000, none, { entriesMin: 5 }), s, "young entries stay");
  const big = prune(s, 29_000 + 60_000, none, { entriesMin: 5, entriesMax: 20 });
  assert.is(big.entries.length, 20, "over entriesMax, entries older than youngMs go");
  assert.ok(big.entries.some((e) => e.node === "node-29"));
  const active = new Set(["node-00", "node-01"]);
  const kept = prune(s, 29_000 + 2 * day, active, { entriesMin: 0, entriesMax: 0 });
  assert.equal(kept.entries.map((e) => e.node), ["node-00", "node-01", "node-29"], "active nodes are never pruned");
});

test("pruning a converged replica does not make its descendant look concurrent", () => {
  fc.assert(
    fc.property(fc.array(arbOp, { maxLength: 30 }), (ops) => {
      const sets = run(ops).map((r) => r.set);
      const converged = sets.reduce((x, y) => merge(x, y));
      const far = 1_000_000_000;
      // B and C have left the cluster; A is the only node that still coordinates.
      const pruned = prune(converged, far, new Set(["A"]), { entriesMin: 0, entriesMax: 0 });
      // A stale replica that already had everything merges with the pruned copy without resurrecting values.
      assert.equal(values(merge(pruned, converged)).sort(), values(converged).sort());
      // And a write with the pruned copy's context supersedes every sibling on the unpruned replicas.
      const next = update(pruned, contextOf(pruned), "next", "A", far);
      assert.equal(values(merge(converged, next)), ["next"]);
    }),
    { numRuns: 100 },
  );
});

test("update() rejects an empty coordinator and a bad time as programmer errors", () => {
  assert.throws(() => update(emptySet(), [], "v", "", 1), TypeError);
  assert.throws(() => update(emptySet(), [], "v", "A", NaN), RangeError);
});

test.run();
