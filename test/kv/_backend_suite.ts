/**
 * The `KvBackend` conformance suite (convention 4): what every route of the client API relies on, as one
 * contract run against every deployment of the backend (`backend.test.ts`: one node and three nodes of the
 * simulated cluster). Reads and writes, causal contexts and siblings, create-only and strict writes, deletes that
 * keep their history, TTL, listing with a cursor, batches in order, the change feed, and the data limits with
 * their error codes.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { ConsistencyLevel } from "../../src/core/quorum.ts";
import type { VersionVector } from "../../src/core/version.ts";
import type { ChangeEvent, KvBackend, ListOptions, ReadResult, WriteResult } from "../../src/kv/backend.ts";
import { DATA_LIMITS } from "../../src/kv/limits.ts";
import { rejectsWith } from "../_helpers.ts";

/**
 * One deployment of the backend under test. Keys under `lww/` must be in a last-writer-wins keyspace
 * (`{ prefix: "lww/", conflicts: "lww" }`), every other key keeps siblings.
 */
export interface BackendTarget {
  /** The backend the suite talks to. */
  backend: KvBackend;
  /** Another node's backend of the same cluster, when there is one: a write through one is read through it. */
  peer: KvBackend | null;
  /** Awaits an operation, moving simulated time while it runs. */
  run<T>(promise: Promise<T>): Promise<T>;
  /** Moves simulated time forward. */
  advance(ms: number): Promise<void>;
  now(): number;
  close(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (r: ReadResult) => r.values.map((v) => dec.decode(v.data)).sort();

type Ctx = { t: BackendTarget };
type PutOptions = { context?: VersionVector; ifNoneMatch?: boolean; strict?: boolean; ttlMs?: number };

/** The suite for one deployment; the caller runs it (`.run()`). */
export function backendSuite(name: string, open: () => Promise<BackendTarget>) {
  const s = suite<Ctx>(`KvBackend: ${name}`);
  s.before.each(async (ctx) => {
    ctx.t = await open();
  });
  s.after.each(async (ctx) => {
    await ctx.t.close();
  });

  const ops = (t: BackendTarget, b: KvBackend = t.backend) => ({
    get: (key: string, consistency: ConsistencyLevel | null = null) => t.run(b.get(key, { consistency })),
    put: (key: string, value: string, o: PutOptions = {}): Promise<WriteResult> =>
      t.run(b.put(key, { contentType: "text/plain", data: enc.encode(value) }, {
        context: o.context ?? [],
        ifNoneMatch: o.ifNoneMatch ?? false,
        strict: o.strict ?? false,
        consistency: null,
        ttlMs: o.ttlMs ?? null,
      })),
    del: (key: string, context: VersionVector | null = null, strict = false) =>
      t.run(b.delete(key, { context, strict, consistency: null })),
    list: (o: Partial<ListOptions> = {}) =>
      t.run(
        b.list({
          prefix: "",
          start: null,
          end: null,
          after: null,
          limit: 100,
          keysOnly: false,
          consistency: null,
          ...o,
        }),
      ),
  });

  s("a key never written reads as no values, an empty context and no expiry", async ({ t }) => {
    const r = await ops(t).get("absent");
    assert.equal(r.values, []);
    assert.equal(r.context, []);
    assert.is(r.expiresAt, null);
  });

  s("put creates a key (created, one sibling) and get returns its bytes, content type and context", async ({ t }) => {
    const kv = ops(t);
    const w = await kv.put("k", "v1");
    assert.is(w.created, true);
    assert.is(w.siblings, 1);
    assert.ok(w.context.length > 0);
    const r = await kv.get("k");
    assert.equal(text(r), ["v1"]);
    assert.is(r.values[0]!.contentType, "text/plain");
    assert.equal(r.context, w.context);
    assert.is((await kv.put("k", "v2", { context: r.context })).created, false, "a second write does not create");
  });

  s(
    "a write with the read's context supersedes it; a blind write becomes a sibling, resolved by a write with both",
    async ({ t }) => {
      const kv = ops(t);
      const first = await kv.put("k", "a");
      assert.is((await kv.put("k", "b", { context: first.context })).siblings, 1);
      assert.equal(text(await kv.get("k")), ["b"]);
      assert.is((await kv.put("k", "c")).siblings, 2);
      const both = await kv.get("k");
      assert.equal(text(both), ["b", "c"]);
      const resolved = await kv.put("k", "bc", { context: both.context });
      assert.is(resolved.siblings, 1);
      assert.equal(text(await kv.get("k")), ["bc"]);
    },
  );

  s("create-only fails with KEY_EXISTS on a live key and succeeds on an absent or deleted one", async ({ t }) => {
    const kv = ops(t);
    assert.is((await kv.put("k", "first", { ifNoneMatch: true })).created, true);
    await rejectsWith(() => kv.put("k", "second", { ifNoneMatch: true }), "KEY_EXISTS");
    assert.equal(text(await kv.get("k")), ["first"]);
    await kv.del("k");
    assert.is((await kv.put("k", "again", { ifNoneMatch: true })).created, true);
  });

  s("a strict write whose context is stale fails with STALE_CONTEXT and changes nothing", async ({ t }) => {
    const kv = ops(t);
    const old = await kv.put("k", "a");
    await kv.put("k", "b", { context: old.context });
    await rejectsWith(() => kv.put("k", "c", { context: old.context, strict: true }), "STALE_CONTEXT");
    await rejectsWith(() => kv.del("k", old.context, true), "STALE_CONTEXT");
    assert.equal(text(await kv.get("k")), ["b"]);
  });

  s(
    "a delete leaves no values but keeps the key's history in its context; without a context it deletes what is there",
    async ({ t }) => {
      const kv = ops(t);
      const w = await kv.put("k", "v");
      const d = await kv.del("k", w.context);
      assert.is(d.siblings, 0);
      const r = await kv.get("k");
      assert.equal(r.values, []);
      assert.ok(r.context.length > 0, "a deleted key keeps its history");
      await kv.put("j", "x");
      await kv.put("j", "y");
      assert.is((await kv.del("j")).siblings, 0, "a delete without a context covers every sibling");
      assert.equal((await kv.get("j")).values, []);
      assert.equal((await kv.del("never")).siblings, 0, "deleting an absent key succeeds");
    },
  );

  s("a delete that races a write (older context) keeps the write as a sibling", async ({ t }) => {
    const kv = ops(t);
    const base = await kv.put("k", "a");
    await kv.put("k", "b", { context: base.context });
    await kv.del("k", base.context);
    assert.equal(text(await kv.get("k")), ["b"]);
  });

  s("a TTL sets the expiry, and the key reads as absent once the clock passes it", async ({ t }) => {
    const kv = ops(t);
    const before = t.now();
    await kv.put("k", "v", { ttlMs: 5_000 });
    const r = await kv.get("k");
    assert.ok(
      r.expiresAt !== null && r.expiresAt >= before + 5_000 && r.expiresAt <= t.now() + 5_000,
      `expiresAt ${r.expiresAt}`,
    );
    await t.advance(6_000);
    assert.equal((await kv.get("k")).values, []);
    assert.equal((await kv.list()).items.map((i) => i.key), [], "an expired key is not listed");
  });

  s(
    "list returns keys in UTF-8 byte order with values, pages through a cursor, and honours prefix, range and keys-only",
    async ({ t }) => {
      const kv = ops(t);
      const keys = ["b/2", "a/1", "b/1", "b/10", "c", "b/\u00e9", "b/z"];
      for (const k of keys) await kv.put(k, `v:${k}`);
      await kv.put("b/gone", "x");
      await kv.del("b/gone");
      const all = await kv.list();
      assert.equal(all.items.map((i) => i.key), ["a/1", "b/1", "b/10", "b/2", "b/z", "b/\u00e9", "c"]);
      assert.is(all.next, null);
      assert.equal(all.items[0]!.values.map((v) => dec.decode(v.data)), ["v:a/1"]);
      assert.ok(all.items[0]!.context.length > 0);
      const seen: string[] = [];
      let after: string | null = null;
      for (let pages = 0; pages < 10; pages++) {
        const page = await kv.list({ prefix: "b/", limit: 2, after });
        assert.ok(page.items.length <= 2);
        seen.push(...page.items.map((i) => i.key));
        if (page.next === null) break;
        after = page.next;
      }
      assert.equal(
        seen,
        ["b/1", "b/10", "b/2", "b/z", "b/\u00e9"],
        "pages resume after the cursor without loss or repeats",
      );
      const range = await kv.list({ start: "b/10", end: "b/z" });
      assert.equal(range.items.map((i) => i.key), ["b/10", "b/2"]);
      const keysOnly = await kv.list({ prefix: "a/", keysOnly: true });
      assert.equal(keysOnly.items.map((i) => [i.key, i.values.length]), [["a/1", 0]]);
    },
  );

  s(
    "a batch runs its ops in order, each seeing the ones before, and a failed op does not stop the rest",
    async ({ t }) => {
      const b = t.backend;
      const value = (s: string) => ({ contentType: "text/plain", data: enc.encode(s) });
      const write = { context: [], ifNoneMatch: false, strict: false, consistency: null, ttlMs: null };
      const results = await t.run(b.batch([
        { type: "put", key: "k", value: value("mine"), options: write },
        { type: "get", key: "k", options: { consistency: null } },
        { type: "put", key: "k", value: value("twice"), options: { ...write, ifNoneMatch: true } },
        { type: "delete", key: "k", options: { context: null, strict: false, consistency: null } },
        { type: "get", key: "k", options: { consistency: null } },
        { type: "put", key: "other", value: value("o"), options: write },
      ]));
      assert.equal(results.map((r) => `${r.type}:${r.ok}`), [
        "put:true",
        "get:true",
        "put:false",
        "delete:true",
        "get:true",
        "put:true",
      ]);
      const [, got, exists, , gone] = results;
      assert.ok(
        got!.ok && got!.type === "get" && text(got!.result).join() === "mine",
        "the get sees the put before it",
      );
      assert.ok(!exists!.ok && (exists as { error: { code?: string } }).error.code === "KEY_EXISTS");
      assert.ok(
        gone!.ok && gone!.type === "get" && gone!.result.values.length === 0,
        "the last get sees the delete before it",
      );
      assert.equal(text(await ops(t).get("other")), ["o"]);
    },
  );

  s(
    "watch starts with ready, then reports puts and deletes under its prefix, resumable from an event id",
    async ({ t }) => {
      const kv = ops(t);
      const stop = new AbortController();
      const it = t.backend.watch({ prefix: "w/", after: null, signal: stop.signal })[Symbol.asyncIterator]();
      const next = async (): Promise<ChangeEvent> => {
        const r = await t.run(it.next());
        assert.ok(!r.done, "the watch is still open");
        return r.value;
      };
      const ready = await next();
      assert.is(ready.type, "ready");
      assert.ok(t.backend.isEventId(ready.id));
      assert.not.ok(t.backend.isEventId("not an id"));
      await kv.put("x/other", "ignored");
      const w = await kv.put("w/1", "v");
      await kv.del("w/1", w.context);
      const put = await next();
      assert.equal([put.type, put.key, put.values.map((v) => dec.decode(v.data))], ["put", "w/1", ["v"]]);
      assert.equal(put.context, w.context);
      const del = await next();
      assert.equal([del.type, del.key, del.values], ["delete", "w/1", []]);
      stop.abort();
      assert.ok((await t.run(it.next())).done, "aborting the signal ends the watch");
      const resumed = t.backend.watch({ prefix: "w/", after: put.id, signal: new AbortController().signal })
        [Symbol.asyncIterator]();
      assert.is((await t.run(resumed.next())).value.type, "ready");
      assert.is((await t.run(resumed.next())).value.type, "delete", "resuming replays what came after the id");
      await resumed.return?.();
    },
  );

  s(
    "a write that would hold more than siblingsMax live siblings fails with LIMIT_EXCEEDED naming the limit",
    async ({ t }) => {
      const kv = ops(t);
      for (let i = 0; i < DATA_LIMITS.siblingsMax; i++) await kv.put("hot", `v${i}`);
      const err = await rejectsWith(() => kv.put("hot", "one too many"), "LIMIT_EXCEEDED");
      assert.match(err.message, "siblingsMax");
      assert.is((err as { details?: { limit?: string } }).details?.limit, "siblingsMax");
      const r = await kv.get("hot");
      assert.is(r.values.length, DATA_LIMITS.siblingsMax);
      assert.is(
        (await kv.put("hot", "resolved", { context: r.context })).siblings,
        1,
        "a write with their context resolves them",
      );
    },
  );

  s(
    "a write that would grow a key's versions past setBytesMax fails with LIMIT_EXCEEDED naming the limit",
    async ({ t }) => {
      const kv = ops(t);
      const big = "x".repeat(DATA_LIMITS.valueBytesMax);
      for (let i = 0; i < 3; i++) await kv.put("big", big + i);
      const err = await rejectsWith(() => kv.put("big", big), "LIMIT_EXCEEDED");
      assert.match(err.message, "setBytesMax");
      assert.is((await kv.get("big")).values.length, 3);
    },
  );

  s("members, status and ring describe the node; ready() is true while it serves", async ({ t }) => {
    assert.ok(t.backend.ready());
    const members = await t.backend.members();
    assert.ok(members.some((m) => m.id === t.backend.nodeId && m.status === "alive"));
    const status = await t.backend.status();
    assert.is(status.nodeId, t.backend.nodeId);
    assert.type(await t.backend.ring(), "object");
  });

  s(
    "in a last-writer-wins keyspace concurrent writes leave one value, the latest, and a later delete wins",
    async ({ t }) => {
      const kv = ops(t);
      await kv.put("lww/k", "first");
      await t.advance(10);
      const second = await kv.put("lww/k", "second");
      assert.equal(text(await kv.get("lww/k")), ["second"], "a blind write replaces instead of adding a sibling");
      await t.advance(10);
      await kv.del("lww/k", []);
      assert.equal((await kv.get("lww/k")).values, [], "a blind delete after them wins too");
      assert.ok(second.context.length > 0);
    },
  );

  s("a write through one node is read through another at the default level", async ({ t }) => {
    if (t.peer === null) return;
    const w = await ops(t).put("shared", "v");
    const r = await ops(t, t.peer).get("shared");
    assert.equal(text(r), ["v"]);
    assert.equal(r.context, w.context);
  });

  return s;
}
