import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { isMeshkvError } from "../../src/errors.ts";
import {
  type ConsistencyLevel,
  LEVEL_NAMES,
  parseConsistency,
  Quorum,
  type QuorumReplica,
} from "../../src/core/quorum.ts";

const three: QuorumReplica[] = [
  { node: "a", datacenter: "us" },
  { node: "b", datacenter: "us" },
  { node: "c", datacenter: "eu" },
];

function feed(level: ConsistencyLevel, replicas: QuorumReplica[], replies: [string, boolean][], local = "us") {
  const q = new Quorum({ level, replicas, localDatacenter: local });
  const statuses = replies.map(([node, ok]) => q.add({ node, ok }));
  return { q, statuses };
}

test("quorum() succeeds once a majority of replicas succeeded", () => {
  const { statuses } = feed("quorum", three, [["a", true], ["c", true], ["b", true]]);
  assert.equal(statuses, ["pending", "succeeded", "succeeded"]);
});

test("quorum() fails once more than n - w replicas refused", () => {
  const { q, statuses } = feed("quorum", three, [["a", false], ["b", true], ["c", false]]);
  assert.equal(statuses, ["pending", "pending", "failed"]);
  const error = q.error();
  assert.ok(isMeshkvError(error, "QUORUM_UNMET"));
  assert.is(error!.message, "Consistency level not met: quorum needs 2 of 3 replicas, 1 succeeded, 2 failed");
  assert.equal([error!.details.ok, error!.details.failed, error!.details.pending], [1, 2, 0]);
});

test("the table of levels decides at the right reply", () => {
  const cases: [ConsistencyLevel, [string, boolean][], string[]][] = [
    ["one", [["c", true]], ["succeeded"]],
    ["one", [["a", false], ["b", false], ["c", false]], ["pending", "pending", "failed"]],
    ["all", [["a", true], ["b", true], ["c", true]], ["pending", "pending", "succeeded"]],
    ["all", [["a", true], ["b", false]], ["pending", "failed"]],
    ["local_one", [["c", true], ["b", true]], ["pending", "succeeded"]],
    ["local_one", [["a", false], ["c", true], ["b", false]], ["pending", "pending", "failed"]],
    ["local_quorum", [["c", true], ["a", true], ["b", true]], ["pending", "pending", "succeeded"]],
    ["local_quorum", [["a", false]], ["failed"]],
    ["each_quorum", [["a", true], ["b", true], ["c", true]], ["pending", "pending", "succeeded"]],
    ["each_quorum", [["c", false]], ["failed"]],
    [{ r: 2 }, [["a", true], ["c", true]], ["pending", "succeeded"]],
    [{ w: 1 }, [["b", false], ["a", true]], ["pending", "succeeded"]],
  ];
  for (const [level, replies, want] of cases) {
    assert.equal(feed(level, three, replies).statuses, want, JSON.stringify([level, replies]));
  }
});

test("local levels with no replica in the local datacenter fail at once", () => {
  const q = new Quorum({ level: "local_quorum", replicas: three, localDatacenter: "ap" });
  assert.ok(q.done());
  assert.is(q.outcome().status, "failed");
  assert.match(q.error()!.message, "replicas in ap");
});

test("a second reply from the same replica is ignored and the outcome, once decided, stays", () => {
  const { q, statuses } = feed("quorum", three, [["a", true], ["a", true], ["b", false], ["c", true], ["b", true]]);
  assert.equal(statuses, ["pending", "pending", "pending", "succeeded", "succeeded"]);
  assert.equal([q.outcome().ok, q.outcome().failed, q.outcome().pending], [2, 1, 0]);
  assert.ok(q.allAnswered());
});

test("misuse throws: replies from strangers, duplicate replicas, no replicas", () => {
  assert.throws(
    () => new Quorum({ level: "one", replicas: three, localDatacenter: "us" }).add({ node: "z", ok: true }),
    RangeError,
  );
  assert.throws(
    () => new Quorum({ level: "one", replicas: [three[0]!, three[0]!], localDatacenter: "us" }),
    RangeError,
  );
  assert.throws(() => new Quorum({ level: "one", replicas: [], localDatacenter: "us" }), RangeError);
});

test("parseConsistency() accepts names in any case and explicit counts", () => {
  assert.is(parseConsistency("QUORUM"), "quorum");
  assert.is(parseConsistency(" local_one "), "local_one");
  assert.equal(parseConsistency("r=2"), { r: 2 });
  assert.equal(parseConsistency({ w: 3 }), { w: 3 });
  for (const name of LEVEL_NAMES) assert.is(parseConsistency(name), name);
});

test("parseConsistency() rejects everything else with INVALID_ARGUMENT", () => {
  for (
    const bad of [
      "",
      "two",
      "r=0",
      "r=",
      "x=1",
      "r=2;",
      { r: 0 },
      { r: 1.5 },
      { r: 33 },
      { r: 1, w: 1 },
      { q: 1 },
      null,
      3,
      "r=100",
    ]
  ) {
    try {
      parseConsistency(bad);
      assert.unreachable(JSON.stringify(bad));
    } catch (e) {
      assert.ok(isMeshkvError(e, "INVALID_ARGUMENT"), `${JSON.stringify(bad)}: ${String(e)}`);
    }
  }
  try {
    new Quorum({ level: { r: 4 }, replicas: three, localDatacenter: "us" });
    assert.unreachable();
  } catch (e) {
    assert.ok(isMeshkvError(e, "INVALID_ARGUMENT"));
  }
});

