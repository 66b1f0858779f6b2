/**
 * Contract tests for GET /v1/kv (ordered listing with cursors, ranges and keys-only mode) and POST /v1/batch.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CONTEXT, expectError, type Harness, harness, TOKENS } from "./_setup.ts";

async function fill(h: Harness, keys: string[]): Promise<void> {
  for (const k of keys) {
    const res = await h.req(`/v1/kv/${encodeURIComponent(k)}`, {
      method: "PUT",
      body: `v:${k}`,
      headers: { "content-type": "text/plain" },
    });
    assert.is(res.status, 201);
  }
}

const keysOf = (body: { items: { key: string }[] }) => body.items.map((i) => i.key);

test("list returns keys in UTF-8 byte order with values, contexts and a null cursor at the end", async () => {
  const h = await harness();
  await fill(h, ["b", "a", "é", "Z", "a/1", "ab"]);
  const body = await (await h.req("/v1/kv")).json();
  assert.equal(keysOf(body), ["Z", "a", "a/1", "ab", "b", "é"]);
  assert.equal(body.items[0].values, [{ contentType: "text/plain", encoding: "utf8", value: "v:Z" }]);
  assert.type(body.items[0].context, "string");
  assert.is(body.cursor, null);
  await h.close();
});

test("pages follow the cursor until it is null, without repeats or gaps", async () => {
  const h = await harness();
  const keys = Array.from({ length: 23 }, (_, i) => `item/${String(i).padStart(3, "0")}`);
  await fill(h, [...keys].reverse());
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q: string = cursor === null ? "" : `&cursor=${cursor}`;
    const body = await (await h.req(`/v1/kv?prefix=item/&limit=5${q}`)).json();
    assert.ok(body.items.length <= 5);
    seen.push(...keysOf(body));
    cursor = body.cursor;
    pages++;
  } while (cursor !== null && pages < 10);
  assert.equal(seen, keys);
  assert.is(pages, 5);
  await h.close();
});

test("prefix, start (inclusive) and end (exclusive) bound the range; keysOnly leaves values out", async () => {
  const h = await harness();
  await fill(h, ["a1", "a2", "a3", "a4", "b1"]);
  assert.equal(keysOf(await (await h.req("/v1/kv?prefix=a")).json()), ["a1", "a2", "a3", "a4"]);
  assert.equal(keysOf(await (await h.req("/v1/kv?start=a2&end=a4")).json()), ["a2", "a3"]);
  assert.equal(keysOf(await (await h.req("/v1/kv?prefix=a&start=a3")).json()), ["a3", "a4"]);
  const keysOnly = await (await h.req("/v1/kv?keysOnly=true&prefix=a&limit=2")).json();
  assert.equal(keysOnly.items, [{ key: "a1" }, { key: "a2" }]);
  assert.type(keysOnly.cursor, "string");
  assert.equal(keysOf(await (await h.req(`/v1/kv?keysOnly&prefix=a&limit=2&cursor=${keysOnly.cursor}`)).json()), [
    "a3",
    "a4",
  ]);
  await h.close();
});

test("deleted keys are not listed; keys with siblings list every live value", async () => {
  const h = await harness();
  await fill(h, ["x", "y", "z"]);
  await h.req("/v1/kv/y", { method: "DELETE" });
  await h.req("/v1/kv/z", { method: "PUT", body: "again", headers: { "content-type": "text/plain" } });
  const body = await (await h.req("/v1/kv")).json();
  assert.equal(keysOf(body), ["x", "z"]);
  assert.equal(body.items[1].values.map((v: { value: string }) => v.value).sort(), ["again", "v:z"]);
  await h.close();
});

test("a batch runs gets, puts and deletes in order, each with the status its single request would have", async () => {
  const h = await harness();
  await fill(h, ["old"]);
  const res = await h.req("/v1/batch", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      ops: [
        { op: "put", key: "a", value: "alpha", contentType: "text/plain" },
        { op: "put", key: "bin", value: "AAEC/w==", encoding: "base64" },
        { op: "get", key: "a" },
        { op: "get", key: "missing" },
        { op: "put", key: "old", value: "x", ifNoneMatch: true },
        { op: "delete", key: "old" },
        { op: "get", key: "old", consistency: "one" },
        { op: "get", key: "bin" },
      ],
    }),
  });
  assert.is(res.status, 200);
  const { results } = await res.json();
  assert.equal(results.map((r: { status: number }) => r.status), [201, 201, 200, 404, 409, 204, 404, 200]);
  assert.equal(results[2].values, [{ contentType: "text/plain", encoding: "utf8", value: "alpha" }]);
  assert.is(results[3].error.code, "KEY_NOT_FOUND");
  assert.is(results[4].error.code, "KEY_EXISTS");
  assert.type(results[6].context, "string", "a deleted key's 404 carries its context");
  assert.equal(results[7].values, [{ contentType: "application/octet-stream", encoding: "base64", value: "AAEC/w==" }]);
  const single = await h.req("/v1/kv/bin");
  assert.equal(new Uint8Array(await single.arrayBuffer()), Uint8Array.of(0, 1, 2, 255));
  await h.close();
});

test("a batch sees its own writes: put k, get k, delete k, get k reads the put and then nothing", async () => {
  const h = await harness();
  const res = await h.req("/v1/batch", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      ops: [{ op: "put", key: "k", value: "mine" }, { op: "get", key: "k" }, { op: "delete", key: "k" }, {
        op: "get",
        key: "k",
      }],
    }),
  });
  const { results } = await res.json();
  assert.equal(results.map((r: { status: number }) => r.status), [201, 200, 204, 404]);
  assert.equal(results[1].values.map((v: { value: string }) => v.value), ["mine"]);
  assert.is(results[3].error.code, "KEY_NOT_FOUND");
  await h.close();
});

test("batch puts carry contexts: a strict put with a stale context fails alone, a fresh one resolves siblings", async () => {
  const h = await harness();
  await fill(h, ["k"]);
  const stale = (await h.req("/v1/kv/k")).headers.get(CONTEXT)!;
  await h.req("/v1/kv/k", { method: "PUT", body: "2", headers: { [CONTEXT]: stale } });
  const first =
    await (await h.req("/v1/batch", { method: "POST", body: JSON.stringify({ ops: [{ op: "get", key: "k" }] }) }))
      .json();
  const res = await h.req("/v1/batch", {
    method: "POST",
    body: JSON.stringify({
      ops: [
        { op: "put", key: "k", value: "lost", context: stale, strict: true },
        { op: "put", key: "k", value: "3", context: first.results[0].context, ttl: 60000 },
      ],
    }),
  });
  const { results } = await res.json();
  assert.is(results[0].status, 412);
  assert.is(results[0].error.code, "STALE_CONTEXT");
  assert.is(results[1].status, 204);
  assert.is(results[1].siblings, 1);
  assert.is(await (await h.req("/v1/kv/k")).text(), "3");
  await h.close();
});

test("a malformed op refuses the whole batch before anything is applied", async () => {
  const h = await harness();
  const res = await h.req("/v1/batch", {
    method: "POST",
    body: JSON.stringify({
      ops: [{ op: "put", key: "applied?", value: "no" }, { op: "put", key: "k", value: "v", context: "garbage" }],
    }),
  });
  await expectError(res, 400, "BAD_CONTEXT");
  await expectError(await h.req("/v1/kv/applied%3F"), 404, "KEY_NOT_FOUND");
  await expectError(
    await h.req("/v1/batch", { method: "POST", body: JSON.stringify({ ops: [{ op: "get", key: "k", extra: 1 }] }) }),
    400,
    "INVALID_ARGUMENT",
  );
  await expectError(
    await h.req("/v1/batch", { method: "POST", body: JSON.stringify({ ops: [] }) }),
    400,
    "INVALID_ARGUMENT",
  );
  await expectError(
    await h.req("/v1/batch", {
      method: "POST",
      body: JSON.stringify({ ops: [{ op: "put", key: "k", value: "%%", encoding: "base64" }] }),
    }),
    400,
    "INVALID_ARGUMENT",
  );
  await h.close();
});

test("a read token may batch gets but not writes", async () => {
  const h = await harness({ auth: true });
  const gets = await h.req("/v1/batch", {
    method: "POST",
    token: TOKENS.read,
    body: JSON.stringify({ ops: [{ op: "get", key: "k" }] }),
  });
  assert.is(gets.status, 200);
  const writes = await h.req("/v1/batch", {
    method: "POST",
    token: TOKENS.read,
    body: JSON.stringify({ ops: [{ op: "get", key: "k" }, { op: "delete", key: "k" }] }),
  });
  await expectError(writes, 403, "FORBIDDEN");
  await h.close();
});

test.run();
