/**
 * The SDK against a real server on loopback: every method, value round-trips through superjson and raw
 * bytes, siblings, typed errors, TTL, listing pages, batches and status.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createClient, isMeshkvClientError, MeshkvClientError } from "../../src/client/mod.ts";
import { startNode, type TestNode } from "./_server.ts";

let node: TestNode;
const client = () => createClient({ endpoints: node.urls, timeoutMs: 5000 });

test.before(async () => {
  node = await startNode();
});
test.after(async () => {
  await node.close();
});

async function rejects(p: Promise<unknown>, code: string, status: number): Promise<MeshkvClientError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, MeshkvClientError);
    assert.is((e as MeshkvClientError).code, code, (e as Error).message);
    assert.is((e as MeshkvClientError).status, status);
    return e as MeshkvClientError;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

test("values round-trip through superjson: Date, Map, Set, BigInt, undefined and nesting", async () => {
  const kv = client();
  const value = {
    name: "Ada",
    born: new Date("1815-12-10T00:00:00Z"),
    tags: new Set(["math", "poetry"]),
    scores: new Map<string, bigint>([["a", 12345678901234567890n]]),
    nested: { list: [1, "two", null, { deep: new Date(0) }], missing: undefined },
  };
  const w = await kv.put("sdk/rich", value);
  assert.is(w.created, true);
  assert.type(w.context, "string");
  const got = await kv.get<typeof value>("sdk/rich");
  assert.ok(got);
  assert.equal(got.value, value);
  assert.instance(got.value.born, Date);
  assert.instance(got.value.tags, Set);
  assert.is(got.value.scores.get("a"), 12345678901234567890n);
  assert.is(got.context, w.context);
  for (const plain of ["text", 42, true, null, [1, 2], { a: 1 }]) {
    await kv.put("sdk/plain", plain);
    assert.equal((await kv.get("sdk/plain"))!.values.at(-1), plain);
    await kv.delete("sdk/plain");
  }
  const raw = await fetch(`${node.urls[0]}/v1/kv/sdk%2Frich`);
  assert.match(raw.headers.get("content-type")!, "superjson");
  await kv.put("sdk/json", { a: [1, 2] });
  const json = await fetch(`${node.urls[0]}/v1/kv/sdk%2Fjson`);
  assert.is(json.headers.get("content-type"), "application/json");
  assert.equal(await json.json(), { a: [1, 2] });
});

test("Uint8Array values travel as raw application/octet-stream bytes", async () => {
  const kv = client();
  const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
  await kv.put("sdk/bytes", bytes);
  const raw = await fetch(`${node.urls[0]}/v1/kv/sdk%2Fbytes`);
  assert.is(raw.headers.get("content-type"), "application/octet-stream");
  assert.equal(new Uint8Array(await raw.arrayBuffer()), bytes);
  const got = await kv.get<Uint8Array>("sdk/bytes");
  assert.instance(got!.value, Uint8Array);
  assert.equal(got!.value, bytes);
});

test("get of an absent key is null; delete removes; keys with slashes, dots and Unicode work", async () => {
  const kv = client();
  assert.is(await kv.get("sdk/absent"), null);
  for (const key of ["sdk/a/../b", "sdk/…", "sdk/ключ 🔑", "sdk/%2F"]) {
    await kv.put(key, key);
    assert.is((await kv.get(key))!.value, key);
    await kv.delete(key);
    assert.is(await kv.get(key), null);
  }
  await rejects(kv.get(".."), "INVALID_ARGUMENT", 0);
});

test("concurrent writes come back as siblings; a write with their context resolves them", async () => {
  const kv = client();
  const base = await kv.put("sdk/sib", "base");
  await Promise.all([
    kv.put("sdk/sib", "left", { context: base.context }),
    kv.put("sdk/sib", "right", { context: base.context }),
  ]);
  const entry = (await kv.get<string>("sdk/sib"))!;
  assert.equal(entry.values.sort(), ["left", "right"]);
  const resolved = await kv.put("sdk/sib", "both", { context: entry.context });
  assert.is(resolved.siblings, 1);
  assert.equal((await kv.get("sdk/sib"))!.values, ["both"]);
});

test("errors are typed from the JSON code: KEY_EXISTS 409, STALE_CONTEXT 412, INVALID_ARGUMENT 400, BAD_CONTEXT 400", async () => {
  const kv = client();
  await kv.put("sdk/once", 1, { ifNoneMatch: true });
  const e = await rejects(kv.put("sdk/once", 2, { ifNoneMatch: true }), "KEY_EXISTS", 409);
  assert.is(e.details.key, "sdk/once");
  assert.ok(isMeshkvClientError(e, "KEY_EXISTS"));
  const first = (await kv.get("sdk/once"))!;
  await kv.put("sdk/once", 3, { context: first.context });
  await rejects(kv.put("sdk/once", 4, { context: first.context, strict: true }), "STALE_CONTEXT", 412);
  await rejects(kv.get("sdk/once", { consistency: "most" as "one" }), "INVALID_ARGUMENT", 400);
  await rejects(kv.put("sdk/once", 5, { context: "bogus" }), "BAD_CONTEXT", 400);
  await rejects(kv.get("sdk/once", { consistency: { r: 2 } }), "INVALID_ARGUMENT", 400);
  assert.is((await kv.get("sdk/once", { consistency: "quorum" }))!.value, 3);
});

test("ttlMs expires a key", async () => {
  const kv = client();
  await kv.put("sdk/ttl", "brief", { ttlMs: 100 });
  const entry = (await kv.get("sdk/ttl"))!;
  assert.ok(entry.expiresAt! > Date.now());
  await new Promise((r) => setTimeout(r, 200));
  assert.is(await kv.get("sdk/ttl"), null);
});

test("list is an async iterator over pages in key order, with keys-only mode and resumable cursors", async () => {
  const kv = client();
  const keys = Array.from({ length: 25 }, (_, i) => `list/${String(i).padStart(2, "0")}`);
  await kv.batch(keys.map((key, i) => ({ op: "put" as const, key, value: { i } })));
  const pages = [];
  for await (const page of kv.list<{ i: number }>({ prefix: "list/", limit: 10 })) pages.push(page);
  assert.equal(pages.map((p) => p.items.length), [10, 10, 5]);
  assert.equal(pages.flatMap((p) => p.items.map((it) => it.key)), keys);
  assert.equal(pages[0]!.items[3]!.value, { i: 3 });
  const firstOnly = kv.list({ prefix: "list/", limit: 20, keysOnly: true })[Symbol.asyncIterator]();
  const page1 = (await firstOnly.next()).value!;
  assert.equal(page1.items[0], { key: "list/00", value: undefined, values: [], context: null, expiresAt: null });
  const rest = [];
  for await (const page of kv.list({ prefix: "list/", limit: 20, keysOnly: true, cursor: page1.cursor! })) {
    rest.push(...page.items.map((i) => i.key));
  }
  assert.equal(rest, keys.slice(20));
});

test("batch returns one typed result per op", async () => {
  const kv = client();
  const results = await kv.batch<unknown>([
    { op: "put", key: "b/1", value: new Date(5) },
    { op: "put", key: "b/2", value: Uint8Array.of(1, 2, 3), ifNoneMatch: true },
    { op: "put", key: "b/2", value: "again", ifNoneMatch: true },
    { op: "get", key: "b/1" },
    { op: "get", key: "b/2" },
    { op: "get", key: "b/none" },
    { op: "delete", key: "b/1" },
  ]);
  assert.equal(results.map((r) => r.ok), [true, true, false, true, true, true, true]);
  const conflict = results[2]!;
  assert.ok(!conflict.ok && conflict.error.code === "KEY_EXISTS" && conflict.error.status === 409);
  const got1 = results[3]!;
  assert.ok(got1.ok && got1.op === "get" && got1.entry!.value instanceof Date);
  const got2 = results[4]!;
  assert.ok(got2.ok && got2.op === "get");
  assert.equal(got2.entry!.value, Uint8Array.of(1, 2, 3));
  const none = results[5]!;
  assert.ok(none.ok && none.op === "get" && none.entry === null);
  assert.is(await kv.get("b/1"), null);
});

test("status is served with an admin-capable token; a wrong token is UNAUTHORIZED", async () => {
  const kv = client();
  const status = await kv.status();
  assert.is(status.nodeId, "n1");
  const secured = await startNode({
    auth: {
      tokens: [{ token: "admin-0123456789abcdef", scope: "admin" }, { token: "read-0123456789abcdef", scope: "read" }],
    },
  });
  try {
    const wrong = createClient({ endpoints: secured.urls, token: "nope-0123456789abcdef" });
    await rejects(wrong.get("k"), "UNAUTHORIZED", 401);
    const reader = createClient({ endpoints: secured.urls, token: "read-0123456789abcdef" });
    assert.is(await reader.get("k"), null);
    await rejects(reader.put("k", 1), "FORBIDDEN", 403);
    const admin = createClient({ endpoints: secured.urls, token: "admin-0123456789abcdef" });
    await admin.put("k", 1);
    assert.is((await reader.get("k"))!.value, 1);
  } finally {
    await secured.close();
  }
});

test.run();