// A reference written straight from the level definitions, used to judge every status the accumulator gives.
function met(level: ConsistencyLevel, replicas: QuorumReplica[], ok: Set<string>, local: string): boolean {
  const count = (dc: string | null) =>
    replicas.filter((r) => (dc === null || r.datacenter === dc) && ok.has(r.node)).length;
  const size = (dc: string | null) => replicas.filter((r) => dc === null || r.datacenter === dc).length;
  if (typeof level === "object") return count(null) >= ("r" in level ? level.r : level.w);
  switch (level) {
    case "one":
      return count(null) >= 1;
    case "quorum":
      return count(null) > size(null) / 2;
    case "all":
      return count(null) === size(null);
    case "local_one":
      return count(local) >= 1;
    case "local_quorum":
      return count(local) > size(local) / 2;
    case "each_quorum":
      return [...new Set(replicas.map((r) => r.datacenter))].every((dc) => count(dc) > size(dc) / 2);
  }
}

test("a quorum never reports success below its level nor failure while it can still succeed", () => {
  const arbLevel: fc.Arbitrary<ConsistencyLevel> = fc.oneof(
    fc.constantFrom(...LEVEL_NAMES),
    fc.integer({ min: 1, max: 3 }).map((r) => ({ r })),
    fc.integer({ min: 1, max: 3 }).map((w) => ({ w })),
  );
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom("us", "eu", "ap"), { minLength: 3, maxLength: 9 }),
      arbLevel,
      fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }),
      fc.nat(),
      (dcs, level, oks, rotate) => {
        const replicas = dcs.map((datacenter, i) => ({ node: `n${i}`, datacenter }));
        const q = new Quorum({ level, replicas, localDatacenter: "us" });
        const ok = new Set<string>();
        const pending = new Set(replicas.map((r) => r.node));
        const order = replicas.map((_, i) => replicas[(i + rotate) % replicas.length]!);
        let decided: string | null = null;
        const check = () => {
          const status = q.outcome().status;
          const best = new Set([...ok, ...pending]);
          if (decided === null && status === "succeeded") {
            assert.ok(
              met(level, replicas, ok, "us"),
              "success below the level",
            );
          }
          if (decided === null && status === "failed") {
            assert.not.ok(
              met(level, replicas, best, "us"),
              "failure while success was possible",
            );
          }
          if (decided === null && status === "pending") {
            assert.not.ok(met(level, replicas, ok, "us"), "met but still pending");
            assert.ok(met(level, replicas, best, "us"), "impossible but still pending");
          }
          if (decided !== null) assert.is(status, decided, "outcome changed");
          if (status !== "pending") decided = status;
        };
        check();
        order.forEach((r, i) => {
          pending.delete(r.node);
          if (oks[i]) ok.add(r.node);
          q.add({ node: r.node, ok: oks[i]! });
          check();
        });
        assert.ok(q.done());
      },
    ),
    { numRuns: 500 },
  );
});

test("wants() asks replicas until the level could be met if every one asked answers, and again after a failure", () => {
  const replicas = [{ node: "a", datacenter: "x" }, { node: "b", datacenter: "x" }, { node: "c", datacenter: "y" }];
  const q = new Quorum({ level: "quorum", replicas, localDatacenter: "x" });
  const asked = new Set<string>();
  for (const r of replicas) if (q.wants(r.node, asked)) asked.add(r.node);
  assert.equal([...asked], ["a", "b"], "two of three for quorum");
  q.add({ node: "a", ok: true });
  assert.not.ok(q.wants("c", asked), "b may still answer");
  q.add({ node: "b", ok: false });
  assert.ok(q.wants("c", asked), "after b failed, c is needed");
  assert.ok(q.counts("c"));
  q.add({ node: "c", ok: true });
  assert.is(q.outcome().status, "succeeded");
  assert.not.ok(q.wants("c", new Set()), "a decided quorum wants nobody");
});

test("wants() for local_quorum asks only the local datacenter, and for one asks a single replica", () => {
  const replicas = [{ node: "a", datacenter: "x" }, { node: "c", datacenter: "y" }, { node: "b", datacenter: "x" }];
  const local = new Quorum({ level: "local_quorum", replicas, localDatacenter: "x" });
  const asked = new Set<string>();
  for (const r of replicas) if (local.wants(r.node, asked)) asked.add(r.node);
  assert.equal([...asked], ["a", "b"]);
  assert.not.ok(local.counts("c"), "a remote replica does not count toward local_quorum");
  const one = new Quorum({ level: "one", replicas, localDatacenter: "x" });
  const first = new Set<string>();
  for (const r of replicas) if (one.wants(r.node, first)) first.add(r.node);
  assert.equal([...first], ["a"]);
});

test.run();
