/**
 * GET /v1/watch: server-sent events of changes, filtered by prefix, resumable with Last-Event-ID, with a
 * `gap` when the resume point is gone and keep-alive comments on the injected clock.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DATA_LIMITS } from "../../src/kv/limits.ts";
import { LIMITS } from "../../src/http/limits.ts";
import { harness } from "./_setup.ts";
import { SseReader } from "./_sse.ts";

const put = (body: string): RequestInit => ({ method: "PUT", body, headers: { "content-type": "text/plain" } });

test("a watch starts with ready, then streams puts and deletes under its prefix with values and contexts", async () => {
  const h = await harness();
  const res = await h.req("/v1/watch?prefix=user/");
  assert.is(res.status, 200);
  assert.match(res.headers.get("content-type")!, "text/event-stream");
  const sse = new SseReader(res);
  const ready = (await sse.next())!;
  assert.is(ready.event, "ready");
  assert.ok(ready.id);
  await h.req("/v1/kv/other", put("ignored"));
  const written = await h.req("/v1/kv/user%2F1", put("ada"));
  await h.req("/v1/kv/user%2F1", { method: "DELETE" });
  const e1 = (await sse.next())!;
  assert.is(e1.event, "put");
  const d1 = JSON.parse(e1.data);
  assert.is(d1.key, "user/1");
  assert.equal(d1.values, [{ contentType: "text/plain", encoding: "utf8", value: "ada" }]);
  assert.is(d1.context, written.headers.get("x-meshkv-context"));
  const e2 = (await sse.next())!;
  assert.is(e2.event, "delete");
  assert.is(JSON.parse(e2.data).key, "user/1");
  assert.ok(e2.id! > e1.id!);
  await sse.cancel();
  await h.close();
});

test("reconnecting with Last-Event-ID replays what was missed; an unknown position gets a gap", async () => {
  const h = await harness();
  const first = new SseReader(await h.req("/v1/watch"));
  await first.next();
  await h.req("/v1/kv/a", put("1"));
  const seen = (await first.next())!;
  await first.cancel();
  await h.req("/v1/kv/b", put("2"));
  await h.req("/v1/kv/c", put("3"));
  const resumed = new SseReader(await h.req("/v1/watch", { headers: { "last-event-id": seen.id! } }));
  const ready = (await resumed.next())!;
  assert.is(ready.event, "ready");
  assert.is(ready.id, seen.id);
  assert.is(JSON.parse((await resumed.next())!.data).key, "b");
  assert.is(JSON.parse((await resumed.next())!.data).key, "c");
  await resumed.cancel();
  const viaQuery = new SseReader(await h.req(`/v1/watch?after=${seen.id}&prefix=c`));
  await viaQuery.next();
  assert.is(JSON.parse((await viaQuery.next())!.data).key, "c");
  await viaQuery.cancel();
  const stale = new SseReader(await h.req("/v1/watch", { headers: { "last-event-id": "abc.7" } }));
  const gap = (await stale.next())!;
  assert.is(gap.event, "gap");
  await h.req("/v1/kv/d", put("4"));
  assert.is(JSON.parse((await stale.next())!.data).key, "d", "after a gap, live events follow");
  await stale.cancel();
  await h.close();
});

test("large values are left out of events (valuesOmitted), and idle streams get heartbeats on the clock", async () => {
  const h = await harness();
  const sse = new SseReader(await h.req("/v1/watch"));
  await sse.next();
  await h.req("/v1/kv/big", put("x".repeat(DATA_LIMITS.watchValueBytesMax + 1)));
  const big = JSON.parse((await sse.next())!.data);
  assert.is(big.valuesOmitted, true);
  assert.equal(big.values, []);
  await h.clock.advance(LIMITS.watchHeartbeatMs * 2);
  await h.req("/v1/kv/small", put("s"));
  await sse.next();
  assert.ok(sse.comments >= 2, `heartbeats: ${sse.comments}`);
  await sse.cancel();
  await h.close();
});

test("closing the backend ends open watch streams", async () => {
  const h = await harness();
  const sse = new SseReader(await h.req("/v1/watch"));
  await sse.next();
  await h.close();
  assert.is(await sse.next(), null);
});

test.run();
