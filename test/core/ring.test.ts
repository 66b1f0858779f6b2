import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { isMeshkvError } from "../../src/errors.ts";
import { hashString, murmur3, utf8 } from "../../src/core/_hash.ts";
import {
  claim,
  hashTag,
  keyHash,
  ownedCounts,
  partitionOf,
  partitionOfHash,
  planJoin,
  planLeave,
  recommendedPartitions,
  REPAIR_EXTRA_MOVES,
  type Ring,
  type RingNode,
} from "../../src/core/ring.ts";

const nodesOf = (n: number, capacity: (i: number) => number = () => 1): RingNode[] =>
  Array.from({ length: n }, (_, i) => ({ id: `node-${String(i).padStart(3, "0")}`, capacity: capacity(i) }));

function maxShareError(ring: Ring, nodes: readonly RingNode[]): number {
  const counts = ownedCounts(ring);
  const total = nodes.reduce((s, n) => s + n.capacity, 0);
  let worst = 0;
  for (const n of nodes) {
    const share = (ring.partitions * n.capacity) / total;
    worst = Math.max(worst, Math.abs((counts.get(n.id) ?? 0) - share) / share);
  }
  return worst;
}

test("murmur3 matches the published MurmurHash3_x86_32 test vectors", () => {
  const cases: [string, number, number][] = [
    ["", 0, 0],
    ["", 1, 0x514e28b7],
    ["hello", 0, 0x248bfa47],
    ["The quick brown fox jumps over the lazy dog", 0, 0x2e4ff723],
  ];
  for (const [text, seed, want] of cases) assert.is(hashString(text, seed), want, text);
  assert.is(murmur3(new Uint8Array([0x21, 0x43, 0x65, 0x87]), 0), 0xf55b516b);
});

test("hashString equals murmur3 of the UTF-8 bytes, also for non-ASCII text", () => {
  for (const text of ["é", "日本語のキー", "emoji 😀", "x".repeat(5000)]) {
    assert.is(hashString(text), murmur3(utf8(text)), text.slice(0, 10));
  }
});

test("hashTag() hashes only the text inside the first non-empty {...}", () => {
  const cases: [string, string][] = [
    ["{user:42}/orders/7", "user:42"],
    ["orders/{user:42}", "user:42"],
    ["{a}{b}", "a"],
    ["{}/x", "{}/x"],
    ["foo{}{bar}", "foo{}{bar}"],
    ["{open", "{open"],
    ["close}", "close}"],
    ["plain", "plain"],
    ["a{b{c}d}", "b{c"],
  ];
  for (const [key, tag] of cases) assert.is(hashTag(key), tag, key);
});

test("keys that share a hash tag share a partition", () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1 }).filter((s) => !s.includes("}")), fc.string(), fc.string(), (tag, a, b) => {
      assert.is(partitionOf(`{${tag}}${a}`, 1024), partitionOf(`{${tag}}${b}`, 1024));
    }),
    { numRuns: 200 },
  );
});

test("partitionOf() takes the top bits of the hash, so partitions are contiguous hash ranges", () => {
  assert.is(partitionOfHash(0, 256), 0);
  assert.is(partitionOfHash(0xffffffff, 256), 255);
  assert.is(partitionOfHash(0x80000000, 2), 1);
  assert.is(partitionOfHash(0x7fffffff, 2), 0);
  assert.is(partitionOfHash(0xdeadbeef, 1), 0);
  assert.is(partitionOf("k", 256), keyHash("k") >>> 24);
});

test("keys spread evenly over partitions", () => {
  const counts = new Array<number>(64).fill(0);
  for (let i = 0; i < 64_000; i++) counts[partitionOf(`user:${i}`, 64)]!++;
  for (const c of counts) assert.ok(c > 800 && c < 1200, `partition count ${c}`);
});

test("claim() rejects bad partition counts, ids and capacities with INVALID_ARGUMENT", () => {
  const bad: [Parameters<typeof claim>[1], number][] = [
    [nodesOf(3), 100],
    [nodesOf(3), 0],
    [nodesOf(3), 131072],
    [[], 256],
    [[{ id: "a", capacity: 1 }, { id: "a", capacity: 1 }], 256],
    [[{ id: "a", capacity: 0 }], 256],
    [[{ id: "a", capacity: NaN }], 256],
    [[{ id: "", capacity: 1 }], 256],
  ];
  for (const [nodes, partitions] of bad) {
    try {
      claim(null, nodes, { partitions });
      assert.unreachable(`accepted ${JSON.stringify(nodes)} / ${partitions}`);
    } catch (e) {
      assert.ok(isMeshkvError(e, "INVALID_ARGUMENT"), String(e));
    }
  }
});

test("claim() of a new ring moves nothing and gives every partition an owner", () => {
  const { ring, moves } = claim(null, nodesOf(5));
  assert.is(ring.partitions, 256);
  assert.is(ring.owners.length, 256);
  assert.is(moves.length, 0);
  assert.equal(new Set(ring.owners).size, 5);
});

test("claim() is deterministic and ignores the order nodes are given in", () => {
  const nodes = nodesOf(7, (i) => 1 + (i % 3));
  assert.equal(claim(null, nodes).ring.owners, claim(null, [...nodes].reverse()).ring.owners);
});

