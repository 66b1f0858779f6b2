/**
 * `Runtime.resolveHost`, which turns a seed's DNS name into every address it has (a headless Kubernetes Service
 * names every pod), on the runtime running this file: Node and Bun resolve through the system (hosts file
 * included), Deno through DNS servers only, so `localhost` may be unknown there (the seed is then dialled as given).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { realRuntime } from "../_helpers.ts";

const rt = await realRuntime();

test(`resolveHost on ${rt.name} gives the addresses of a name, and rejects a name that does not exist`, async () => {
  assert.type(rt.resolveHost, "function");
  if (rt.name !== "deno") {
    const found = await rt.resolveHost!("localhost");
    assert.ok(
      found.includes("127.0.0.1") || found.includes("::1"),
      `localhost resolves to loopback: ${JSON.stringify(found)}`,
    );
  }
  let failed = false;
  try {
    const none = await rt.resolveHost!("no-such-host.invalid");
    failed = none.length === 0;
  } catch {
    failed = true;
  }
  assert.ok(failed, "a name under .invalid (RFC 6761) never resolves");
});

test.run();
