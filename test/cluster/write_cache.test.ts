/**
 * The replica's write cache: the next write of a hot key starts from the state the last write left instead of
 * reading the engine. What a user relies on is that this never changes a result: every write must see exactly
 * what the engine holds, also after deletes, expiring writes, a failed write, evictions and a hand-off drop.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeValue, TOMBSTONE, visibleValues } from "../../src/cluster/records.ts";
import { openReplicaStore, type ReplicaStore, type Stored } from "../../src/cluster/replica.ts";
import { ENTRY_OVERHEAD_BYTES, WriteCache } from "../../src/cluster/write_cache.ts";
import { encodeSet, versionDigest } from "../../src/core/context.ts";
import { entrySet } from "../../src/core/stored.ts";
import { contextOf, emptySet, update, values } from "../../src/core/version.ts";
import { ManualClock, MemoryFileSystem, SeededRandom } from "../../src/runtime/memory.ts";
import { rejectsWith } from "../_helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function open(clock: ManualClock, writeCacheBytes?: number): Promise<ReplicaStore> {
  return await openReplicaStore({
    fs: new MemoryFileSystem(),
    dir: "/n1",
    clock,
    random: new SeededRandom(7),
    nodeId: "n1",
    engineValueBytesMax: 4096,
    engine: { durability: "none" },
    ...(writeCacheBytes === undefined ? {} : { writeCacheBytes }),
  });
}

/** The key's state as the engine holds it, past the write cache. */
async function inEngine(store: ReplicaStore, key: string): Promise<Stored> {
  const e = await store.engine.get(0, key, { includeTombstones: true });
  return { set: (e && entrySet(e)) ?? emptySet(), expiresAt: e === undefined || e.tombstone ? null : e.expiresAt };
}

const record = (text: string) => encodeValue({ contentType: "text/plain", data: enc.encode(text) });
const texts = (s: Stored) => visibleValues(values(s.set), false).map((v) => dec.decode(v.data)).sort();

/**
 * Writes `recordBytes` over what is stored (a client with the latest context) and returns what the write saw as
 * the stored state, checking it against what the engine held just before.
 */
async function write(store: ReplicaStore, clock: ManualClock, key: string, rec: Uint8Array, expiresAt: number | null) {
  const engine = await inEngine(store, key);
  const read = await store.read(0, key);
  assert.equal(versionDigest(read.set), versionDigest(engine.set), `${key}: a read finds what the engine holds`);
  assert.is(read.expiresAt, engine.expiresAt, `${key}: a read finds the engine's expiry`);
  let seen: Stored | null = null;
  await store.readModifyWrite(0, key, (before) => {
    seen = before;
    return { set: update(before.set, contextOf(before.set), rec, store.versionId, clock.now()), expiresAt };
  });
  assert.equal(texts(seen!), texts(engine), `${key}: the write saw what the engine held`);
  assert.equal(versionDigest(seen!.set), versionDigest(engine.set), `${key}: the same versions`);
  assert.is(seen!.expiresAt, engine.expiresAt, `${key}: the same expiry`);
  return seen!;
}

test("every write sees what the engine holds: values, deletes, expiring writes, merges, evictions", async () => {
  for (const bound of [undefined, 0, 3 * (ENTRY_OVERHEAD_BYTES + 40)]) {
    const clock = new ManualClock();
    const store = await open(clock, bound);
    const keys = ["a", "b", "c", "d", "e"];
    for (let round = 0; round < 6; round++) {
      for (const [i, key] of keys.entries()) {
        await clock.advance(1);
        const kind = (round + i) % 4;
        if (kind === 3) await write(store, clock, key, TOMBSTONE, null); // a delete
        else if (kind === 2) await write(store, clock, key, record(`${key}${round}`), clock.now() + 60_000);
        else await write(store, clock, key, record(`${key}${round}`), null);
      }
      // A version made elsewhere arrives for one key: the next write must see the merge.
      const other = update(emptySet<Uint8Array>(), [], record(`peer${round}`), "n2.beef", clock.now());
      await store.merge(0, keys[round % keys.length]!, other, null);
    }
    const last = await write(store, clock, "a", record("final"), null);
    assert.ok(last.set.entries.length > 0, "the history is there");
    await store.close();
  }
});

test("a write that fails leaves the key's state and the next write sees it", async () => {
  const clock = new ManualClock();
  const store = await open(clock);
  await write(store, clock, "k", record("kept"), null);
  // Over the engine's value limit (4096 bytes): the engine refuses the write.
  await rejectsWith(
    () =>
      store.readModifyWrite(0, "k", (before) => ({
        set: update(before.set, contextOf(before.set), record("x".repeat(5000)), store.versionId, clock.now()),
        expiresAt: null,
      })),
    "LIMIT_EXCEEDED",
  );
  const seen = await write(store, clock, "k", record("next"), null);
  assert.equal(texts(seen), ["kept"]);
  // A decision that throws writes nothing either.
  let refused = false;
  await store.readModifyWrite(0, "k", () => {
    throw new Error("refused");
  }).catch((e: Error) => (refused = e.message === "refused"));
  assert.ok(refused, "the decision's error reaches the caller");
  assert.equal(texts(await write(store, clock, "k", record("again"), null)), ["next"]);
  await store.close();
});

test("a key dropped after a hand-off is read from the engine again", async () => {
  const clock = new ManualClock();
  const store = await open(clock);
  await write(store, clock, "k", record("v1"), null);
  const held = await store.read(0, "k");
  assert.ok(await store.dropIfUnchanged(0, "k", versionDigest(held.set)));
  const seen = await write(store, clock, "k", record("v2"), null);
  assert.is(seen.set.entries.length, 0, "nothing left after the drop");
  await store.close();
});

