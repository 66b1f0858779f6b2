/**
 * The SDK against a real three-node cluster started from the CLI (`meshkv start`, three processes of the
 * runtime running this file, on loopback, N=3 replicas, quorum by default): every method through the
 * cluster, values written through one node read through another, siblings from writers on different nodes,
 * `update()` under concurrent writers on every node losing no increment, a watch on one node seeing changes
 * made through another, and failover when the preferred node is killed with SIGKILL (2 of 3 replicas left,
 * so quorum still holds). The failover test runs last because it takes a node away for good.
 */
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createClient, type MeshkvClient, MeshkvClientError, type WatchEvent } from "../../src/client/mod.ts";
import { eventually, realRuntime, tempDir } from "../_helpers.ts";
import { type NodeProcess, nodeStatus, type RuntimeKind, serving, startProcess } from "../_process.ts";

const rt = await realRuntime();
const host = (process.env.MESHKV_TEST_RUNTIME ?? rt.name) as RuntimeKind;
const SECRET = "client-cluster-test-secret";
const PARTITIONS = 64;
const TIMEOUT_MS = 5000;

const procs: NodeProcess[] = [];
const dirs: string[] = [];
const urls = () => procs.map((p) => p.url);
/** A client over all three endpoints, with failover. */
const clusterClient = (): MeshkvClient => createClient({ endpoints: urls(), timeoutMs: TIMEOUT_MS });
/** A client bound to node `i` alone. */
const pinned = (i: number): MeshkvClient =>
  createClient({ endpoints: [procs[i]!.url], timeoutMs: TIMEOUT_MS, retries: 0 });

async function start(id: string, data: string, seeds: string[]): Promise<NodeProcess> {
  const args = [
    "start",
    "--id",
    id,
    "--port",
    "0",
    "--data",
    data,
    "--mesh-preset",
    "fast",
    "--secret",
    SECRET,
    "--partitions",
    String(PARTITIONS),
  ];
  if (seeds.length) args.push("--seeds", seeds.join(","));
  return await startProcess(host, args);
}

