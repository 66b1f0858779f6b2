/**
 * The SDK under races and failures, against real servers on loopback: update() with concurrent writers loses
 * no increment, failover between endpoints, watch with resume, AbortSignal and timeouts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createClient, MeshkvClientError, type WatchEvent } from "../../src/client/mod.ts";
import { eventually } from "../_helpers.ts";
import { startNode } from "./_server.ts";

test("update() under concurrent writers through two endpoints loses no increment", async () => {
  const node = await startNode({ endpoints: 2 });
  try {
    const writers = 6;
    const each = 10;
    const clients = Array.from({ length: writers }, (_, i) => createClient({ endpoints: [node.urls[i % 2]!] }));
    await Promise.all(
      clients.map(async (kv) => {
        for (let i = 0; i < each; i++) await kv.update<number>("counter", ([n = 0]) => n + 1, { retries: 50 });
      }),
    );
    const final = await clients[0]!.get<number>("counter");
    assert.equal(final!.values, [writers * each]);
  } finally {
    await node.close();
  }
});

test("update() hands every sibling to the resolver and writes one value back", async () => {
  const node = await startNode();
  try {
    const kv = createClient({ endpoints: node.urls });
    const base = await kv.put("cart", ["milk"]);
    await kv.put("cart", ["milk", "eggs"], { context: base.context });
    await kv.put("cart", ["milk", "bread"], { context: base.context });
    let seen: string[][] = [];
    const result = await kv.update<string[]>("cart", (values) => {
      seen = values;
      return [...new Set(values.flat())].sort();
    });
    assert.is(seen.length, 2);
    assert.equal(result.value, ["bread", "eggs", "milk"]);
    assert.equal((await kv.get("cart"))!.values, [["bread", "eggs", "milk"]]);
    const created = await kv.update<number>("fresh", (values) => values.length + 100);
    assert.is(created.created, true);
    assert.is(created.value, 100);
  } finally {
    await node.close();
  }
});

test("requests go to a healthy endpoint when the first one is down", async () => {
  const node = await startNode({ endpoints: 2 });
  try {
    await node.closeEndpoint(node.urls[0]!);
    const kv = createClient({ endpoints: node.urls, timeoutMs: 2000 });
    await kv.put("fo/1", "one");
    assert.is((await kv.get("fo/1"))!.value, "one");
    const state = kv.endpoints();
    assert.is(state[0]!.url, node.urls[1]);
    assert.is(state.find((e) => e.url === node.urls[0])!.healthy, false);
  } finally {
    await node.close();
  }
});

test("when the endpoint in use dies, reads fail over to the next; a write is not retried but the next one goes elsewhere", async () => {
  const node = await startNode({ endpoints: 2 });
  try {
    const kv = createClient({ endpoints: node.urls, timeoutMs: 2000 });
    await kv.put("fo/2", "before");
    const [used, other] = kv.endpoints();
    assert.ok(used!.healthy && other!.healthy);
    await node.closeEndpoint(used!.url);
    assert.is((await kv.get("fo/2"))!.value, "before", "the read failed over");
    assert.is(kv.endpoints()[0]!.url, other!.url);
    const fresh = createClient({ endpoints: [used!.url, other!.url], timeoutMs: 2000 });
    await fresh.get("fo/2");
    await node.closeEndpoint(other!.url);
    const err = await fresh.put("fo/2", "lost?").catch((e) => e);
    assert.instance(err, MeshkvClientError);
    assert.is(err.code, "CONNECT_FAILED");
    assert.is(err.status, 0);
  } finally {
    await node.close();
  }
});

test("watch yields changes written through another endpoint and resumes after its last id", async () => {
  const node = await startNode({ endpoints: 2 });
  try {
    const watcher = createClient({ endpoints: [node.urls[0]!] });
    const writer = createClient({ endpoints: [node.urls[1]!] });
    const w = watcher.watch<{ at: Date }>({ prefix: "w/" });
    await w.ready;
    await writer.put("other", 1);
    await writer.put("w/a", { at: new Date(1) });
    await writer.delete("w/a");
    const events: WatchEvent<{ at: Date }>[] = [];
    for await (const e of w) {
      events.push(e);
      if (events.length === 2) break;
    }
    assert.equal(events.map((e) => [e.type, e.key]), [["put", "w/a"], ["delete", "w/a"]]);
    assert.instance(events[0]!.value!.at, Date);
    const resumeFrom = w.lastId!;
    await writer.put("w/b", { at: new Date(2) });
    const again = watcher.watch<{ at: Date }>({ prefix: "w/", after: resumeFrom });
    for await (const e of again) {
      assert.is(e.key, "w/b");
      assert.equal(e.value, { at: new Date(2) });
      break;
    }
    // Both watches ended on the client side; the server notices the closed streams and drops its watchers.
    await eventually(async () => (await node.status()).watchers === 0, 5000, 20, "the server to drop closed watches");
  } finally {
    await node.close();
  }
});

test("an AbortSignal cancels a pending request and ends a watch; a slow answer is a TIMEOUT", async () => {
  const node = await startNode();
  try {
    // A fetch that answers health probes but never answers anything else (until aborted).
    const hanging: typeof fetch = (input, init) =>
      String(input).endsWith("/health")
        ? fetch(input, init)
        : new Promise((_, reject) =>
          init?.signal?.addEventListener("abort", () => reject(init.signal!.reason), { once: true })
        );
    const kv = createClient({ endpoints: node.urls, fetch: hanging, timeoutMs: 10_000, retries: 0 });
    const controller = new AbortController();
    const pending = kv.get("k", { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("user gave up")), 30);
    const err = await pending.catch((e) => e);
    assert.is(err.message, "user gave up");
    const already = AbortSignal.abort();
    assert.is((await kv.put("k", 1, { signal: already }).catch((e) => e)).name, "AbortError");
    const quick = createClient({ endpoints: node.urls, fetch: hanging, timeoutMs: 50, retries: 0 });
    const timeout = await quick.get("k").catch((e) => e);
    assert.instance(timeout, MeshkvClientError);
    assert.is(timeout.code, "TIMEOUT");
    const real = createClient({ endpoints: node.urls });
    const stop = new AbortController();
    const w = real.watch({ signal: stop.signal });
    await w.ready;
    setTimeout(() => stop.abort(new Error("done watching")), 20);
    const ended = await (async () => {
      for await (const _ of w) void _;
    })().catch((e) => e);
    assert.is(ended.message, "done watching");
  } finally {
    await node.close();
  }
});

test.run();