const live = (text: string): Stored => ({
  set: update(emptySet<Uint8Array>(), [], record(text), "n1.aaaa", 1),
  expiresAt: null,
});

test("WriteCache keeps live states without expiry, copies their values, and stays within its bound", () => {
  // Slabs of 0 bytes: every entry in a buffer of its own, charged at its size.
  const probe = new WriteCache(1024 * 1024, 0);
  probe.set(3, "b", live("two"), true);
  const per = probe.bytes; // what one entry is charged: its encoded set, the key and the overhead
  assert.is(per, encodeSet(live("two").set).byteLength + ENTRY_OVERHEAD_BYTES + 1);
  const cache = new WriteCache(2 * per + 4, 0); // room for two of this test's entries, not three
  cache.set(3, "a", live("one"), true);
  assert.equal(texts(cache.get(3, "a")!), ["one"]);
  assert.is(cache.get(4, "a"), undefined, "another partition's key is not it");
  cache.set(3, "a", live("dead"), false);
  assert.is(cache.get(3, "a"), undefined, "a deleted state is not kept");
  cache.set(3, "a", { ...live("ttl"), expiresAt: 10 }, true);
  assert.is(cache.get(3, "a"), undefined, "an expiring state is not kept");
  assert.is(cache.size, 0);
  assert.is(cache.bytes, 0);

  // Values are copied: the written set's bytes may be reused by whoever owns them.
  const s = live("mine");
  cache.set(3, "a", s, true);
  values(s.set)[0]!.fill(0);
  assert.equal(texts(cache.get(3, "a")!), ["mine"]);
  // ... into one buffer of the entry's own, which its encoding (reused when a read is sent on) shares: a kept
  // entry holds no view into a mesh frame or a shared slab.
  const kept = cache.get(3, "a")!.set;
  const encoded = encodeSet(kept);
  assert.is(encoded.buffer.byteLength, encoded.byteLength, "the encoding is a buffer of its own");
  for (const v of values(kept)) assert.is(v.buffer, encoded.buffer, "values are views into it");

  // The bound: the oldest write goes first.
  cache.set(3, "b", live("two"), true);
  cache.set(3, "c", live("three"), true);
  assert.is(cache.get(3, "a"), undefined, "the oldest was evicted");
  assert.equal(texts(cache.get(3, "c")!), ["three"]);
  assert.ok(cache.bytes <= cache.bytesMax, `${cache.bytes} within ${cache.bytesMax}`);
  assert.is(cache.size, 2);
  // Writing a key again makes it the newest: "b" goes before "c" now.
  cache.set(3, "b", live("TWO"), true);
  cache.set(3, "d", live("six"), true);
  assert.is(cache.get(3, "c"), undefined, "the oldest write went first");
  assert.equal(texts(cache.get(3, "b")!), ["TWO"]);
  cache.delete("b");
  cache.delete("d");
  assert.is(cache.bytes, 0);

  const none = new WriteCache(0);
  none.set(3, "a", live("x"), true);
  assert.is(none.size, 0, "a bound of 0 keeps nothing");
});

test("WriteCache carves copies out of its own slabs and charges a slab until its last entry is gone", () => {
  const cache = new WriteCache(4096, 1024);
  assert.is(new WriteCache().slabBytes, 64 * 1024, "the default slab");
  assert.is(new WriteCache(16 * 1024).slabBytes, 1024, "a sixteenth of a small bound");
  const one = encodeSet(live("hot 0000").set).byteLength;
  const overhead = ENTRY_OVERHEAD_BYTES + 3;
  cache.set(1, "hot", live("hot 0000"), true);
  assert.is(cache.bytes, 1024 + overhead, "the slab being filled and the entry");
  const slab = encodeSet(cache.get(1, "hot")!.set).buffer;
  assert.is(slab.byteLength, 1024, "the copy is a view into the slab");
  for (const v of values(cache.get(1, "hot")!.set)) assert.is(v.buffer, slab, "values too");
  cache.set(1, "key", live("cold"), true);
  assert.is(encodeSet(cache.get(1, "key")!.set).buffer, slab, "the next entry shares the slab");
  cache.delete("key");
  cache.delete("hot");
  assert.is(cache.bytes, 1024, "the slab being filled stays charged");

  // One cold key per slab, with a hot key written over and over between them: every slab a cold key is in
  // stays alive, so each is charged whole and the oldest cold keys go, though few entries are held.
  const perSlab = Math.floor(1024 / ((one + 7) & ~7));
  for (let c = 0; c < 10; c++) {
    cache.set(1, `c${String(c).padStart(2, "0")}`, live("cold"), true);
    for (let i = 0; i < perSlab; i++) cache.set(1, "hot", live(`hot ${String(i).padStart(4, "0")}`), true);
    assert.ok(cache.bytes <= cache.bytesMax, `${cache.bytes} within ${cache.bytesMax}`);
  }
  assert.ok(cache.size <= 4, `${cache.size} entries in at most four slabs`);
  assert.is(cache.get(1, "c00"), undefined, "the oldest cold key was evicted");
  assert.equal(texts(cache.get(1, "c09")!), ["cold"]);
  assert.equal(texts(cache.get(1, "hot")!), [`hot ${String(perSlab - 1).padStart(4, "0")}`]);

  // An entry over a quarter of a slab gets a buffer of its own, charged at its size.
  const big = new WriteCache(64 * 1024, 1024);
  const large = live("x".repeat(600));
  big.set(1, "big", large, true);
  const n = encodeSet(large.set).byteLength;
  assert.is(big.bytes, n + ENTRY_OVERHEAD_BYTES + 3);
  assert.is(encodeSet(big.get(1, "big")!.set).buffer.byteLength, n);
  big.delete("big");
  assert.is(big.bytes, 0);
});

test.run();
