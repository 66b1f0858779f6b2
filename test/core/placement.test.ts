import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { isMeshkvError } from "../../src/errors.ts";
import { claim, type Ring } from "../../src/core/ring.ts";
import { Placement, type PlacementNode } from "../../src/core/placement.ts";

/** A ring with explicit owners, so expectations can be written by hand. */
const ringOf = (owners: string[]): Ring => ({ partitions: owners.length, owners });

test("a preference list is the first N distinct nodes walking clockwise from the partition", () => {
  const ring = ringOf(["a", "a", "b", "a", "c", "d", "b", "e"]);
  const nodes = ["a", "b", "c", "d", "e"].map((id) => ({ id }));
  const placement = new Placement(ring, nodes, { n: 3 });
  const ids = (p: number) => placement.forPartition(p).replicas.map((r) => r.node);
  assert.equal(ids(0), ["a", "b", "c"]);
  assert.equal(ids(4), ["c", "d", "b"]);
  assert.equal(ids(7), ["e", "a", "b"]);
  assert.equal(placement.forPartition(0).fallbacks.map((r) => r.node), ["d", "e"]);
  assert.equal(placement.forPartition(0).warnings, []);
});

test("forKey() looks up the list of the key's partition", () => {
  const nodes = ["a", "b", "c", "d"].map((id) => ({ id, capacity: 1 }));
  const { ring } = claim(null, nodes, { partitions: 64 });
  const placement = new Placement(ring, nodes);
  const list = placement.forKey("{user:1}/x");
  assert.equal(list, placement.forKey("{user:1}/y"));
  assert.is(list.replicas.length, 3);
});

test("fewer nodes than N places every node once and warns FEWER_NODES", () => {
  const placement = new Placement(ringOf(["a", "b", "a", "b"]), [{ id: "a" }, { id: "b" }], { n: 3 });
  const list = placement.forPartition(1);
  assert.equal(list.replicas.map((r) => r.node), ["b", "a"]);
  assert.equal(list.warnings, [{ code: "FEWER_NODES", datacenter: "default", wanted: 3, placed: 2 }]);
  assert.equal(placement.warnings(), [{ code: "FEWER_NODES", datacenter: "default", wanted: 3, placed: 2 }]);
});

test("replicas inside a datacenter go to distinct racks first", () => {
  const ring = ringOf(["a", "b", "c", "d"]);
  const nodes: PlacementNode[] = [
    { id: "a", rack: "r1" },
    { id: "b", rack: "r1" },
    { id: "c", rack: "r2" },
    { id: "d", rack: "r3" },
  ];
  const list = new Placement(ring, nodes, { n: 3 }).forPartition(0);
  assert.equal(list.replicas.map((r) => r.node), ["a", "c", "d"]);
  assert.equal(list.warnings, []);
});

test("too few racks still places N replicas but warns SHARED_RACK", () => {
  const ring = ringOf(["a", "b", "c"]);
  const nodes: PlacementNode[] = [{ id: "a", rack: "r1" }, { id: "b", rack: "r1" }, { id: "c", rack: "r2" }];
  const list = new Placement(ring, nodes, { n: 3 }).forPartition(0);
  assert.equal(list.replicas.map((r) => r.node), ["a", "b", "c"]);
  assert.equal(list.warnings, [{ code: "SHARED_RACK", datacenter: "default", rack: "r1", replicas: 2 }]);
});

test("per-datacenter factors take each datacenter's replicas from its own nodes", () => {
  const ring = ringOf(["e1", "u1", "u2", "e2", "u3", "e3"]);
  const nodes: PlacementNode[] = [
    { id: "u1", datacenter: "us-east" },
    { id: "u2", datacenter: "us-east" },
    { id: "u3", datacenter: "us-east" },
    { id: "e1", datacenter: "eu-west" },
    { id: "e2", datacenter: "eu-west" },
    { id: "e3", datacenter: "eu-west" },
  ];
  const placement = new Placement(ring, nodes, { replication: { "us-east": 2, "eu-west": 1 } });
  const list = placement.forPartition(0);
  assert.equal(list.replicas, [
    { node: "e1", datacenter: "eu-west" },
    { node: "u1", datacenter: "us-east" },
    { node: "u2", datacenter: "us-east" },
  ]);
  assert.equal(list.fallbacks.map((f) => f.node), ["e2", "u3", "e3"]);
});

