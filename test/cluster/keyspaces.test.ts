/**
 * Keyspaces: per key-prefix defaults for levels, conflict mode and replica counts, parsed from `--keyspaces`
 * entries, and what they change in a replicated cluster (simulation).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyDefaults, parseFlags, withoutDefaults } from "../../src/cli/args.ts";
import { replicationOptions, START_FLAGS } from "../../src/cli/start.ts";
import { Keyspaces, parseKeyspace } from "../../src/cluster/keyspaces.ts";
import { type ReplicationConfig, RingView } from "../../src/cluster/ring_view.ts";
import { SimCluster } from "../../src/testing/sim_cluster.ts";
import { isMeshkvError } from "../../src/errors.ts";
import { drive, get, kvCluster, put, replicasOf, storedAt, texts } from "./_kv_sim.ts";

function refuses(what: string, f: () => unknown): void {
  try {
    f();
    assert.unreachable(what);
  } catch (err) {
    assert.ok(isMeshkvError(err, "INVALID_ARGUMENT"), `${what}: ${String(err)}`);
  }
}

/** The nodes whose own store holds a live or deleted version of `key`. */
async function holders(c: SimCluster, key: string): Promise<string[]> {
  const out: string[] = [];
  for (const id of c.backends.keys()) if ((await storedAt(c, id, key)).set.entries.length > 0) out.push(id);
  return out.sort();
}

test("parseKeyspace reads prefix=setting:value;... and refuses anything else with INVALID_ARGUMENT", () => {
  assert.equal(parseKeyspace("sessions/=conflicts:lww;write:one;read:r=2"), {
    prefix: "sessions/",
    conflicts: "lww",
    write: "one",
    read: { r: 2 },
  });
  assert.equal(parseKeyspace("a=b/="), { prefix: "a=b/" });
  assert.equal(parseKeyspace("t/=replicas:2"), { prefix: "t/", replicas: { n: 2 } });
  assert.equal(parseKeyspace("eu/=replicas:us-east:0+eu-west:2;read:local_quorum"), {
    prefix: "eu/",
    replicas: { replication: { "us-east": 0, "eu-west": 2 } },
    read: "local_quorum",
  });
  for (
    const bad of [
      "=read:one",
      "x/=read:sometimes",
      "x/=conflicts:newest",
      "x/=colour:red",
      "x/=read",
      "noequals",
      "x/=replicas:0",
      "x/=replicas:33",
      "x/=replicas:two",
      "x/=replicas:us:1+us:2",
      "x/=replicas:us:0",
      "x/=replicas:us=2",
    ]
  ) {
    refuses(bad, () => parseKeyspace(bad));
  }
});

test("each distinct replica setting is one replica class: 0 is the cluster's, the others in the order keyspaces name them", () => {
  const k = new Keyspaces([
    { prefix: "a/", replicas: { n: 5 } },
    { prefix: "b/", replicas: { n: 3 } },
    { prefix: "c/", replicas: { n: 1 } },
    { prefix: "d/", replicas: { n: 5 } },
    { prefix: "e/" },
    { prefix: "f/", replicas: { replication: { y: 1, x: 2 } } },
    { prefix: "g/", replicas: { replication: { x: 2, y: 1, z: 0 } } },
  ], { read: "quorum", write: "quorum", conflicts: "siblings", replicas: { n: 3 } });
  assert.equal(k.classes, [{ n: 3 }, { n: 5 }, { n: 1 }, { replication: { y: 1, x: 2 } }]);
  assert.equal(["a/1", "b/1", "c/1", "d/1", "e/1", "f/1", "g/1", "zzz"].map((key) => k.classOf(key)), [
    1,
    0,
    2,
    1,
    0,
    3,
    3,
    0,
  ]);
  // Store partitions: ring partitions times classes, within the engine's u16 partition numbers.
  const config: ReplicationConfig = {
    partitions: 64,
    n: 3,
    sloppy: true,
    keyspaces: [{ prefix: "a/", replicas: { n: 5 } }],
  };
  const view = new RingView(config);
  assert.is(view.partitions, 128);
  assert.ok(
    view.partitionOf("a/x") >= 64 && view.partitionOf("a/x") < 128,
    "a class 1 key is in the second block of partitions",
  );
  assert.equal(view.samePlace(view.partitionOf("a/x")), [view.partitionOf("a/x") - 64, view.partitionOf("a/x")]);
  assert.ok(view.partitionOf("zzz") < 64);
  refuses("65536 partitions and two classes", () => new RingView({ ...config, partitions: 65_536 }));
  refuses(
    "a keyspace with 40 replicas",
    () => new RingView({ ...config, keyspaces: [{ prefix: "a/", replicas: { n: 40 } }] }),
  );
});