/** Resolves with what `p` resolves to, or fails naming `what` after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((
    _,
    reject,
  ) => (timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<MeshkvClientError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, MeshkvClientError, String(e));
    assert.is((e as MeshkvClientError).code, code, (e as Error).message);
    return e as MeshkvClientError;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

test.before(async () => {
  try {
    for (let i = 0; i < 3; i++) dirs.push(await tempDir(rt.fs, `client-cluster-${i}`));
    procs.push(await start(`${host}-1`, dirs[0]!, []));
    const seed = procs[0]!.url.replace(/^http:\/\//, "");
    procs.push(...(await Promise.all([1, 2].map((i) => start(`${host}-${i + 1}`, dirs[i]!, [seed])))));
    await eventually(
      async () => (await Promise.all(urls().map(serving))).every(Boolean),
      20_000,
      50,
      "three nodes to answer /health with 200",
    );
    await eventually(
      async () =>
        (await Promise.all(urls().map(nodeStatus))).every((s) =>
          s.rebalance.acquiring.length === 0 && s.ring.owners.length === 3
        ),
      20_000,
      50,
      "the ring to settle (three owners, no partition still acquiring)",
    );
  } catch (e) {
    for (const p of procs) console.error(p.output());
    throw e;
  }
});

test.after(async () => {
  await Promise.all(procs.map((p) => p.kill9().catch(() => {})));
  for (const d of dirs) await rt.fs.remove(d, { recursive: true }).catch(() => {});
});

test(`put and get through the cluster (${host} x3): superjson values and bytes written through one node read through each other node alone`, async () => {
  const kv = clusterClient();
  const value = {
    at: new Date("2024-02-29T12:00:00Z"),
    counts: new Map<string, bigint>([["big", 2n ** 70n]]),
    tags: new Set(["a", "b"]),
    nested: { list: [1, "two", null] },
  };
  const w = await kv.put("c/rich", value);
  assert.is(w.created, true);
  assert.type(w.context, "string");
  const bytes = new Uint8Array([0, 1, 2, 250, 255]);
  await pinned(0).put("c/bytes", bytes);
  for (let i = 0; i < 3; i++) {
    const got = await pinned(i).get<typeof value>("c/rich");
    assert.ok(got, `node ${i} reads c/rich`);
    assert.equal(got.values.length, 1);
    assert.equal(got.value, value);
    assert.instance(got.value.at, Date);
    assert.instance(got.value.tags, Set);
    assert.is(got.value.counts.get("big"), 2n ** 70n);
    const raw = await pinned(i).get<Uint8Array>("c/bytes");
    assert.ok(raw, `node ${i} reads c/bytes`);
    assert.instance(raw.value, Uint8Array);
    assert.equal([...raw.value], [...bytes]);
  }
  assert.is(await kv.get("c/absent"), null);
});

test("a write with the read's context supersedes it on every node, and a delete through one node is seen by the others", async () => {
  await pinned(0).put("c/doc", { v: 1 });
  const read = await pinned(1).get<{ v: number }>("c/doc");
  assert.ok(read);
  const w = await pinned(1).put("c/doc", { v: 2 }, { context: read.context });
  assert.is(w.siblings, 1);
  const again = await pinned(2).get<{ v: number }>("c/doc");
  assert.equal(again?.values, [{ v: 2 }]);
  await pinned(2).delete("c/doc", { context: again!.context });
  for (let i = 0; i < 3; i++) assert.is(await pinned(i).get("c/doc"), null, `node ${i} sees the delete`);
});

test("list walks pages in key order with a cursor across partitions, resumable through another node", async () => {
  const kv = clusterClient();
  const keys = Array.from({ length: 23 }, (_, i) => `c/list/${String(i).padStart(2, "0")}`);
  await Promise.all(keys.map((k, i) => kv.put(k, { i })));
  await kv.put("c/listing-outside", 1);
  const pages: string[][] = [];
  for await (const page of kv.list<{ i: number }>({ prefix: "c/list/", limit: 5 })) {
    pages.push(page.items.map((it) => it.key));
    for (const it of page.items) assert.equal(it.value, { i: Number(it.key.slice(-2)) });
    if (page.cursor === null) break;
  }
  assert.equal(pages.flat(), keys, "every key once, in order");
  assert.equal(pages.map((p) => p.length), [5, 5, 5, 5, 3]);
  // Resume from the second page's cursor through a different node.
  const first = await pinned(0).list({ prefix: "c/list/", limit: 10, keysOnly: true })[Symbol.asyncIterator]().next();
  assert.ok(!first.done && first.value.cursor !== null, "the first page has a cursor");
  const rest: string[] = [];
  for await (
    const page of pinned(2).list({ prefix: "c/list/", limit: 10, keysOnly: true, cursor: first.value.cursor! })
  ) rest.push(...page.items.map((it) => it.key));
  assert.equal([...first.value.items.map((it) => it.key), ...rest], keys);
});

test("batch runs mixed gets, puts and deletes through the cluster, each with its own result", async () => {
  const kv = clusterClient();
  await kv.put("c/batch/old", "old");
  const results = await kv.batch([
    { op: "put", key: "c/batch/a", value: new Date(0) },
    { op: "put", key: "c/batch/b", value: new Uint8Array([7, 8]) },
    { op: "get", key: "c/batch/old" },
    { op: "delete", key: "c/batch/old" },
    { op: "get", key: "c/batch/none" },
    { op: "put", key: "c/batch/old2", value: 1, ifNoneMatch: true },
  ]);
  assert.equal(results.map((r) => [r.op, r.ok]), [["put", true], ["put", true], ["get", true], ["delete", true], [
    "get",
    true,
  ], ["put", true]]);
  const got = results[2]!;
  assert.ok(got.ok && got.op === "get" && got.entry?.value === "old");
  const none = results[4]!;
  assert.ok(none.ok && none.op === "get" && none.entry === null);
  assert.instance((await pinned(1).get("c/batch/a"))?.value, Date);
  assert.equal([...((await pinned(2).get<Uint8Array>("c/batch/b"))!.value)], [7, 8]);
  assert.is(await pinned(0).get("c/batch/old"), null);
  const again = await kv.batch([{ op: "put", key: "c/batch/old2", value: 2, ifNoneMatch: true }]);
  assert.ok(
    !again[0]!.ok && again[0]!.error.code === "KEY_EXISTS",
    "create-only put of an existing key fails in the batch",
  );
});

test("consistency levels: a write at `all` is on every replica, so a read at `one` on any node sees it", async () => {
  const kv = clusterClient();
  await kv.put("c/level", "everywhere", { consistency: "all" });
  for (let i = 0; i < 3; i++) {
    assert.is((await pinned(i).get("c/level", { consistency: "one" }))?.value, "everywhere", `node ${i} at one`);
    assert.is((await pinned(i).get("c/level", { consistency: { r: 3 } }))?.value, "everywhere", `node ${i} at r=3`);
  }
  await kv.put("c/level", "one", { consistency: "one", context: (await kv.get("c/level"))!.context });
  // A write at `one` is acknowledged by one replica; the others apply it asynchronously, so a read at `all`
  // (which waits for every replica and merges) returns it.
  assert.equal((await kv.get("c/level", { consistency: "all" }))?.values, ["one"]);
  await kv.delete("c/level", { consistency: "all" });
  for (let i = 0; i < 3; i++) {
    assert.is(await pinned(i).get("c/level", { consistency: "one" }), null, `node ${i} at one after delete at all`);
  }
});

test("two blind puts through different nodes become siblings, visible on every node until a write with the context resolves them", async () => {
  await pinned(0).put("c/sib", "from-0");
  await pinned(1).put("c/sib", "from-1");
  for (let i = 0; i < 3; i++) {
    const e = await pinned(i).get<string>("c/sib");
    assert.ok(e);
    assert.equal([...e.values].sort(), ["from-0", "from-1"], `node ${i} returns both siblings`);
  }
  const e = await pinned(2).get<string>("c/sib");
  const w = await pinned(2).put("c/sib", e!.values.join("+"), { context: e!.context });
  assert.is(w.siblings, 1);
  assert.equal((await pinned(0).get<string>("c/sib"))?.values, [[...e!.values].join("+")]);
});

const increment = async (kv: MeshkvClient, key: string, times: number) => {
  for (let i = 0; i < times; i++) await kv.update<number>(key, ([n = 0]) => n + 1, { retries: 100 });
};

test("update() from three clients whose writes one node coordinates, 10 increments each at once: the counter ends at 30 on every node", async () => {
  const clients = [0, 1, 2].map(() => pinned(0));
  await within(Promise.all(clients.map((kv) => increment(kv, "c/counter-one", 10))), 60_000, "30 concurrent updates");
  for (let i = 0; i < 3; i++) {
    assert.equal(
      (await pinned(i).get<number>("c/counter-one"))?.values,
      [30],
      `node ${i}: no increment lost, no siblings`,
    );
  }
});

test("update() from three clients, each on a different node, 10 increments each at once: no increment is lost", async () => {
  const clients = [0, 1, 2].map(pinned);
  await within(Promise.all(clients.map((kv) => increment(kv, "c/counter", 10))), 60_000, "30 concurrent updates");
  for (let i = 0; i < 3; i++) {
    assert.equal(
      (await pinned(i).get<number>("c/counter", { consistency: "all" }))?.values,
      [30],
      `node ${i} counts 30`,
    );
  }
});

test("a watch opened on one node receives puts and deletes made through the other nodes", async () => {
  const watcher = pinned(0);
  const watch = watcher.watch<{ n: number }>({ prefix: "c/watch/" });
  try {
    await within(watch.ready, 10_000, "the watch to be ready");
    const events: WatchEvent<{ n: number }>[] = [];
    const collecting = (async () => {
      for await (const ev of watch) {
        events.push(ev);
        if (ev.type === "delete") return;
      }
    })();
    await pinned(1).put("c/watch/x", { n: 1 });
    const read = await pinned(2).get("c/watch/x");
    await pinned(2).put("c/watch/x", { n: 2 }, { context: read!.context });
    await pinned(1).put("c/unwatched", 0);
    await pinned(2).delete("c/watch/x", { context: (await pinned(2).get("c/watch/x"))!.context });
    await within(
      collecting,
      10_000,
      `the delete event (events so far: ${JSON.stringify(events.map((e) => [e.type, e.key]))})`,
    );
    const seen = events.filter((e) => e.type !== "gap");
    assert.ok(seen.every((e) => e.key === "c/watch/x"), "only keys under the prefix");
    // The node applies both versions in order, or only the second when it arrives first (the first is then
    // dominated): a watch may skip an intermediate value, never report an older one last.
    const puts = seen.filter((e) => e.type === "put").map((e) => e.values);
    assert.ok(
      JSON.stringify(puts) === JSON.stringify([[{ n: 1 }], [{ n: 2 }]]) ||
        JSON.stringify(puts) === JSON.stringify([[{ n: 2 }]]),
      JSON.stringify(puts),
    );
    assert.is(seen.at(-1)!.type, "delete");
  } finally {
    watch.close();
    watcher.close();
  }
});

test("failover: after kill -9 of the preferred node, reads move to the next endpoint and writes at quorum go on", async () => {
  // A cooldown longer than the test, so a slow machine cannot bring the dead node back into rotation.
  const kv = createClient({ endpoints: urls(), timeoutMs: TIMEOUT_MS, cooldownMs: 120_000 });
  await kv.put("c/failover/before", "kept");
  const preferred = kv.endpoints()[0]!.url;
  const victim = procs.findIndex((p) => p.url === preferred);
  assert.ok(victim >= 0, `the preferred endpoint ${preferred} is one of ours`);
  await procs[victim]!.kill9();

  // A write is not idempotent, so the one that meets the dead node is reported, not replayed elsewhere (it
  // might have landed); the node is then skipped. A read is idempotent and fails over within the call.
  const err = await rejectsWith(kv.put("c/failover/lost", "maybe"), "CONNECT_FAILED");
  assert.is(err.endpoint, preferred);
  assert.is((await kv.get("c/failover/before"))?.value, "kept");
  const order = kv.endpoints();
  assert.is.not(order[0]!.url, preferred, "the dead node is no longer preferred");
  assert.is(order.find((e) => e.url === preferred)?.healthy, false, "the dead node is cooling down");

  // Writes at quorum (2 of 3 replicas up) keep working and are read back through the surviving nodes.
  for (let i = 0; i < 10; i++) await kv.put(`c/failover/${i}`, i);
  const c = await kv.update<number>("c/failover/counter", ([n = 0]) => n + 1);
  assert.is(c.value, 1);
  const survivors = [0, 1, 2].filter((i) => i !== victim);
  for (const i of survivors) {
    for (let k = 0; k < 10; k++) {
      assert.is((await pinned(i).get(`c/failover/${k}`))?.value, k, `node ${i} reads c/failover/${k}`);
    }
  }
  const pages: string[] = [];
  for await (const page of kv.list({ prefix: "c/failover/", keysOnly: true })) {
    pages.push(...page.items.map((it) => it.key));
  }
  assert.is(pages.length, 12, `list with a node down: ${pages.join(", ")}`);
  await kv.delete("c/failover/0");
  assert.is(await kv.get("c/failover/0"), null);

  // A new client probes its endpoints on first use, so even its first write avoids the dead node.
  const fresh = createClient({ endpoints: [preferred, ...survivors.map((i) => procs[i]!.url)], timeoutMs: TIMEOUT_MS });
  await fresh.put("c/failover/fresh", "ok");
  assert.is((await kv.get("c/failover/fresh"))?.value, "ok");
});

test.run();
