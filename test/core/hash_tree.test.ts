import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { isMeshkvError } from "../../src/errors.ts";
import { diffTrees, HashTree, segmentOf } from "../../src/core/hash_tree.ts";
import { versionDigest } from "../../src/core/context.ts";
import { contextOf, emptySet, update } from "../../src/core/version.ts";

const v = (n: number) => new Uint8Array([n & 0xff, n >>> 8]);

/** Builds a tree from a key -> version map, in the map's order. */
function treeOf(data: Map<string, number>, options = { segments: 256, fanout: 4 }): HashTree {
  const t = new HashTree(options);
  for (const [key, version] of data) t.update(key, null, v(version));
  return t;
}

const arbData = fc.dictionary(fc.string({ maxLength: 12 }), fc.integer({ min: 0, max: 5 }), { maxKeys: 80 })
  .map((o) => new Map(Object.entries(o)));

test("an empty tree equals another empty tree and a tree with data does not", () => {
  const a = new HashTree();
  const b = new HashTree();
  assert.ok(a.equals(b));
  b.update("k", null, v(1));
  assert.not.ok(a.equals(b));
  assert.equal(diffTrees(a, b).segments, [segmentOf("k")]);
});

test("updating a key back to its old version, or deleting it, restores the tree", () => {
  const a = treeOf(new Map([["x", 1], ["y", 2]]));
  const before = a.toBytes();
  a.update("x", v(1), v(7));
  assert.not.equal(a.toBytes(), before);
  a.update("x", v(7), v(1));
  assert.equal(a.toBytes(), before);
  a.update("z", null, v(3));
  a.update("z", v(3), null);
  assert.equal(a.toBytes(), before);
});

test("incremental updates give the same tree as building from the final data, in any order", () => {
  fc.assert(
    fc.property(
      arbData,
      fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.option(fc.integer({ min: 0, max: 5 }))), { maxLength: 60 }),
      (data, writes) => {
        const incremental = treeOf(data);
        const current = new Map(data);
        for (const [key, version] of writes) {
          const old = current.get(key);
          incremental.update(key, old === undefined ? null : v(old), version === null ? null : v(version));
          if (version === null) current.delete(key);
          else current.set(key, version);
        }
        const rebuilt = treeOf(new Map([...current].reverse()));
        assert.equal(incremental.toBytes(), rebuilt.toBytes());
        assert.ok(incremental.equals(rebuilt));
      },
    ),
    { numRuns: 150 },
  );
});

test("tree diff finds exactly the changed segments", () => {
  fc.assert(
    fc.property(arbData, arbData, (a, b) => {
      const changed = new Set<number>();
      for (const key of new Set([...a.keys(), ...b.keys()])) {
        if (a.get(key) !== b.get(key)) changed.add(segmentOf(key, 256));
      }
      const diff = diffTrees(treeOf(a), treeOf(b));
      assert.equal(diff.segments, [...changed].sort((x, y) => x - y));
      assert.equal(diffTrees(treeOf(b), treeOf(a)).segments, diff.segments);
    }),
    { numRuns: 200 },
  );
});

test("the exchange costs follow the difference, not the data", () => {
  const data = new Map<string, number>();
  for (let i = 0; i < 20_000; i++) data.set(`key-${i}`, 1);
  const options = { segments: 4096, fanout: 16 };
  const a = treeOf(data, options);
  const b = treeOf(data, options);
  assert.equal(diffTrees(a, b), { segments: [], hashesExchanged: 1, rounds: 1 });
  b.update("key-42", v(1), v(2));
  const one = diffTrees(a, b);
  assert.equal(one.segments, [segmentOf("key-42", 4096)]);
  assert.is(one.rounds, 4);
  assert.is(one.hashesExchanged, 1 + 16 + 16 + 16);
});

test("a round of the exchange can be done by hand with levelHashes, diffLevel and childrenOf", () => {
  const a = treeOf(new Map([["a", 1], ["b", 1]]));
  const b = treeOf(new Map([["a", 1], ["b", 2]]));
  let indices = [0];
  for (let level = 0; level <= a.depth; level++) {
    const reply = b.levelHashes(level, indices);
    indices = a.diffLevel(level, indices, reply);
    if (level < a.depth) indices = a.childrenOf(level, indices);
  }
  assert.equal(indices, [segmentOf("b", 256)]);
  assert.is(a.width(a.depth), 256);
});

test("the saved form round-trips and damaged bytes are CORRUPTION", () => {
  const a = treeOf(new Map([["a", 1], ["b", 3], ["c", 2]]));
  const loaded = HashTree.fromBytes(a.toBytes());
  assert.ok(loaded.equals(a));
  assert.equal(diffTrees(a, loaded).segments, []);
  const bytes = a.toBytes();
  for (
    const bad of [
      bytes.subarray(0, bytes.length - 1),
      new Uint8Array([...bytes, 0]),
      new Uint8Array([2, ...bytes.subarray(1)]),
      new Uint8Array([1, 3, 2]),
    ]
  ) {
    try {
      HashTree.fromBytes(bad);
      assert.unreachable();
    } catch (e) {
      assert.ok(isMeshkvError(e, "CORRUPTION"), String(e));
    }
  }
});

test("shapes that are not a power of the fanout are INVALID_ARGUMENT; mismatched trees are RangeError", () => {
  for (
    const options of [{ segments: 100, fanout: 4 }, { segments: 256, fanout: 3 }, { segments: 1, fanout: 2 }, {
      segments: 2 ** 24,
      fanout: 2,
    }]
  ) {
    try {
      new HashTree(options);
      assert.unreachable(JSON.stringify(options));
    } catch (e) {
      assert.ok(isMeshkvError(e, "INVALID_ARGUMENT"), String(e));
    }
  }
  assert.throws(
    () => diffTrees(new HashTree({ segments: 256, fanout: 4 }), new HashTree({ segments: 256, fanout: 16 })),
    RangeError,
  );
  assert.throws(() => new HashTree().levelHashes(1, [16]), RangeError);
});

test("versionDigest() is the same for replicas holding the same versions, with different timestamps", () => {
  const s1 = update(emptySet<string>(), [], "v", "A", 100);
  const s2 = { entries: s1.entries.map((e) => ({ ...e, timeMs: 999 })) };
  assert.equal(versionDigest(s1), versionDigest(s2));
  const s3 = update(s1, contextOf(s1), "w", "A", 200);
  assert.not.equal(versionDigest(s3), versionDigest(s1));
});

test.run();
