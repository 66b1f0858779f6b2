/**
 * The bad-input table: each malformed request gets its documented status and stable code, with the limit in
 * the message where one applies, and the node keeps serving afterwards. Also the error-to-status table itself.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ERROR_CODES } from "../../src/errors.ts";
import { STATUS_BY_CODE, statusOf } from "../../src/http/errors.ts";
import { DATA_LIMITS } from "../../src/kv/limits.ts";
import { LIMITS } from "../../src/http/limits.ts";
import { CONTEXT, expectError, harness, TOKENS } from "./_setup.ts";

interface Row {
  name: string;
  path: string;
  init?: RequestInit & { token?: string | null };
  status: number;
  code: string;
  /** Text the message must contain (the limit and its value). */
  message?: string;
}

const bigKey = "k".repeat(DATA_LIMITS.keyBytesMax + 1);
const bigValue = new Uint8Array(DATA_LIMITS.valueBytesMax + 1);
const putText = (body: BodyInit | null, headers: Record<string, string> = {}) => ({ method: "PUT", body, headers });
const batch = (body: string) => ({ method: "POST", body, headers: { "content-type": "application/json" } });

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += 65536) c.enqueue(bytes.subarray(i, i + 65536));
      c.close();
    },
  });
}

const ROWS: Row[] = [
  {
    name: "oversized key",
    path: `/v1/kv/${bigKey}`,
    status: 413,
    code: "LIMIT_EXCEEDED",
    message: `keyBytesMax limit: ${DATA_LIMITS.keyBytesMax + 1} > ${DATA_LIMITS.keyBytesMax}`,
  },
  {
    name: "oversized key in a PUT",
    path: `/v1/kv/${bigKey}`,
    init: putText("v"),
    status: 413,
    code: "LIMIT_EXCEEDED",
    message: "keyBytesMax",
  },
  {
    name: "oversized value",
    path: "/v1/kv/big",
    init: putText(bigValue),
    status: 413,
    code: "LIMIT_EXCEEDED",
    message: `valueBytesMax limit: ${DATA_LIMITS.valueBytesMax + 1} > ${DATA_LIMITS.valueBytesMax}`,
  },
  {
    name: "oversized value sent without a length",
    path: "/v1/kv/big",
    init: { method: "PUT", body: streamOf(bigValue), duplex: "half" } as RequestInit,
    status: 413,
    code: "LIMIT_EXCEEDED",
    message: "valueBytesMax",
  },
  { name: "invalid UTF-8 in the key", path: "/v1/kv/%FF%FE", status: 400, code: "INVALID_ARGUMENT", message: "UTF-8" },
  {
    name: "invalid UTF-8 in a PUT key",
    path: "/v1/kv/a%C3",
    init: putText("v"),
    status: 400,
    code: "INVALID_ARGUMENT",
    message: "UTF-8",
  },
  { name: "empty key", path: "/v1/kv/", status: 400, code: "INVALID_ARGUMENT", message: "empty" },
  { name: "empty key in a PUT", path: "/v1/kv/", init: putText("v"), status: 400, code: "INVALID_ARGUMENT" },
  {
    name: "reserved key .. (URLs resolve it away)",
    path: "/v1/batch",
    init: batch('{"ops":[{"op":"get","key":".."}]}'),
    status: 400,
    code: "INVALID_ARGUMENT",
    message: "reserved",
  },
  {
    name: "unknown consistency level",
    path: "/v1/kv/k?consistency=most",
    status: 400,
    code: "INVALID_ARGUMENT",
    message: "Unknown consistency level: most",
  },
  { name: "explicit r out of range", path: "/v1/kv/k?r=99", status: 400, code: "INVALID_ARGUMENT" },
  {
    name: "malformed context token",
    path: "/v1/kv/k",
    init: putText("v", { [CONTEXT]: "not-a-token" }),
    status: 400,
    code: "BAD_CONTEXT",
  },
  {
    name: "truncated context token",
    path: "/v1/kv/k",
    init: { method: "DELETE", headers: { [CONTEXT]: "AQECbjEBxnHb" } },
    status: 400,
    code: "BAD_CONTEXT",
  },
  {
    name: "malformed batch JSON",
    path: "/v1/batch",
    init: batch('{"ops": [ {"op": "get", '),
    status: 400,
    code: "INVALID_ARGUMENT",
    message: "Malformed batch JSON",
  },
  { name: "batch without ops", path: "/v1/batch", init: batch('{"get": "k"}'), status: 400, code: "INVALID_ARGUMENT" },
  {
    name: "batch with an unknown op",
    path: "/v1/batch",
    init: batch('{"ops":[{"op":"incr","key":"k"}]}'),
    status: 400,
    code: "INVALID_ARGUMENT",
    message: "ops[0].op",
  },
  {
    name: "batch with a bad key",
    path: "/v1/batch",
    init: batch('{"ops":[{"op":"get","key":""}]}'),
    status: 400,
    code: "INVALID_ARGUMENT",
    message: "ops[0].key",
  },
  {
    name: "batch with too many ops",
    path: "/v1/batch",
    init: batch(
      JSON.stringify({ ops: Array.from({ length: LIMITS.batchOpsMax + 1 }, () => ({ op: "get", key: "k" })) }),
    ),
    status: 413,
    code: "LIMIT_EXCEEDED",
    message: `batchOpsMax limit: ${LIMITS.batchOpsMax + 1} > ${LIMITS.batchOpsMax}`,
  },
  {
    name: "batch value over the limit",
    path: "/v1/batch",
    init: batch(JSON.stringify({ ops: [{ op: "put", key: "k", value: "x".repeat(DATA_LIMITS.valueBytesMax + 1) }] })),
    status: 413,
    code: "LIMIT_EXCEEDED",
    message: "valueBytesMax",
  },
  {
    name: "page limit 0",
    path: "/v1/kv?limit=0",
    status: 400,
    code: "INVALID_ARGUMENT",
    message: `from 1 to pageLimitMax ${LIMITS.pageLimitMax}`,
  },
  {
    name: "page limit over the maximum",
    path: `/v1/kv?limit=${LIMITS.pageLimitMax + 1}`,
    status: 400,
    code: "INVALID_ARGUMENT",
    message: "pageLimitMax",
  },
  { name: "page limit not a number", path: "/v1/kv?limit=ten", status: 400, code: "INVALID_ARGUMENT" },
  { name: "malformed cursor", path: "/v1/kv?cursor=%%%", status: 400, code: "INVALID_ARGUMENT", message: "cursor" },
  {
    name: "cursor of another format",
    path: "/v1/kv?cursor=eHl6",
    status: 400,
    code: "INVALID_ARGUMENT",
    message: "cursor",
  },
  {
    name: "ttl not a number",
    path: "/v1/kv/k?ttl=soon",
    init: putText("v"),
    status: 400,
    code: "INVALID_ARGUMENT",
    message: "ttl",
  },
  {
    name: "ttl over ttlMsMax",
    path: `/v1/kv/k?ttl=${DATA_LIMITS.ttlMsMax + 1}`,
    init: putText("v"),
    status: 400,
    code: "INVALID_ARGUMENT",
    message: "ttlMsMax",
  },
  {
    name: "If-None-Match with an etag",
    path: "/v1/kv/k",
    init: putText("v", { "if-none-match": '"abc"' }),
    status: 400,
    code: "INVALID_ARGUMENT",
  },
  {
    name: "strict not a boolean",
    path: "/v1/kv/k?strict=maybe",
    init: putText("v"),
    status: 400,
    code: "INVALID_ARGUMENT",
  },
  {
    name: "content type with control characters",
    path: "/v1/kv/k",
    init: putText("v", { "content-type": "text/plain\u0001" }),
    status: 400,
    code: "INVALID_ARGUMENT",
  },
  {
    name: "malformed Last-Event-ID",
    path: "/v1/watch",
    init: { headers: { "last-event-id": "yesterday" } },
    status: 400,
    code: "INVALID_ARGUMENT",
  },
  { name: "unknown route", path: "/v2/kv/k", status: 404, code: "NOT_FOUND" },
  { name: "missing token", path: "/v1/kv/k", init: { token: null }, status: 401, code: "UNAUTHORIZED" },
  {
    name: "unknown token",
    path: "/v1/kv/k",
    init: { token: "not-a-configured-token-at-all" },
    status: 401,
    code: "UNAUTHORIZED",
  },
  {
    name: "read token writing",
    path: "/v1/kv/k",
    init: { ...putText("v"), token: TOKENS.read },
    status: 403,
    code: "FORBIDDEN",
    message: "needs write",
  },
  {
    name: "write token on the admin API",
    path: "/v1/admin/status",
    init: { token: TOKENS.write },
    status: 403,
    code: "FORBIDDEN",
    message: "needs admin",
  },
];

