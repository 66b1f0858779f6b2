/**
 * checkRawTarget() decides, from the target as sent and the path URL parsing made of it, whether routing could
 * act on another key than the one sent. Table-driven; the raw-socket tests in raw_requests.test.ts run it
 * against real nodes.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isMeshkvError } from "../../src/errors.ts";
import { checkRawTarget } from "../../src/http/raw_target.ts";

const parsedPath = (target: string) => new URL(target, "http://h").pathname;

test("checkRawTarget() accepts ordinary and percent-encoded targets, including encoded dots inside a key", () => {
  for (
    const target of [
      "/v1/kv/a",
      "/v1/kv/a.b",
      "/v1/kv/%2Ehidden",
      "/v1/kv/zz%2F..%2Fvictim",
      "/v1/kv/a/b?x=../y",
      "/v1/kv/caf%C3%A9",
      "http://h/v1/kv/a",
      "/v1/kv/a%20b",
      "/v1/kv/a{b}",
    ]
  ) {
    checkRawTarget(target, parsedPath(target));
  }
});

test("checkRawTarget() refuses dot segments in any spelling, backslashes, #, non-ASCII bytes and targets without a leading /", () => {
  const refused = [
    "/v1/kv/zz/../victim",
    "/v1/kv/zz/%2e%2e/victim",
    "/v1/kv/zz/%2E./victim",
    "/v1/kv/zz/.%2E/victim",
    "/v1/kv/./a",
    "/v1/kv/a/.",
    "/v1/kv/a/..",
    "/v1/kv/a\\b",
    "/v1/kv/a#b",
    "/v1/kv/caf\u00e9",
    "http://h/v1/kv/zz/../victim",
    "*",
    "v1/kv/a",
  ];
  for (const target of refused) {
    let err: unknown = null;
    try {
      checkRawTarget(target, "/v1/kv/victim");
    } catch (e) {
      err = e;
    }
    assert.ok(isMeshkvError(err, "BAD_PATH"), `${target}: ${String(err)}`);
  }
});

test("checkRawTarget() refuses any target whose parsed path differs from it once percent-encoding is undone", () => {
  let err: unknown = null;
  try {
    checkRawTarget("/v1/kv/a", "/v1/kv/b");
  } catch (e) {
    err = e;
  }
  assert.ok(isMeshkvError(err, "BAD_PATH"));
});

test.run();