test("claim() keeps owners of neighbouring partitions distinct when capacities are equal", () => {
  const { ring } = claim(null, nodesOf(8), { partitions: 256, targetN: 3 });
  for (let p = 0; p < 256; p++) {
    const around = [ring.owners[p], ring.owners[(p + 1) % 256], ring.owners[(p + 2) % 256]];
    assert.is(new Set(around).size, 3, `partition ${p}`);
  }
});

test("ownership stays within 10% of each node's capacity share for 3 to 100 nodes", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 3, max: 100 }),
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 100, maxLength: 100 }),
      (n, caps) => {
        const nodes = nodesOf(n, (i) => caps[i]!);
        const partitions = 4096;
        const { ring } = claim(null, nodes, { partitions });
        assert.ok(maxShareError(ring, nodes) <= 0.1, `error ${maxShareError(ring, nodes)}`);
      },
    ),
    { numRuns: 25 },
  );
});

test("each node owns the floor or the ceiling of its exact share", () => {
  const nodes = nodesOf(7, (i) => [1, 2, 5][i % 3]!);
  const { ring } = claim(null, nodes, { partitions: 256 });
  const total = nodes.reduce((s, n) => s + n.capacity, 0);
  for (const [id, count] of ownedCounts(ring)) {
    const share = 256 * nodes.find((n) => n.id === id)!.capacity / total;
    assert.ok(count === Math.floor(share) || count === Math.ceil(share), `${id}: ${count} vs ${share}`);
  }
});

test("a join moves about 1/n of the partitions, mostly to the joiner (swaps that spread owners move at most a third more)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 60 }), fc.integer({ min: 1, max: 4 }), (n, cap) => {
      const nodes = nodesOf(n);
      const { ring } = claim(null, nodes, { partitions: 1024 });
      const joiner = { id: "joiner", capacity: cap };
      const plan = planJoin(ring, nodes, joiner);
      const share = (1024 * cap) / (n + cap);
      assert.ok(
        plan.moves.length <= Math.ceil((Math.ceil(share) + 1) * (1 + REPAIR_EXTRA_MOVES)),
        `moved ${plan.moves.length}, share ${share}`,
      );
      assert.ok(plan.moves.length >= Math.floor(share), `moved ${plan.moves.length}, share ${share}`);
      assert.ok(
        plan.moves.filter((m) => m.to !== "joiner").length <=
          Math.ceil((Math.ceil(share) + 1) * REPAIR_EXTRA_MOVES) + 1,
      );
      assert.ok(maxShareError(plan.ring, [...nodes, joiner]) <= 0.1 || share < 10);
    }),
    { numRuns: 40 },
  );
});

test("with more nodes than targetN, joins one at a time leave no owner repeated within targetN", () => {
  for (const partitions of [64, 256, 1024]) {
    let ring: Ring | null = null;
    for (let n = 1; n <= 16; n++) {
      ring = claim(ring, nodesOf(n), { partitions, targetN: 3 }).ring;
      if (n <= 3) continue;
      const repeats = ring.owners.filter((o, p) =>
        o === ring!.owners[(p + 1) % partitions] || o === ring!.owners[(p + 2) % partitions]
      ).length;
      assert.is(repeats, 0, `${n} nodes, ${partitions} partitions`);
    }
  }
});

test("a leave moves the leaver's partitions (and at most a third more, to keep owners spread)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 40 }),
      fc.nat(),
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 41, maxLength: 41 }),
      (n, pick, caps) => {
        const nodes = nodesOf(n + 1, (i) => caps[i]!);
        const { ring } = claim(null, nodes, { partitions: 512 });
        const leaver = nodes[pick % nodes.length]!.id;
        const plan = planLeave(ring, nodes, leaver);
        const owned = ring.owners.filter((o) => o === leaver).length;
        assert.is(plan.moves.filter((m) => m.from === leaver).length, owned);
        assert.ok(
          plan.moves.length <= Math.ceil(owned * (1 + REPAIR_EXTRA_MOVES)),
          `moved ${plan.moves.length} for ${owned}`,
        );
        assert.not.ok(plan.ring.owners.includes(leaver));
      },
    ),
    { numRuns: 40 },
  );
});

test("a sequence of joins and leaves keeps the ring balanced and each plan describes the change", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 3 })), { minLength: 1, maxLength: 15 }),
      (steps) => {
        let nodes = nodesOf(3);
        let ring = claim(null, nodes, { partitions: 1024 }).ring;
        let next = 0;
        for (const [join, cap] of steps) {
          const before = ring;
          const plan = join || nodes.length <= 2
            ? planJoin(ring, nodes, { id: `extra-${next++}`, capacity: cap })
            : planLeave(ring, nodes, nodes[cap % nodes.length]!.id);
          nodes = join || nodes.length <= 2
            ? [...nodes, { id: `extra-${next - 1}`, capacity: cap }]
            : nodes.filter((n) => n.id !== nodes[cap % nodes.length]!.id);
          ring = plan.ring;
          for (let p = 0; p < 1024; p++) {
            const move = plan.moves.find((m) => m.partition === p);
            if (move) assert.equal([move.from, move.to], [before.owners[p], ring.owners[p]]);
            else assert.is(ring.owners[p], before.owners[p]);
          }
          assert.ok(maxShareError(ring, nodes) <= 0.1);
        }
      },
    ),
    { numRuns: 20 },
  );
});

test("recommendedPartitions() leaves at least 16 partitions per node", () => {
  assert.is(recommendedPartitions(3), 256);
  assert.is(recommendedPartitions(100), 2048);
});

test.run();