test("a datacenter in the factors with no nodes is warned about as NO_SUCH_DATACENTER", () => {
  const placement = new Placement(ringOf(["a", "b"]), [{ id: "a" }, { id: "b" }], {
    replication: { "default": 1, mars: 1 },
  });
  const w = placement.forPartition(0).warnings;
  assert.ok(w.some((x) => x.code === "NO_SUCH_DATACENTER" && x.datacenter === "mars"));
  assert.ok(w.some((x) => x.code === "FEWER_NODES" && x.datacenter === "mars"));
});

test("bad replication settings are INVALID_ARGUMENT", () => {
  for (
    const options of [{ n: 0 }, { n: 2.5 }, { n: 100 }, { replication: {} }, { replication: { a: -1 } }, {
      replication: { a: 0 },
    }]
  ) {
    try {
      new Placement(ringOf(["a"]), [{ id: "a" }], options);
      assert.unreachable(JSON.stringify(options));
    } catch (e) {
      assert.ok(isMeshkvError(e, "INVALID_ARGUMENT"), String(e));
    }
  }
});

test("targets() sends a down replica's slot to the next healthy fallback with a hint", () => {
  const ring = ringOf(["a", "b", "c", "d", "e"]);
  const nodes = ["a", "b", "c", "d", "e"].map((id) => ({ id }));
  const placement = new Placement(ring, nodes, { n: 3 });
  assert.equal(placement.targets(0, new Set(["b", "d"])), [
    { node: "a", datacenter: "default", available: true },
    { node: "e", datacenter: "default", hintFor: "b", available: true },
    { node: "c", datacenter: "default", available: true },
  ]);
  assert.equal(placement.targets(0, new Set(["b"]), false)[1], { node: "b", datacenter: "default", available: false });
  assert.equal(placement.targets(0, new Set(["a", "b", "d", "e"]))[0], {
    node: "a",
    datacenter: "default",
    available: false,
  });
});

test("a stand-in comes from the down replica's own datacenter", () => {
  const ring = ringOf(["u1", "e1", "e2", "u2"]);
  const nodes: PlacementNode[] = [
    { id: "u1", datacenter: "us" },
    { id: "u2", datacenter: "us" },
    { id: "e1", datacenter: "eu" },
    { id: "e2", datacenter: "eu" },
  ];
  const placement = new Placement(ring, nodes, { replication: { us: 1, eu: 1 } });
  const targets = placement.targets(0, new Set(["u1"]));
  assert.equal(targets.find((t) => t.hintFor === "u1"), {
    node: "u2",
    datacenter: "us",
    hintFor: "u1",
    available: true,
  });
});

test("preference lists never repeat a node and honour per-datacenter factors", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom("dc1", "dc2", "dc3"), fc.constantFrom("r1", "r2", "r3")), {
        minLength: 1,
        maxLength: 24,
      }),
      fc.record({
        dc1: fc.integer({ min: 0, max: 4 }),
        dc2: fc.integer({ min: 0, max: 3 }),
        dc3: fc.integer({ min: 1, max: 2 }),
      }),
      fc.nat(),
      (shape, replication, partitionSeed) => {
        const nodes = shape.map(([datacenter, rack], i) => ({ id: `n${i}`, datacenter, rack, capacity: 1 + (i % 2) }));
        const { ring } = claim(null, nodes, { partitions: 64 });
        const placement = new Placement(ring, nodes, { replication });
        const list = placement.forPartition(partitionSeed % 64);
        const ids = list.replicas.map((r) => r.node);
        assert.is(new Set(ids).size, ids.length);
        for (const [dc, wanted] of Object.entries(replication)) {
          const available = nodes.filter((n) => n.datacenter === dc).length;
          const placed = list.replicas.filter((r) => r.datacenter === dc).length;
          assert.is(placed, Math.min(wanted, available), dc);
          const racks = new Set(
            list.replicas.filter((r) => r.datacenter === dc).map((r) => nodes.find((n) => n.id === r.node)!.rack),
          );
          const availableRacks = new Set(nodes.filter((n) => n.datacenter === dc).map((n) => n.rack)).size;
          assert.is(racks.size, Math.min(placed, availableRacks), `racks in ${dc}`);
          if (placed < wanted) assert.ok(list.warnings.some((w) => w.code === "FEWER_NODES" && w.datacenter === dc));
        }
        const all = [...ids, ...list.fallbacks.map((f) => f.node)];
        assert.equal([...all].sort(), nodes.map((n) => n.id).sort());
        for (const t of placement.targets(partitionSeed % 64, new Set(ids.slice(0, 1)))) {
          if (t.hintFor) assert.is(nodes.find((n) => n.id === t.node)!.datacenter, t.datacenter);
        }
      },
    ),
    { numRuns: 150 },
  );
});

test.run();
