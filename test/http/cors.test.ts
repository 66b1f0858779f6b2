/**
 * CORS on the /v1 routes: browsers on any origin get their preflight answered without a token, and every /v1
 * response (errors included) carries the allow-origin header and exposes the meshkv headers.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CONTEXT, expectError, harness } from "./_setup.ts";

test("a preflight is answered with 204, the methods and headers a client may use, without a token", async () => {
  const h = await harness({ auth: true });
  const res = await h.req("/v1/kv/greeting", {
    method: "OPTIONS",
    token: null,
    headers: {
      origin: "https://app.example",
      "access-control-request-method": "PUT",
      "access-control-request-headers": "authorization,content-type",
    },
  });
  assert.is(res.status, 204);
  assert.is(res.headers.get("access-control-allow-origin"), "*");
  assert.equal(res.headers.get("access-control-allow-methods")!.split(","), [
    "GET",
    "PUT",
    "DELETE",
    "POST",
    "OPTIONS",
  ]);
  const allowed = res.headers.get("access-control-allow-headers")!.toLowerCase().split(",");
  for (const name of ["authorization", "content-type", "if-none-match", "last-event-id", CONTEXT]) {
    assert.ok(allowed.includes(name), name);
  }
  assert.is(res.headers.get("access-control-max-age"), "600");
  assert.is(await res.text(), "");
  await h.close();
});

test("responses of /v1 routes, errors included, allow any origin and expose the meshkv headers; /health is not a /v1 route", async () => {
  const h = await harness({ auth: true });
  const put = await h.req("/v1/kv/greeting", {
    method: "PUT",
    body: "hello",
    headers: { "content-type": "text/plain", origin: "https://app.example" },
  });
  assert.is(put.status, 201);
  const got = await h.req("/v1/kv/greeting", { headers: { origin: "https://app.example" } });
  assert.is(await got.text(), "hello");
  assert.ok(got.headers.get(CONTEXT), "the context header is there to expose");
  for (const res of [put, got]) {
    assert.is(res.headers.get("access-control-allow-origin"), "*");
    const exposed = res.headers.get("access-control-expose-headers")!.toLowerCase().split(",");
    for (const name of [CONTEXT, "x-meshkv-siblings", "x-meshkv-expires-at"]) {
      assert.ok(exposed.includes(name), `${name} in ${exposed}`);
    }
  }
  const missing = await h.req("/v1/kv/nothing-here");
  assert.is(missing.headers.get("access-control-allow-origin"), "*");
  await expectError(missing, 404, "KEY_NOT_FOUND");
  const unauthorized = await h.req("/v1/kv/greeting", { token: null });
  assert.is(unauthorized.headers.get("access-control-allow-origin"), "*");
  await expectError(unauthorized, 401, "UNAUTHORIZED");
  const health = await h.req("/health");
  assert.is(health.status, 200);
  assert.is(health.headers.get("access-control-allow-origin"), null);
  await health.body?.cancel();
  await h.close();
});

test.run();
