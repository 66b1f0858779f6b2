/**
 * The replica store's per-key lock covers read, decide and memtable, not the log sync: under `batch`
 * durability, a hot key's next write reads the last one as soon as it is staged instead of one sync later,
 * while every write is still acknowledged only once it is durable, and the change feed still hears a key's
 * writes in order.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeValue, visibleValues } from "../../src/cluster/records.ts";
import { openReplicaStore, type ReplicaStore, type Stored } from "../../src/cluster/replica.ts";
import { contextOf, update, values } from "../../src/core/version.ts";
import { ManualClock, MemoryFileSystem, SeededRandom } from "../../src/runtime/memory.ts";

const enc = new TextEncoder();
const SYNC_INTERVAL_MS = 50;

async function open(clock: ManualClock): Promise<ReplicaStore> {
  return await openReplicaStore({
    fs: new MemoryFileSystem(),
    dir: "/n1",
    clock,
    random: new SeededRandom(7),
    nodeId: "n1",
    engineValueBytesMax: 1024 * 1024,
    engine: { durability: "batch", syncIntervalMs: SYNC_INTERVAL_MS },
  });
}

const texts = (s: Stored) => visibleValues(values(s.set), false).map((v) => new TextDecoder().decode(v.data)).sort();

/** A write that supersedes what it reads (as a client with the latest context does). */
function overwrite(store: ReplicaStore, clock: ManualClock, text: string) {
  return store.readModifyWrite(0, "hot", (before) => ({
    set: update(
      before.set,
      contextOf(before.set),
      encodeValue({ contentType: "text/plain", data: enc.encode(text) }),
      store.versionId,
      clock.now(),
    ),
    expiresAt: null,
  }));
}

/** Lets every pending microtask and promise continuation run, without moving the clock. */
async function flush(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

test("three writes of one key are all staged before the first log sync, acknowledged after it", async () => {
  const clock = new ManualClock();
  const store = await open(clock);
  const events: string[][] = [];
  store.onChange((_key, s) => events.push(texts(s)));
  let acked = 0;
  const writes = ["a", "b", "c"].map((t) => overwrite(store, clock, t).then((r) => (acked++, r)));
  await flush();
  // Before any sync: the last write read the one before it (each superseded the last: one value, not siblings).
  assert.equal(texts(await store.read(0, "hot")), ["c"], "each write read the previous one under the lock");
  assert.is(acked, 0, "none is acknowledged before the log sync");
  assert.equal(events, [], "the change feed hears nothing that is not durable");
  await clock.advance(SYNC_INTERVAL_MS);
  const done = await Promise.all(writes);
  assert.is(acked, 3);
  assert.equal(done.map((r) => texts(r.before)), [[], ["a"], ["b"]], "each saw exactly the write before it");
  assert.equal(events, [["a"], ["b"], ["c"]], "the change feed hears the writes in order");
  await store.close();
});

test("merge stages under the lock too, and a merge that changes nothing neither writes nor waits", async () => {
  const clock = new ManualClock();
  const store = await open(clock);
  const first = overwrite(store, clock, "x");
  await flush();
  const stored = await store.read(0, "hot");
  let merged = false;
  const same = store.merge(0, "hot", stored.set, null).then((r) => ((merged = true), r));
  await flush();
  assert.ok(merged, "nothing changed: answered without waiting for a sync");
  assert.is((await same).changed, false);
  await clock.advance(SYNC_INTERVAL_MS);
  await first;
  await store.close();
});

test.run();