test("a key gets the settings of the longest prefix it starts with, and the cluster's defaults otherwise", () => {
  const k = new Keyspaces([{ prefix: "a/", write: "one" }, { prefix: "a/b/", conflicts: "lww", replicas: { n: 2 } }], {
    read: "quorum",
    write: "all",
    conflicts: "siblings",
  });
  assert.equal(k.of("a/b/c"), { keyspace: "a/b/", read: "quorum", write: "all", conflicts: "lww", replicaClass: 1 });
  assert.equal(k.of("a/x"), { keyspace: "a/", read: "quorum", write: "one", conflicts: "siblings", replicaClass: 0 });
  assert.equal(k.of("zzz"), { keyspace: null, read: "quorum", write: "all", conflicts: "siblings", replicaClass: 0 });
  refuses(
    "duplicate prefixes",
    () => new Keyspaces([{ prefix: "a/" }, { prefix: "a/" }], { read: "one", write: "one", conflicts: "siblings" }),
  );
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
  assert.ok(
    await c.runUntil(() => c.statusOf("n01", "n02") === "down" && c.statusOf("n01", "n03") === "down", 10_000) !== null,
  );
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

test("keyspaces with their own replica counts: each key lives on exactly its replicas, through anti-entropy, a failure and a join", async () => {
  const seed = 511;
  const c = await kvCluster(seed, {
    size: 5,
    replication: {
      n: 3,
      keyspaces: [{ prefix: "wide/", replicas: { n: 5 } }, {
        prefix: "one/",
        replicas: { n: 1 },
        write: "one",
        read: "one",
      }],
    },
  });
  const keys = (prefix: string) => Array.from({ length: 12 }, (_, i) => `${prefix}${i}`);
  const all = [...keys("wide/"), ...keys("one/"), ...keys("plain/")];
  for (const key of all) await put(c, `n0${1 + (key.length % 5)}`, key, key);
  // Anti-entropy runs many sweeps (every node exchanges a partition each 50 ms); it must not spread a key
  // beyond its replica set, nor leave one of them without it.
  await c.run(20_000);
  const wanted = { "wide/": 5, "one/": 1, "plain/": 3 } as Record<string, number>;
  for (const key of all) {
    const want = wanted[key.slice(0, key.indexOf("/") + 1)]!;
    const replicas = replicasOf(c, "n01", key).sort();
    assert.is(replicas.length, want, `${key}: replica count (seed ${seed})`);
    assert.equal(await holders(c, key), replicas, `${key}: stored on exactly its replicas (seed ${seed})`);
  }
  // Quorum of five is three: a wide key stays writable and readable at quorum with two nodes down,
  // where a plain key with two of its three replicas down is not.
  const wideKey = "wide/0";
  const plainKey = keys("plain/").find((k) => !replicasOf(c, "n01", k).includes("n01"))!;
  const down = replicasOf(c, "n01", plainKey).slice(0, 2);
  for (const id of down) await c.crash(id);
  assert.ok(await c.runUntil(() => down.every((id) => c.statusOf("n01", id) === "down"), 10_000) !== null);
  await put(c, "n01", wideKey, "again", { level: "quorum", context: (await get(c, "n01", wideKey)).context });
  assert.equal(texts(await get(c, "n01", wideKey, "quorum")), ["again"]);
  try {
    await drive(c, c.kv("n01").get(plainKey, { consistency: "quorum" }));
    assert.unreachable("a plain key with two of three replicas down cannot be read at quorum");
  } catch (err) {
    assert.ok(isMeshkvError(err, "QUORUM_UNMET"), String(err));
  }
  for (const id of down) await c.restart(id);
  assert.ok(
    await c.runUntil(
      () => c.allSee("alive") && [...c.backends.values()].every((b) => b.settled() && b.hints.stats().pending === 0),
      30_000,
    ) !== null,
    "restarted nodes come back",
  );
  // A sixth node joins: wide keys now have five of six nodes, and every key keeps exactly its replica count.
  await c.start("n06");
  assert.ok(
    await c.runUntil(
      () => c.allSee("alive") && c.converged() && [...c.backends.values()].every((b) => b.settled()),
      30_000,
    ) !== null,
    "the join settles",
  );
  await c.run(20_000);
  for (const key of all) {
    const replicas = replicasOf(c, "n06", key).sort();
    assert.is(replicas.length, wanted[key.slice(0, key.indexOf("/") + 1)]!, `${key}: replica count after the join`);
    assert.equal(
      await holders(c, key),
      replicas,
      `${key}: stored on exactly its replicas after the join (seed ${seed})`,
    );
    assert.equal(
      texts(await get(c, "n06", key, "quorum")),
      [key === wideKey ? "again" : key],
      `${key}: readable after the join`,
    );
  }
  // Listing sees every class; a hash-tag listing too.
  const page = await drive(
    c,
    c.kv("n02").list({
      prefix: "",
      limit: 1000,
      keysOnly: true,
      after: null,
      start: null,
      end: null,
      consistency: null,
    }),
  );
  assert.equal(page.items.map((i) => i.key), [...all].sort());
  await c.stopAll();
});

test("anti-entropy sweeps the empty partitions of a replica class without pacing them like the others", async () => {
  // 64 ring partitions and two classes (N = 3 and 2 of 3 nodes): every node replicates over 100 store partitions,
  // more than one exchange per 50 ms reaches in 4.5 s; the empty ones (the unused class's, and the class-0
  // partitions no key hashed to) go back to back.
  const c = await kvCluster(541, { size: 3, replication: { keyspaces: [{ prefix: "rare/", replicas: { n: 2 } }] } });
  for (let i = 0; i < 64; i++) await put(c, "n01", `k${i}`, "v");
  const started = c.clock.now();
  await c.run(4_500);
  for (const id of ["n01", "n02", "n03"]) {
    const status = await c.kv(id).status();
    const ae = status.antiEntropy as { partitions: Record<string, { lastExchangeMs: number }> };
    const mine = (status.partitions as { replicated: number }).replicated;
    const swept = Object.values(ae.partitions).filter((x) => x.lastExchangeMs >= started).length;
    assert.ok(mine > 90, `${id} replicates ${mine} partitions: more than one exchange per 50 ms could reach in 4.5 s`);
    assert.is(swept, mine, `${id} exchanged ${swept} of its ${mine} partitions in 4.5 s`);
  }
  await c.stopAll();
});

test("per-datacenter factors per keyspace: a keyspace kept in one region has its replicas only there", async () => {
  const c = await kvCluster(521, {
    size: 4,
    datacenters: ["us", "eu"],
    replication: {
      replication: { us: 1, eu: 1 },
      keyspaces: [{ prefix: "us/", replicas: { replication: { us: 2 } }, read: "local_quorum", write: "local_quorum" }],
    },
  });
  for (let i = 0; i < 8; i++) {
    await put(c, "n01", `us/${i}`, "x");
    await put(c, "n02", `both/${i}`, "y");
  }
  await c.run(10_000);
  const dcOf = (id: string) => (Number(id.slice(1)) - 1) % 2 === 0 ? "us" : "eu";
  for (let i = 0; i < 8; i++) {
    assert.equal((await holders(c, `us/${i}`)).map(dcOf), ["us", "us"], `us/${i} stays in us`);
    assert.equal((await holders(c, `both/${i}`)).map(dcOf).sort(), ["eu", "us"], `both/${i}: one copy per region`);
  }
  await c.stopAll();
});

test("meshkv start --keyspaces takes replica counts, and refuses ones the cluster cannot place with INVALID_ARGUMENT", () => {
  const options = (...args: string[]) =>
    replicationOptions(applyDefaults(parseFlags(args, withoutDefaults(START_FLAGS)).flags, START_FLAGS));
  const r = options("--keyspaces", "cache/=replicas:1;write:one,geo/=replicas:us:1+eu:2").replication;
  assert.equal(r.keyspaces, [{ prefix: "cache/", replicas: { n: 1 }, write: "one" }, {
    prefix: "geo/",
    replicas: { replication: { us: 1, eu: 2 } },
  }]);
  assert.is(new RingView(r).partitions, 3 * 256, "three replica classes of the default 256 partitions");
  refuses(
    "65536 partitions with a second class",
    () => options("--partitions", "65536", "--keyspaces", "a/=replicas:2"),
  );
  refuses("a keyspace with 0 replicas", () => options("--keyspaces", "a/=replicas:0"));
  // The same count as the cluster's is no new class.
  assert.is(new RingView(options("--replicas", "2", "--keyspaces", "a/=replicas:2").replication).partitions, 256);
});

test("a node started with other keyspace replica counts is reported by its peers, and reports them", async () => {
  const c = await kvCluster(531, { size: 2, replication: { keyspaces: [{ prefix: "a/", write: "one" }] } });
  await c.start("n03", { replication: { keyspaces: [{ prefix: "a/", write: "one", replicas: { n: 1 } }] } });
  const mismatches = async (id: string) =>
    ((await c.kv(id).status()).configMismatches as { node: string }[]).map((m) => m.node).sort();
  assert.ok(await c.runUntil(() => c.allSee("alive"), 15_000) !== null, "n03 joins");
  await c.run(3_000);
  assert.equal(await mismatches("n01"), ["n03"]);
  assert.equal(await mismatches("n02"), ["n03"]);
  assert.equal(await mismatches("n03"), ["n01", "n02"]);
  const metrics = c.kv("n01").metrics().find((m) => m.name === "meshkv_config_mismatches");
  assert.is(metrics?.value, 1);
  // Levels are per node and may differ: they do not count as a mismatch.
  await c.crash("n03");
  await c.start("n03", { replication: { keyspaces: [{ prefix: "a/", write: "all" }] } });
  await c.run(5_000);
  assert.equal(await mismatches("n01"), [], "the restarted n03 (new incarnation) agrees");
  assert.equal(await mismatches("n03"), []);
  await c.stopAll();
});

test("a keyspace whose factors name only a datacenter without nodes answers QUORUM_UNMET saying so, and the status warns", async () => {
  const c = await kvCluster(551, {
    size: 3,
    datacenters: ["us"],
    replication: { keyspaces: [{ prefix: "eu/", replicas: { replication: { eu: 2 } } }] },
  });
  for (const attempt of [() => put(c, "n01", "eu/x", "v"), () => get(c, "n02", "eu/x")]) {
    try {
      await attempt();
      assert.unreachable("no replica can take it");
    } catch (err) {
      assert.ok(isMeshkvError(err, "QUORUM_UNMET"), String(err));
      assert.match((err as Error).message, /has no replicas/);
    }
  }
  const warnings = ((await c.kv("n01").status()).ring as { warnings: { code: string; datacenter: string }[] }).warnings;
  assert.ok(warnings.some((w) => w.code === "NO_SUCH_DATACENTER" && w.datacenter === "eu"), JSON.stringify(warnings));
  await put(c, "n01", "us/x", "v");
  assert.equal(texts(await get(c, "n02", "us/x")), ["v"], "other keys are served as usual");
  await c.stopAll();
});

test.run();
