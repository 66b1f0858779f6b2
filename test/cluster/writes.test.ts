/**
 * The write path in the deterministic simulation: the coordinating replica sends the new version to the
 * other replicas while it writes its own copy, and counts itself toward the level only once that write is
 * durable.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { liveCount } from "../../src/cluster/records.ts";
import { values } from "../../src/core/version.ts";
import { isMeshkvError } from "../../src/errors.ts";
import type { SimCluster } from "../../src/testing/sim_cluster.ts";
import { drive, enc, get, kvCluster, put, replicasOf, storedAt, texts } from "./_kv_sim.ts";
import { forEachSeed, seedsFor } from "./_sim.ts";

/**
 * Makes node `id`'s disk slow: every write the replica store stages reaches the memtable, but is durable only
 * after `release()` (the log sync waits for it); `restore()` puts the engine back as it was.
 */
function holdWrites(c: SimCluster, id: string): { release: () => void; restore: () => void } {
  const engine = c.kv(id).store.engine;
  let release!: () => void;
  const disk = new Promise<void>((r) => (release = r));
  const stage = engine.stage.bind(engine);
  engine.stage = async (...args) => {
    const { durable } = await stage(...args);
    return { durable: durable.then(() => disk) };
  };
  return { release, restore: () => void (engine.stage = stage) };
}

test("the other replicas hold a write while the coordinator's own write is still waiting for its disk, and the client is answered only after it", async () => {
  await forEachSeed(seedsFor(2, 501), async (seed) => {
    const c = await kvCluster(seed, { size: 3 });
    const { release, restore } = holdWrites(c, "n01");
    let answered = false;
    const write = c.kv("n01").put("k", { contentType: "text/plain", data: enc.encode("v") }, {
      context: [],
      ifNoneMatch: false,
      strict: false,
      consistency: "all",
      ttlMs: null,
    }).then((r) => ((answered = true), r));
    await c.run(200);
    for (const id of ["n02", "n03"]) {
      assert.is(liveCount(values((await storedAt(c, id, "k")).set)), 1, `${id} holds the write already`);
    }
    assert.not.ok(answered, "a write at all waits for the coordinator's own durable copy");
    release();
    await c.run(100);
    assert.ok(answered);
    assert.is((await write).siblings, 1);
    assert.is(liveCount(values((await storedAt(c, "n01", "k")).set)), 1);
    await c.stopAll();
  });
});

test("a write whose other replicas fail while the coordinator's own copy is still being written fails with the level's error, and the node carries on", async () => {
  await forEachSeed(seedsFor(2, 502), async (seed) => {
    const c = await kvCluster(seed, { size: 3 });
    const { release, restore } = holdWrites(c, "n01");
    c.net.partition(["n01"], ["n02", "n03"]);
    let outcome: unknown = null;
    void c.kv("n01").put("cut", { contentType: "text/plain", data: enc.encode("v") }, {
      context: [],
      ifNoneMatch: false,
      strict: false,
      consistency: "quorum",
      ttlMs: null,
    }).then(() => (outcome = "acknowledged"), (err: unknown) => (outcome = err));
    await c.run(2500); // past the replica deadline: the other replicas have failed, the local write still waits
    assert.is(outcome, null, "not answered before its own copy is written");
    release();
    await c.run(200);
    assert.ok(
      isMeshkvError(outcome) && ["QUORUM_UNMET", "TIMEOUT"].includes(outcome.code),
      `failed with the level's error: ${String(outcome)}`,
    );
    c.net.heal();
    restore();
    await c.run(2000);
    assert.is(
      (await drive(c, c.kv("n01").get("cut", { consistency: "one" }))).values.length,
      1,
      "its own copy was written and is readable",
    );
    await c.stopAll();
  });
});

test("the same value written twice concurrently (a retry of a write that had in fact been applied) reads as one value; different values stay siblings, and a write with the read's context supersedes them all", async () => {
  await forEachSeed(seedsFor(2, 431), async (seed) => {
    const c = await kvCluster(seed, { size: 3 });
    const [a, b] = replicasOf(c, "n01", "k");
    const twice = async (key: string, first: string, second: string) => {
      c.net.partition([a!], [b!]);
      await put(c, a!, key, first, { level: "one" });
      await put(c, b!, key, second, { level: "one" });
      c.net.heal();
      return await get(c, "n01", key, "all");
    };
    const same = await twice("k", "v", "v");
    assert.is(liveCount(values((await storedAt(c, a!, "k")).set)), 2, "two dots are stored");
    assert.equal(texts(same), ["v"], "a reader sees the value once");
    const different = await twice("k2", "x", "y");
    assert.equal(texts(different), ["x", "y"], "different values are siblings");
    await put(c, "n01", "k", "w", { context: same.context, level: "all" });
    assert.equal(texts(await get(c, "n01", "k", "all")), ["w"], "the context covered both dots");
    await c.stopAll();
  });
});

test.run();