test("every bad input gets its documented status and code, and the node keeps serving", async () => {
  const h = await harness({ auth: true });
  for (const row of ROWS) {
    const err = await expectError(await h.req(row.path, row.init), row.status, row.code).catch((e: Error) => {
      throw new Error(`${row.name}: ${e.message}`);
    });
    if (row.message) {
      assert.ok(String(err.message).includes(row.message), `${row.name}: "${err.message}" lacks "${row.message}"`);
    }
    assert.ok(!JSON.stringify(err).includes("token-0123456789"), `${row.name}: a token leaked into the error`);
  }
  assert.equal(h.errors, [], "no request was an unexpected (500) failure");
  assert.is((await h.req("/health")).status, 200);
  assert.is((await h.req("/v1/kv/k", putText("still here"))).status, 201);
  assert.is(await (await h.req("/v1/kv/k")).text(), "still here");
  await h.close();
});

test("the status table maps every client-facing code to its documented status, and the rest to 500", () => {
  const expected: Record<string, number> = {
    INVALID_ARGUMENT: 400,
    BAD_CONTEXT: 400,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    KEY_NOT_FOUND: 404,
    NOT_FOUND: 404,
    KEY_EXISTS: 409,
    STALE_CONTEXT: 412,
    LIMIT_EXCEEDED: 413,
    UNSUPPORTED: 501,
    QUORUM_UNMET: 503,
    NODE_LEAVING: 503,
    CLOSED: 503,
    TIMEOUT: 504,
    CORRUPTION: 500,
    INTERNAL: 500,
    IO_ERROR: 500,
  };
  for (const [code, status] of Object.entries(expected)) assert.is(statusOf(code), status, code);
  for (const code of Object.keys(STATUS_BY_CODE)) {
    assert.ok(Object.hasOwn(ERROR_CODES, code), `${code} is a known code`);
  }
  assert.is(statusOf("SOMETHING_NEW"), 500);
});

test("an unexpected failure in the backend is a 500 INTERNAL JSON error, reported to onError, and the node keeps serving", async () => {
  const h = await harness();
  const original = h.backend.get.bind(h.backend);
  h.backend.get = () => Promise.reject(new TypeError("boom"));
  const err = await expectError(await h.req("/v1/kv/k"), 500, "INTERNAL");
  assert.match(String(err.message), "boom");
  assert.is(h.errors.length, 1);
  h.backend.get = original;
  await expectError(await h.req("/v1/kv/k"), 404, "KEY_NOT_FOUND");
  await h.close();
});

test.run();
