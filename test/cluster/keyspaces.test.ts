/**
 * Keyspaces: per key-prefix defaults for levels and conflict mode, parsed from `--keyspaces` entries, and what
 * they change in a replicated cluster (simulation).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Keyspaces, parseKeyspace } from "../../src/cluster/keyspaces.ts";
import { isMeshkvError } from "../../src/errors.ts";
import { get, kvCluster, put, texts } from "./_kv_sim.ts";

test("parseKeyspace reads prefix=setting:value;... and refuses anything else with INVALID_ARGUMENT", () => {
  assert.equal(parseKeyspace("sessions/=conflicts:lww;write:one;read:r=2"), { prefix: "sessions/", conflicts: "lww", write: "one", read: { r: 2 } });
  assert.equal(parseKeyspace("a=b/="), { prefix: "a=b/" });
  for (const bad of ["=read:one", "x/=read:sometimes", "x/=conflicts:newest", "x/=colour:red", "x/=read", "noequals"]) {
    try {
      parseKeyspace(bad);
      assert.unreachable(bad);
    } catch (err) {
      assert.ok(isMeshkvError(err, "INVALID_ARGUMENT"), `${bad}: ${String(err)}`);
    }
  }
});

test("a key gets the settings of the longest prefix it starts with, and the cluster's defaults otherwise", () => {
  const k = new Keyspaces([{ prefix: "a/", write: "one" }, { prefix: "a/b/", conflicts: "lww" }], { read: "quorum", write: "all", conflicts: "siblings" });
  assert.equal(k.of("a/b/c"), { keyspace: "a/b/", read: "quorum", write: "all", conflicts: "lww" });
  assert.equal(k.of("a/x"), { keyspace: "a/", read: "quorum", write: "one", conflicts: "siblings" });
  assert.equal(k.of("zzz"), { keyspace: null, read: "quorum", write: "all", conflicts: "siblings" });
  try {
    new Keyspaces([{ prefix: "a/" }, { prefix: "a/" }], { read: "one", write: "one", conflicts: "siblings" });
    assert.unreachable("duplicate prefixes");
  } catch (err) {
    assert.ok(isMeshkvError(err, "INVALID_ARGUMENT"));
  }
});

test("in one cluster, a last-writer-wins keyspace shows one value and takes writes at its own level, while other keys keep siblings and quorum", async () => {
  const c = await kvCluster(501, {
    size: 3,
    replication: { sloppy: false, keyspaces: [{ prefix: "s/", conflicts: "lww", write: "one", read: "one" }] },
  });
  await Promise.all([put(c, "n01", "s/x", "a"), put(c, "n02", "s/x", "b")]);
  await Promise.all([put(c, "n01", "c/x", "a"), put(c, "n02", "c/x", "b")]);
  assert.is((await get(c, "n03", "s/x", "all")).values.length, 1, "lww keyspace: one value");
  assert.equal(texts(await get(c, "n03", "c/x", "all")), ["a", "b"], "default keyspace: siblings");
  await c.crash("n02");
  await c.crash("n03");
  assert.ok(await c.runUntil(() => c.statusOf("n01", "n02") === "down" && c.statusOf("n01", "n03") === "down", 10_000) !== null);
  const w = await put(c, "n01", "s/y", "alone");
  assert.is(w.siblings, 1, "the keyspace's default write level (one) is met by one replica");
  assert.equal(texts(await get(c, "n01", "s/y")), ["alone"]);
  try {
    await put(c, "n01", "c/y", "alone");
    assert.unreachable("the cluster's default (quorum) cannot be met");
  } catch (err) {
    assert.ok(isMeshkvError(err, "QUORUM_UNMET"), String(err));
  }
  await c.stopAll();
});

test.run();
