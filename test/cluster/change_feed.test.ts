/**
 * The change feed's lazy events (`ChangeFeed.publishLazy`, what the cluster backend publishes every change
 * with): nothing is built for a node nobody watches, a watcher gets each event built once with its id in order,
 * a reconnecting watcher's replay builds the buffered ones it missed, and the buffer is bounded by the bytes
 * given for each event.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { changeEventBytesMax, ChangeFeed, type NewEvent } from "../../src/cluster/change_feed.ts";
import { encodeSet } from "../../src/core/context.ts";
import { emptySet, update } from "../../src/core/version.ts";
import type { ChangeEvent } from "../../src/kv/backend.ts";

const put = (key: string, data: string): NewEvent => ({
  type: "put",
  key,
  values: [{ contentType: "text/plain", data: new TextEncoder().encode(data) }],
  valuesOmitted: false,
  context: [],
});

/** Reads `n` events from a watch (after its first `ready` or `gap`), then stops it. */
async function take(feed: ChangeFeed, prefix: string, after: string | null, n: number, during?: () => void) {
  const ac = new AbortController();
  const out: ChangeEvent[] = [];
  const it = feed.watch(prefix, after, ac.signal);
  const first = await it.next();
  during?.();
  for (let i = 0; i < n; i++) out.push((await it.next()).value as ChangeEvent);
  ac.abort();
  await it.return(undefined);
  return { first: first.value as ChangeEvent, events: out };
}

test("with nobody watching, no event is built; a watcher's events are built once each, in order", async () => {
  const feed = new ChangeFeed(1_000_000);
  let made = 0;
  const lazy = (key: string, data: string) => () => (made++, put(key, data));
  feed.publishLazy("a", 10, lazy("a", "1"));
  feed.publishLazy("b", 10, lazy("b", "2"));
  assert.is(made, 0);
  const { first, events } = await take(feed, "a", null, 2, () => {
    feed.publishLazy("b/skip", 10, lazy("b/skip", "x"));
    feed.publishLazy("a1", 10, lazy("a1", "3"));
    feed.publishLazy("a2", 10, lazy("a2", "4"));
  });
  assert.is(first.type, "ready");
  assert.equal(events.map((e) => [e.key, new TextDecoder().decode(e.values[0]!.data)]), [["a1", "3"], ["a2", "4"]]);
  assert.equal(events.map((e) => e.id.split(".")[1]), ["4", "5"]);
  assert.is(made, 2, "only the watched keys' events were built");
});

test("a replay after Last-Event-ID builds the missed events with their own ids, once", async () => {
  const feed = new ChangeFeed(2_000_000);
  let made = 0;
  const start = feed.lastId;
  for (let i = 1; i <= 3; i++) feed.publishLazy(`k${i}`, 10, () => (made++, put(`k${i}`, `v${i}`)));
  const one = await take(feed, "", start, 3);
  assert.is(one.first.type, "ready");
  assert.equal(one.events.map((e) => e.key), ["k1", "k2", "k3"]);
  assert.equal(one.events.map((e) => e.id), [1, 2, 3].map((s) => `${start.split(".")[0]}.${s}`));
  const two = await take(feed, "", start, 3);
  assert.equal(two.events.map((e) => e.id), one.events.map((e) => e.id));
  assert.is(made, 3, "a replayed event is built once, then kept");
});

test("the buffer is bounded by the bytes given per event: older events fall out and a resume gets a gap", async () => {
  const feed = new ChangeFeed(3_000_000, { bytesMax: 100 });
  const start = feed.lastId;
  for (let i = 0; i < 5; i++) feed.publishLazy(`k${i}`, 40, () => put(`k${i}`, "v"));
  const r = await take(feed, "", start, 0);
  assert.is(r.first.type, "gap", "the first events were dropped to stay within bytesMax");
  const after3 = `${start.split(".")[0]}.3`;
  const kept = await take(feed, "", after3, 2);
  assert.is(kept.first.type, "ready");
  assert.equal(kept.events.map((e) => e.key), ["k3", "k4"]);
});

test("changeEventBytesMax bounds what the built event counts: the key and the encoded set, at most the value limit", () => {
  const record = new Uint8Array(500).fill(7);
  const set = update(emptySet<Uint8Array>(), [], record, "n1.abcd", 1);
  const s = { set, expiresAt: null };
  const bytes = changeEventBytesMax("key", s, 64 * 1024);
  assert.is(bytes, 3 + encodeSet(set).length);
  assert.ok(bytes >= 3 + 500);
  assert.is(changeEventBytesMax("key", s, 100), 103);
});

test.run();
