/**
 * Contract tests for GET, PUT and DELETE /v1/kv/{key} through `app.request()`: statuses, context headers,
 * siblings, create-only and strict writes, TTL, consistency levels and the sibling limit.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DATA_LIMITS } from "../../src/kv/limits.ts";
import { appFor, CONTEXT, expectError, harness, NODE_ID, oneNodeCluster } from "./_setup.ts";

const put = (body: BodyInit, headers: Record<string, string> = {}): RequestInit => ({
  method: "PUT",
  body,
  headers: { "content-type": "text/plain", ...headers },
});

test("PUT creates a key (201 with a context), GET returns its bytes, content type and context", async () => {
  const h = await harness();
  const created = await h.req("/v1/kv/greeting", put("hello"));
  assert.is(created.status, 201);
  assert.ok(created.headers.get(CONTEXT));
  assert.is(created.headers.get("x-meshkv-siblings"), "1");
  const res = await h.req("/v1/kv/greeting");
  assert.is(res.status, 200);
  assert.is(res.headers.get("content-type"), "text/plain");
  assert.is(res.headers.get(CONTEXT), created.headers.get(CONTEXT));
  assert.is(await res.text(), "hello");
  await h.close();
});

test("a PUT carrying the read's context replaces the value (204) without siblings", async () => {
  const h = await harness();
  const first = await h.req("/v1/kv/k", put("v1"));
  const second = await h.req("/v1/kv/k", put("v2", { [CONTEXT]: first.headers.get(CONTEXT)! }));
  assert.is(second.status, 204);
  assert.is(second.headers.get("x-meshkv-siblings"), "1");
  const res = await h.req("/v1/kv/k");
  assert.is(res.status, 200);
  assert.is(await res.text(), "v2");
  await h.close();
});

test("a write whose context does not cover the stored value makes siblings, answered with 300 and resolved by a write with their context", async () => {
  const h = await harness();
  const base = await h.req("/v1/kv/cart", put("base"));
  const ctx = base.headers.get(CONTEXT)!;
  await h.req("/v1/kv/cart", put("from-a", { [CONTEXT]: ctx }));
  const b = await h.req("/v1/kv/cart", put("from-b", { [CONTEXT]: ctx }));
  assert.is(b.headers.get("x-meshkv-siblings"), "2");
  const res = await h.req("/v1/kv/cart");
  assert.is(res.status, 300);
  const body = await res.json();
  assert.equal(body.values.map((v: { value: string }) => v.value).sort(), ["from-a", "from-b"]);
  assert.is(body.key, "cart");
  assert.is(body.context, res.headers.get(CONTEXT));
  const resolved = await h.req("/v1/kv/cart", put("merged", { [CONTEXT]: body.context }));
  assert.is(resolved.status, 204);
  const after = await h.req("/v1/kv/cart");
  assert.is(after.status, 200);
  assert.is(await after.text(), "merged");
  await h.close();
});

test("a blind PUT (no context) on an existing key keeps the stored value as a sibling", async () => {
  const h = await harness();
  await h.req("/v1/kv/k", put("one"));
  await h.req("/v1/kv/k", put("two"));
  const res = await h.req("/v1/kv/k");
  assert.is(res.status, 300);
  assert.is((await res.json()).values.length, 2);
  await h.close();
});

test("If-None-Match: * creates only: 201 when absent, 409 KEY_EXISTS when present, allowed again after a delete", async () => {
  const h = await harness();
  assert.is((await h.req("/v1/kv/lock", put("me", { "if-none-match": "*" }))).status, 201);
  const conflict = await expectError(
    await h.req("/v1/kv/lock", put("you", { "if-none-match": "*" })),
    409,
    "KEY_EXISTS",
  );
  assert.is(conflict.key, "lock");
  assert.is(await (await h.req("/v1/kv/lock")).text(), "me");
  assert.is((await h.req("/v1/kv/lock", { method: "DELETE" })).status, 204);
  assert.is((await h.req("/v1/kv/lock", put("you", { "if-none-match": "*" }))).status, 201);
  await h.close();
});

test("strict=true refuses a stale context with 412 STALE_CONTEXT and accepts the current one", async () => {
  const h = await harness();
  const first = await h.req("/v1/kv/n", put("1"));
  const stale = first.headers.get(CONTEXT)!;
  const second = await h.req("/v1/kv/n?strict=true", put("2", { [CONTEXT]: stale }));
  assert.is(second.status, 204);
  await expectError(await h.req("/v1/kv/n?strict=true", put("3", { [CONTEXT]: stale })), 412, "STALE_CONTEXT");
  await expectError(await h.req("/v1/kv/n?strict=true", put("3")), 412, "STALE_CONTEXT");
  assert.is((await h.req("/v1/kv/n?strict=true", put("3", { [CONTEXT]: second.headers.get(CONTEXT)! }))).status, 204);
  assert.is(await (await h.req("/v1/kv/n")).text(), "3");
  await h.close();
});

test("DELETE answers 204; a later GET is 404 KEY_NOT_FOUND that still carries the context; deleting an absent key is 204", async () => {
  const h = await harness();
  await h.req("/v1/kv/gone", put("x"));
  const del = await h.req("/v1/kv/gone", { method: "DELETE" });
  assert.is(del.status, 204);
  assert.is(del.headers.get("x-meshkv-siblings"), "0");
  const res = await h.req("/v1/kv/gone");
  const err = await expectError(res, 404, "KEY_NOT_FOUND");
  assert.is(err.key, "gone");
  assert.ok(res.headers.get(CONTEXT), "a deleted key keeps its history");
  assert.is((await h.req("/v1/kv/never", { method: "DELETE" })).status, 204);
  const never = await h.req("/v1/kv/never");
  await expectError(never, 404, "KEY_NOT_FOUND");
  await h.close();
});

test("a delete that races a write leaves the write as the only live value", async () => {
  const h = await harness();
  const base = await h.req("/v1/kv/k", put("base"));
  const ctx = base.headers.get(CONTEXT)!;
  await h.req("/v1/kv/k", put("concurrent", { [CONTEXT]: ctx }));
  const del = await h.req("/v1/kv/k", { method: "DELETE", headers: { [CONTEXT]: ctx } });
  assert.is(del.headers.get("x-meshkv-siblings"), "1");
  const res = await h.req("/v1/kv/k");
  assert.is(res.status, 200);
  assert.is(await res.text(), "concurrent");
  await h.close();
});

test("ttl (ms) sets X-Meshkv-Expires-At, and the key is gone once the clock passes it", async () => {
  const h = await harness();
  const now = h.clock.now();
  assert.is((await h.req("/v1/kv/session?ttl=1000", put("s"))).status, 201);
  const res = await h.req("/v1/kv/session");
  assert.is(res.status, 200);
  assert.is(Number(res.headers.get("x-meshkv-expires-at")), now + 1000);
  await h.clock.advance(1001);
  await expectError(await h.req("/v1/kv/session"), 404, "KEY_NOT_FOUND");
  await h.close();
});

test("consistency levels are accepted per request; one replica cannot meet r=2 or w=2", async () => {
  const h = await harness();
  for (
    const q of [
      "consistency=one",
      "consistency=QUORUM",
      "consistency=all",
      "consistency=local_quorum",
      "consistency=each_quorum",
      "w=1",
    ]
  ) {
    assert.ok([201, 204].includes((await h.req(`/v1/kv/c?${q}`, put(q))).status), q);
  }
  assert.is((await h.req("/v1/kv/c?r=1")).status, 300);
  await expectError(await h.req("/v1/kv/c?r=2"), 400, "INVALID_ARGUMENT");
  await expectError(await h.req("/v1/kv/c?w=2", put("v")), 400, "INVALID_ARGUMENT");
  await expectError(await h.req("/v1/kv/c?consistency=one&r=1"), 400, "INVALID_ARGUMENT");
  await h.close();
});

test("binary values round-trip byte for byte with their content type", async () => {
  const h = await harness();
  const data = Uint8Array.from({ length: 256 }, (_, i) => i);
  await h.req("/v1/kv/blob", put(data, { "content-type": "application/octet-stream" }));
  const res = await h.req("/v1/kv/blob");
  assert.is(res.headers.get("content-type"), "application/octet-stream");
  assert.equal(new Uint8Array(await res.arrayBuffer()), data);
  const untyped = await h.app.request("http://localhost/v1/kv/raw", { method: "PUT", body: data });
  assert.is(untyped.status, 201);
  assert.is((await h.req("/v1/kv/raw")).headers.get("content-type"), "application/octet-stream");
  await h.close();
});

test("keys may hold slashes, hash tags, spaces and any Unicode, percent-encoded in the path", async () => {
  const h = await harness();
  for (
    const key of [
      "{user:42}/orders/7",
      "a b/c?d#e",
      "ключ-🔑",
      "a/../b",
      "...",
      "%",
      "x".repeat(DATA_LIMITS.keyBytesMax),
    ]
  ) {
    const path = `/v1/kv/${encodeURIComponent(key).replaceAll(".", "%2E")}`;
    assert.is((await h.req(path, put(key))).status, 201, key);
    assert.is(await (await h.req(path)).text(), key, key);
  }
  const list = await (await h.req("/v1/kv?prefix=%7Buser%3A42%7D%2F")).json();
  assert.equal(list.items.map((i: { key: string }) => i.key), ["{user:42}/orders/7"]);
  await h.close();
});

test("a write that would leave more than siblingsMax siblings is refused with 413 naming the limit", async () => {
  const h = await harness();
  for (let i = 0; i < DATA_LIMITS.siblingsMax; i++) await h.req("/v1/kv/hot", put(`v${i}`));
  const err = await expectError(await h.req("/v1/kv/hot", put("one more")), 413, "LIMIT_EXCEEDED");
  assert.match(String(err.message), `siblingsMax limit: ${DATA_LIMITS.siblingsMax + 1} > ${DATA_LIMITS.siblingsMax}`);
  assert.is(err.limit, "siblingsMax");
  const res = await h.req("/v1/kv/hot");
  const body = await res.json();
  assert.is(body.values.length, DATA_LIMITS.siblingsMax);
  assert.is((await h.req("/v1/kv/hot", put("resolved", { [CONTEXT]: body.context }))).status, 204);
  await h.close();
});

test("a write that would grow a key's versions past setBytesMax is refused with 413 naming the limit", async () => {
  const h = await harness();
  const big = "x".repeat(DATA_LIMITS.valueBytesMax - 1);
  for (let i = 0; i < 3; i++) {
    assert.ok((await h.req("/v1/kv/big", put(big + i))).status < 300, "three 1 MiB siblings fit");
  }
  const err = await expectError(await h.req("/v1/kv/big", put(big + "3")), 413, "LIMIT_EXCEEDED");
  assert.is(err.limit, "setBytesMax");
  assert.is(err.max, DATA_LIMITS.setBytesMax);
  await h.close();
});

test("values, siblings and deletes survive closing the node and starting it again on its disk", async () => {
  const sim = await oneNodeCluster();
  const first = appFor(sim);
  await first.request("/v1/kv/a", put("1"));
  await first.request("/v1/kv/a", put("2"));
  await first.request("/v1/kv/b", put("b"));
  await first.request("/v1/kv/b", { method: "DELETE" });
  await sim.kv(NODE_ID).close();
  await expectError(await first.request("/v1/kv/a"), 503, "CLOSED");
  assert.is((await first.request("/health")).status, 503);
  await sim.crash(NODE_ID);
  await sim.restart(NODE_ID);
  assert.ok(await sim.runUntil(() => sim.kv(NODE_ID).settled(), 15_000) !== null, "the node serves again");
  const second = appFor(sim);
  const a = await second.request("/v1/kv/a");
  assert.is(a.status, 300);
  assert.equal((await a.json()).values.map((v: { value: string }) => v.value).sort(), ["1", "2"]);
  const b = await second.request("/v1/kv/b");
  await expectError(b, 404, "KEY_NOT_FOUND");
  assert.ok(b.headers.get(CONTEXT));
  await sim.stopAll();
});

test.run();
