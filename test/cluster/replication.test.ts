/**
 * The replicated backend in the deterministic simulation: quorum reads and writes through any node, siblings,
 * sloppy quorums with hinted handoff, strict quorums, read repair and deletes. Scenarios run over a few seeds;
 * a failure names its seed (replay with MESHKV_SIM_SEED=<seed>).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sameVersion, values } from "../../src/core/version.ts";
import { isMeshkvError } from "../../src/errors.ts";
import type { ListPage } from "../../src/kv/backend.ts";
import { liveCount } from "../../src/cluster/records.ts";
import { del, drive, get, kvCluster, put, replicasOf, storedAt, texts } from "./_kv_sim.ts";
import { forEachSeed, seedsFor } from "./_sim.ts";

test("a write acknowledged at quorum through one node is read at quorum through every node, and lands on all three replicas", async () => {
  await forEachSeed(seedsFor(3, 301), async (seed) => {
    const c = await kvCluster(seed, { size: 3 });
    const w = await put(c, "n01", "user:1", "ada");
    assert.is(w.created, true);
    for (const id of ["n01", "n02", "n03"]) assert.equal(texts(await get(c, id, "user:1")), ["ada"]);
    await c.run(500);
    for (const id of ["n01", "n02", "n03"]) {
      assert.equal((await storedAt(c, id, "user:1")).set.entries.length, 1, `${id} holds the write`);
    }
    const missing = await get(c, "n02", "nobody");
    assert.equal(missing.values, []);
    await c.stopAll();
  });
});

test("a node that is no replica forwards the write to one, and the answer carries the new context", async () => {
  await forEachSeed(seedsFor(2, 302), async (seed) => {
    const c = await kvCluster(seed, { size: 5 });
    let key = "k0";
    for (let i = 0; replicasOf(c, "n01", key).includes("n01"); i++) key = `k${i}`;
    const w = await put(c, "n01", key, "v1");
    assert.ok(w.context.length === 1 && !w.context[0]!.node.startsWith("n01."), "a replica coordinated the write");
    assert.ok(c.kv("n01").status !== undefined);
    const w2 = await put(c, "n01", key, "v2", { context: w.context });
    assert.is(w2.siblings, 1, "a write with the context supersedes the first");
    assert.equal(texts(await get(c, "n04", key)), ["v2"]);
    await c.stopAll();
  });
});

test("concurrent blind writes through different nodes become siblings; a write with their context resolves them", async () => {
  await forEachSeed(seedsFor(3, 303), async (seed) => {
    const c = await kvCluster(seed, { size: 3 });
    const [a, b] = await Promise.all([put(c, "n01", "cart", "apple"), put(c, "n02", "cart", "pear")]);
    assert.ok(a && b);
    const r = await get(c, "n03", "cart", "all");
    assert.equal(texts(r), ["apple", "pear"], "neither write is lost");
    const w = await put(c, "n03", "cart", "apple+pear", { context: r.context });
    assert.is(w.siblings, 1);
    assert.equal(texts(await get(c, "n01", "cart", "all")), ["apple+pear"]);
    await c.stopAll();
  });
});

test("with a replica down, quorum writes land on a stand-in with a hint, which is handed back when the replica returns", async () => {
  await forEachSeed(seedsFor(3, 304), async (seed) => {
    const c = await kvCluster(seed, { size: 5 });
    let key = "h0";
    for (let i = 0; !replicasOf(c, "n01", key).includes("n03") || replicasOf(c, "n01", key)[0] === "n03"; i++) {
      key = `h${i}`;
    }
    await c.crash("n03");
    assert.ok(
      await c.runUntil(() => [...c.nodes.keys()].every((o) => c.statusOf(o, "n03") === "down"), 10_000) !== null,
    );
    const w = await put(c, "n01", key, "while-down", { level: "all" });
    assert.is(w.siblings, 1, "level all is met with the stand-in");
    const pending = () => [...c.backends.values()].reduce((n, b) => n + b.hints.stats().pending, 0);
    assert.is(pending(), 1, "exactly one hint is kept, for n03");
    await c.restart("n03");
    const t = await c.runUntil(() => pending() === 0 && c.backends.get("n03")?.ready() === true, 15_000);
    assert.ok(t !== null, "the hint was delivered");
    const s = await storedAt(c, "n03", key);
    assert.is(liveCount(values(s.set)), 1, "n03 holds the write it missed");
    await c.stopAll();
  });
});

test("strict quorum: with two of three replicas down a quorum write fails with QUORUM_UNMET and counts, while level one succeeds", async () => {
  await forEachSeed(seedsFor(2, 305), async (seed) => {
    const c = await kvCluster(seed, { size: 3, replication: { sloppy: false } });
    await c.crash("n02");
    await c.crash("n03");
    assert.ok(
      await c.runUntil(() => c.statusOf("n01", "n02") === "down" && c.statusOf("n01", "n03") === "down", 10_000) !==
        null,
    );
    try {
      await put(c, "n01", "x", "1");
      assert.unreachable("quorum cannot be met");
    } catch (err) {
      assert.ok(isMeshkvError(err, "QUORUM_UNMET"), String(err));
      assert.match(err.message, /quorum needs 2 of 3/);
      assert.is((err.details as { failed: number }).failed, 2);
    }
    const w = await put(c, "n01", "x", "2", { level: "one" });
    // The failed write was applied on n01 before the quorum failed (a failed write may or may not have been
    // stored, as in Dynamo and Riak; there is no rollback), so this blind write keeps it as a sibling.
    assert.is(w.siblings, 2);
    try {
      await get(c, "n01", "x", "quorum");
      assert.unreachable("quorum read cannot be met");
    } catch (err) {
      assert.ok(isMeshkvError(err, "QUORUM_UNMET"));
    }
    assert.equal(texts(await get(c, "n01", "x", "one")), ["1", "2"]);
    await c.stopAll();
  });
});

test("a read that finds a stale replica repairs it after answering", async () => {
  await forEachSeed(seedsFor(2, 306), async (seed) => {
    const c = await kvCluster(seed, { size: 3, timings: { antiEntropyIntervalMs: 3_600_000 } });
    c.net.partition(["n03"], ["n01", "n02"]);
    const w = await put(c, "n01", "doc", "v1", { level: "quorum" });
    c.net.heal();
    assert.is((await storedAt(c, "n03", "doc")).set.entries.length, 0, "n03 missed the write");
    assert.equal(texts(await get(c, "n02", "doc", "all")), ["v1"]);
    await c.run(200);
    const s = await storedAt(c, "n03", "doc");
    assert.ok(sameVersion(s.set, (await storedAt(c, "n01", "doc")).set), "read repair brought n03 up to date");
    assert.ok(w.context.length === 1);
    await c.stopAll();
  });
});

test("a delete made while a replica is cut off does not come back once it rejoins and anti-entropy runs", async () => {
  await forEachSeed(seedsFor(2, 307), async (seed) => {
    const c = await kvCluster(seed, { size: 3 });
    await put(c, "n01", "gone", "v1", { level: "all" });
    c.net.partition(["n03"], ["n01", "n02"]);
    const d = await del(c, "n01", "gone", { level: "quorum" });
    assert.is(d.siblings, 0);
    assert.is(liveCount(values((await storedAt(c, "n03", "gone")).set)), 1, "n03 still has the old value");
    c.net.heal();
    await c.run(10_000); // anti-entropy visits every partition (64, one exchange per 100 ms per node)
    for (const id of ["n01", "n02", "n03"]) {
      assert.is(liveCount(values((await storedAt(c, id, "gone")).set)), 0, `${id} holds the delete`);
    }
    assert.equal((await get(c, "n03", "gone", "all")).values, []);
    await c.stopAll();
  });
});

test("list gathers every partition in key order with a resumable cursor, and a hash-tagged prefix reads one partition", async () => {
  const c = await kvCluster(11, { size: 3 });
  const keys = Array.from({ length: 30 }, (_, i) => `item:${String(i).padStart(2, "0")}`);
  for (const k of keys) await put(c, "n01", k, k);
  for (let i = 0; i < 5; i++) await put(c, "n02", `{user:7}/order/${i}`, `o${i}`);
  const seen: string[] = [];
  let after: string | null = null;
  do {
    const page: ListPage = await drive(
      c,
      c.kv("n03").list({
        prefix: "item:",
        start: null,
        end: null,
        after,
        limit: 7,
        keysOnly: false,
        consistency: null,
      }),
    );
    seen.push(...page.items.map((i) => i.key));
    after = page.next;
  } while (after !== null);
  assert.equal(seen, keys);
  const tagged = await drive(
    c,
    c.kv("n01").list({
      prefix: "{user:7}/",
      start: null,
      end: null,
      after: null,
      limit: 100,
      keysOnly: true,
      consistency: null,
    }),
  );
  assert.equal(tagged.items.map((i) => i.key), [0, 1, 2, 3, 4].map((i) => `{user:7}/order/${i}`));
  await c.stopAll();
});

test("three regions cut off from each other all keep taking local_quorum writes, and converge to siblings once they reconnect", async () => {
  await forEachSeed(seedsFor(2, 308), async (seed) => {
    const dcs = ["us", "eu", "ap"];
    const c = await kvCluster(seed, {
      size: 6,
      datacenters: dcs,
      replication: { replication: { us: 1, eu: 1, ap: 1 } },
    });
    const inDc = (dc: string) => [...c.nodes.keys()].filter((_, i) => dcs[i % 3] === dc);
    await put(c, "n01", "shared", "before", { level: "each_quorum" });
    const before = await get(c, "n03", "shared", "each_quorum");
    assert.equal(texts(before), ["before"]);
    c.net.partition(inDc("us"), [...inDc("eu"), ...inDc("ap")]);
    c.net.partition(inDc("eu"), inDc("ap"));
    const writes = await Promise.all(
      dcs.map((dc) => put(c, inDc(dc)[0]!, "shared", `from-${dc}`, { context: before.context, level: "local_quorum" })),
    );
    assert.is(writes.length, 3, "every region accepted its write");
    for (const dc of dcs) {
      assert.equal(
        texts(await get(c, inDc(dc)[1]!, "shared", "local_quorum")),
        [`from-${dc}`],
        `${dc} reads its own write`,
      );
    }
    try {
      await put(c, "n01", "shared", "global", { level: "each_quorum" });
      assert.unreachable("each_quorum needs every region");
    } catch (err) {
      assert.ok(isMeshkvError(err, "QUORUM_UNMET") || isMeshkvError(err, "TIMEOUT"), String(err));
    }
    c.net.heal();
    assert.ok(await c.runUntil(() => c.allSee("alive"), 10_000) !== null);
    await c.run(8_000);
    const after = await get(c, "n02", "shared", "all");
    assert.ok(
      ["from-us", "from-eu", "from-ap"].every((v) => texts(after).includes(v)),
      `every region's write survives: ${texts(after).join(", ")}`,
    );
    await c.stopAll();
  });
});

test("a last-writer-wins cluster shows one value: the latest stamped write wins on every node, and deletes win the same way", async () => {
  await forEachSeed(seedsFor(2, 309), async (seed) => {
    const c = await kvCluster(seed, { size: 3, replication: { conflicts: "lww" } });
    await put(c, "n01", "lww", "first");
    await c.run(5);
    const [a, b] = await Promise.all([put(c, "n02", "lww", "second"), put(c, "n03", "lww", "third")]);
    assert.is(a.siblings, 1);
    assert.is(b.siblings, 1);
    const seen = await Promise.all(["n01", "n02", "n03"].map((id) => get(c, id, "lww", "all")));
    for (const r of seen) assert.is(r.values.length, 1, "never siblings");
    assert.equal(texts(seen[0]!), texts(seen[1]!));
    assert.equal(texts(seen[1]!), texts(seen[2]!));
    assert.ok(["second", "third"].includes(texts(seen[0]!)[0]!), "a write that came after the first wins");
    await del(c, "n01", "lww");
    assert.equal((await get(c, "n02", "lww", "all")).values, []);
    await put(c, "n03", "lww", "again");
    assert.equal(texts(await get(c, "n01", "lww", "all")), ["again"]);
    await c.stopAll();
  });
});

test("a deleted key's history is purged only after every replica exchanged it and the grace passed; expiry is the same on every node", async () => {
  await forEachSeed(seedsFor(1, 310), async (seed) => {
    const c = await kvCluster(seed, { size: 3, timings: { tombstoneGraceMs: 2_000 } });
    await put(c, "n01", "temp", "v", { level: "all", ttlMs: 1_000 });
    assert.equal(texts(await get(c, "n02", "temp", "all")), ["v"]);
    await c.run(1_500);
    for (const id of ["n01", "n02", "n03"]) {
      assert.equal((await get(c, id, "temp", "one")).values, [], `expired on ${id}`);
    }

    await put(c, "n01", "doomed", "v", { level: "all" });
    await del(c, "n02", "doomed", { level: "all" });
    const p = c.kv("n01").view.partitionOf("doomed");
    const compactAll = async () => {
      for (const id of ["n01", "n02", "n03"]) {
        await drive(c, c.kv(id).store.engine.flush());
        await drive(c, c.kv(id).store.engine.compact());
      }
    };
    await compactAll();
    for (const id of ["n01", "n02", "n03"]) {
      const e = await drive(c, c.kv(id).store.engine.get(p, "doomed", { includeTombstones: true }));
      assert.ok(e?.tombstone, `${id} keeps the delete's history within the grace`);
    }
    await c.run(8_000); // anti-entropy sweeps every partition with both peers, and the grace passes
    await compactAll();
    for (const id of ["n01", "n02", "n03"]) {
      const e = await drive(c, c.kv(id).store.engine.get(p, "doomed", { includeTombstones: true }));
      assert.is(e, undefined, `${id} purged the history once every replica held the delete`);
    }
    assert.equal((await get(c, "n03", "doomed", "all")).values, []);
    await c.stopAll();
  });
});

test("siblings that would not fit one mesh frame are refused with LIMIT_EXCEEDED naming setBytesMax, and the key keeps working", async () => {
  const c = await kvCluster(311, { size: 3 });
  const big = "x".repeat(1024 * 1024 - 64);
  for (let i = 0; i < 3; i++) await put(c, "n01", "fat", big + i);
  try {
    await put(c, "n01", "fat", big + 3);
    assert.unreachable("a fourth 1 MiB sibling does not fit");
  } catch (err) {
    assert.ok(isMeshkvError(err, "LIMIT_EXCEEDED"), String(err));
    assert.match(err.message, /setBytesMax/);
  }
  const r = await get(c, "n02", "fat", "all");
  assert.is(r.values.length, 3, "every replica holds the three siblings");
  const w = await put(c, "n03", "fat", "resolved", { context: r.context });
  assert.is(w.siblings, 1);
  await c.stopAll();
});

test("a leave hands off a partition holding more than a mesh frame of values, in pages that fit one", async () => {
  const c = await kvCluster(321, { size: 4 });
  // 80 keys of 64 KiB under one hash tag: one partition holding 5 MiB, more than a 4 MiB mesh frame.
  const big = "x".repeat(64 * 1024);
  const keys = Array.from({ length: 80 }, (_, i) => `{fat}k${i}`);
  for (const k of keys) await put(c, "n01", k, big + k, { level: "all" });
  const leaver = replicasOf(c, "n01", keys[0]!).find((id) => id !== "n01")!;
  const leaving = c.kv(leaver).leave();
  let result: Awaited<typeof leaving> | null = null;
  void leaving.then((r) => (result = r));
  assert.ok(await c.runUntil(() => result !== null, 60_000) !== null, "the leave finishes its handoff");
  assert.is(result!.drained, true);
  assert.is(c.kv(leaver).store.partitionsHeld().length, 0, "the leaver handed everything off");
  const via = ["n01", "n02", "n03", "n04"].find((id) => id !== leaver)!;
  const newReplicas = replicasOf(c, via, keys[0]!);
  assert.not.ok(newReplicas.includes(leaver));
  for (const id of newReplicas) {
    const s = await storedAt(c, id, keys[79]!);
    assert.is(s.set.entries.length > 0, true, `${id}, a replica now, holds the partition`);
  }
  for (const k of [keys[0]!, keys[40]!, keys[79]!]) assert.equal(texts(await get(c, via, k, "quorum")), [big + k]);
  await c.stopAll();
});

test.run();
