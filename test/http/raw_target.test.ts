/**
 * checkRawTarget() decides, from the target as sent and the path URL parsing made of it, whether routing could
 * act on another key than the one sent. Table-driven; the raw-socket tests in raw_requests.test.ts run it
 * against real nodes.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isMeshkvError } from "../../src/errors.ts";
import { checkRawTarget, plainPath } from "../../src/http/raw_target.ts";
import { SeededRandom } from "../../src/runtime/memory.ts";

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

test("plainPath() gives a path only where URL parsing keeps it as sent, and the check passes on it", () => {
  assert.is(plainPath("/v1/kv/user123"), "/v1/kv/user123");
  assert.is(plainPath("/v1/kv/a/b.c?consistency=../one"), "/v1/kv/a/b.c", "the query is not the path");
  assert.is(plainPath("/v1/kv/a//b"), "/v1/kv/a//b");
  for (
    const t of ["/v1/kv/zz/../v", "/v1/kv/a/.", "/v1/kv/./a", "/v1/kv/a%2e", "/v1/kv/a#b", "/v1/kv/a\\b", "/v1/kv/a b"]
  ) {
    assert.is(plainPath(t), null, t);
  }
  assert.is(plainPath("/v1/kv/caf\u00e9"), null, "non-ASCII");
  assert.is(plainPath("http://h/v1/kv/a"), null, "absolute form");
  // Random targets over every printable ASCII byte, heavy in dots and slashes: whenever plainPath answers, the
  // WHATWG parser agrees byte for byte and checkRawTarget accepts.
  const rnd = new SeededRandom(18);
  const chars = "/./..//" + Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
  let plain = 0;
  for (let i = 0; i < 20_000; i++) {
    let t = "/v1/kv/";
    const n = 1 + rnd.int(12);
    for (let j = 0; j < n; j++) t += chars[rnd.int(chars.length)];
    const p = plainPath(t);
    if (p === null) continue;
    plain++;
    assert.is(new URL(t, "http://h").pathname, p, t);
    checkRawTarget(t, p);
  }
  assert.ok(plain > 1000, `enough plain targets were tried (${plain})`);
});

test.run();
