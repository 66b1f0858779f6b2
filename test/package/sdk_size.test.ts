/**
 * The SDK stays small: `meshkv/client` bundled for the browser, minified and gzipped, within its budget
 * (measured by bench/sdk_size.ts, the script the README's figure comes from).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { measureClientSize } from "../../bench/sdk_size.ts";

/** Budgets in gzipped bytes: the README states about 8.5 KB with superjson and 4.7 KB without. */
const GZIP_BYTES_MAX_WITH_SUPERJSON = 10 * 1024;
const GZIP_BYTES_MAX_SDK_ONLY = 6 * 1024;

test("meshkv/client with superjson is under 10 KB minified and gzipped, and bundles only the SDK and superjson", async () => {
  const s = await measureClientSize(true);
  assert.ok(
    s.gzipBytes < GZIP_BYTES_MAX_WITH_SUPERJSON,
    `meshkv/client is ${s.gzipBytes} bytes gzipped, over its budget of ${GZIP_BYTES_MAX_WITH_SUPERJSON}: find what grew (node --import tsx bench/sdk_size.ts)`,
  );
  const outside = s.inputs.filter((p) =>
    !p.startsWith("src/client/") && !/node_modules\/(superjson|copy-anything|is-what)\//.test(p)
  );
  assert.equal(outside, [], "the browser bundle pulls in files outside the SDK and superjson");
  assert.ok(s.inputs.some((p) => p.includes("superjson")), "superjson should be in the bundle");
});

test("meshkv/client's own code is under 6 KB minified and gzipped", async () => {
  const s = await measureClientSize(false);
  assert.ok(
    s.gzipBytes < GZIP_BYTES_MAX_SDK_ONLY,
    `the SDK's own code is ${s.gzipBytes} bytes gzipped, over its budget of ${GZIP_BYTES_MAX_SDK_ONLY}`,
  );
  assert.ok(s.gzipBytes > 1024, "a bundle this small means the SDK was not bundled");
  assert.not.ok(
    s.inputs.some((p) => p.includes("superjson")),
    "superjson was left out, so it must not be in the bundle",
  );
});

test.run();
