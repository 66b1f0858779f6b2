/**
 * Hinted handoff: the hint store (merge of concurrent hints, conditional ack, byte, count and age limits,
 * durability and recount at reopen) on the memory file system and the real one of the runtime under test, and
 * the delivery loop (alive targets only, backoff after a failure, ack only on success, batch and byte bounds)
 * on the memory runtime with a manual clock.
 */
import { suite, test } from "uvu";
import * as assert from "uvu/assert";
import { decodeSet, encodeSet } from "../../src/core/context.ts";
import { emptySet, merge, update, values } from "../../src/core/version.ts";
import { HintDelivery } from "../../src/cluster/hint_delivery.ts";
import { type Hint, hintBytes, type HintStore, type HintStoreOptions, openHintStore } from "../../src/cluster/hints.ts";
import { ManualClock, MemoryFileSystem, SeededRandom } from "../../src/runtime/memory.ts";
import { openEngine } from "../../src/storage/mod.ts";
import { rejectsWith } from "../_helpers.ts";
import { dec, enc, type Env, memoryEnv, realEnv } from "../storage/_env.ts";

const T0 = 1_700_000_000_000;

/** A set holding one value written by `node` (blind write: concurrent with every other node's). */
function setOf(node: string, value: string, base = emptySet<Uint8Array>()): Uint8Array {
  return encodeSet(update(base, [], enc(value), node, T0));
}

const sibs = (set: Uint8Array): string[] => values(decodeSet(set)).map(dec).sort();
const hint = (target: string, key: string, set: Uint8Array, partition = 3): Omit<Hint, "storedAtMs"> => ({
  target,
  partition,
  key,
  set,
  expiresAt: null,
});

type Ctx = { env: Env; open(o?: Partial<HintStoreOptions>): Promise<HintStore> };

function storeSuite(name: string, make: () => Promise<Env>) {
  const s = suite<Ctx>(`hint store: ${name}`);
  s.before.each(async (ctx) => {
    const env = await make();
    ctx.env = env;
    // The memory clock only moves when told, so the memory store syncs every write instead of every 2 ms.
    const durability = env.name === "memory" ? "always" : "batch";
    ctx.open = (o = {}) => openHintStore({ fs: env.fs, dir: `${env.dir}/hints`, clock: env.clock, durability, ...o });
  });
  s.after.each(async (ctx) => ctx.env.cleanup());

  s("add, take and ack hand hints over per target, in key order, and count them", async ({ open }) => {
    const store = await open();
    await store.add(hint("n2", "k2", setOf("n1", "b")));
    await store.add(hint("n2", "k1", setOf("n1", "a"), 9));
    await store.add(hint("n3", "k1", setOf("n1", "c")));
    assert.equal(store.targets(), ["n2", "n3"]);
    const st = store.stats();
    assert.is(st.pending, 3);
    assert.is(st.perTarget["n2"]?.pending, 2);
    assert.ok(st.bytes > 0 && st.bytes === (st.perTarget["n2"]?.bytes ?? 0) + (st.perTarget["n3"]?.bytes ?? 0));
    const got = await store.take("n2", 10, 1 << 20);
    assert.equal(got.map((h) => h.key), ["k1", "k2"], "key order");
    assert.is(got[0]?.partition, 9);
    assert.is(got[0]?.target, "n2");
    assert.equal(sibs(got[0]!.set), ["a"]);
    assert.equal(st.bytes, store.stats().bytes, "take does not delete");
    assert.equal(
      got.reduce((n, h) => n + hintBytes(h), 0),
      st.perTarget["n2"]?.bytes,
      "hintBytes matches the store's count",
    );
    await store.ack(got);
    assert.equal(store.targets(), ["n3"]);
    assert.is(store.stats().delivered, 2);
    assert.is(store.stats().perTarget["n2"], undefined);
    assert.equal(await store.take("n2", 10, 1 << 20), []);
    await store.close();
    await rejectsWith(() => store.add(hint("n2", "k", setOf("n1", "x"))), "CLOSED");
  });

  s("take returns at most limit hints and at most bytesMax bytes, but always one", async ({ open }) => {
    const store = await open();
    for (let i = 0; i < 5; i++) await store.add(hint("n2", `k${i}`, setOf("n1", "v".repeat(100))));
    assert.is((await store.take("n2", 2, 1 << 20)).length, 2);
    const one = (await store.take("n2", 5, 1))[0]!;
    assert.is(one.key, "k0", "one hint even when it alone is over bytesMax");
    assert.is((await store.take("n2", 5, hintBytes(one) * 3)).length, 3);
    await store.close();
  });

  s("hints for one key merge: concurrent versions all survive, also from concurrent adds", async ({ open }) => {
    const store = await open();
    await store.add(hint("n2", "k", setOf("n1", "from-n1")));
    await store.add(hint("n2", "k", setOf("n3", "from-n3")));
    await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => store.add(hint("n2", "k", setOf(`c${String(i).padStart(2, "0")}`, `v${i}`))),
      ),
    );
    assert.is(store.stats().pending, 1);
    const [h] = await store.take("n2", 10, 1 << 20);
    const expected = ["from-n1", "from-n3", ...Array.from({ length: 20 }, (_, i) => `v${i}`)].sort();
    assert.equal(sibs(h!.set), expected);
    // A later write that saw "from-n1" supersedes it, as a replica's merge would.
    const seen = decodeSet(setOf("n1", "from-n1"));
    await store.add(
      hint(
        "n2",
        "k",
        encodeSet(
          update(seen, seen.entries.map((e) => ({ node: e.node, counter: e.counter })), enc("newer"), "n1", T0),
        ),
      ),
    );
    const [h2] = await store.take("n2", 10, 1 << 20);
    assert.ok(sibs(h2!.set).includes("newer") && !sibs(h2!.set).includes("from-n1"));
    assert.is(store.stats().perTarget["n2"]?.bytes, hintBytes(h2!), "bytes follow the merged size");
    await store.close();
  });

  s(
    "ack does not delete a hint that a newer write changed after take; the next round delivers it",
    async ({ open }) => {
      const store = await open();
      await store.add(hint("n2", "a", setOf("n1", "a1")));
      await store.add(hint("n2", "b", setOf("n1", "b1")));
      const taken = await store.take("n2", 10, 1 << 20);
      await store.add(hint("n2", "a", setOf("n4", "a2")));
      await store.ack(taken);
      assert.is(store.stats().pending, 1);
      assert.is(store.stats().delivered, 1);
      const again = await store.take("n2", 10, 1 << 20);
      assert.equal(again.map((h) => h.key), ["a"]);
      assert.equal(sibs(again[0]!.set), ["a1", "a2"]);
      await store.ack(again);
      assert.equal(store.targets(), []);
      await store.close();
    },
  );

  s("a full backlog rejects with LIMIT_EXCEEDED naming the limit; other targets still take hints", async ({ open }) => {
    const store = await open({ limits: { hintBytesMaxPerTarget: 500 } });
    const big = setOf("n1", "x".repeat(150));
    await store.add(hint("n2", "k1", big));
    await store.add(hint("n2", "k2", big));
    const err = await rejectsWith(() => store.add(hint("n2", "k3", big)), "LIMIT_EXCEEDED");
    assert.match(err.message, /hintBytesMaxPerTarget/);
    assert.is((err as { details?: Record<string, unknown> }).details?.["limit"], "hintBytesMaxPerTarget");
    await rejectsWith(
      () => store.add(hint("n2", "k1", setOf("n9", "y".repeat(300)))),
      "LIMIT_EXCEEDED",
      "a merge that grows past the limit",
    );
    await store.add(hint("n3", "k3", big));
    const st = store.stats();
    assert.is(st.rejected, 2);
    assert.is(st.perTarget["n2"]?.pending, 2);
    assert.ok((st.perTarget["n2"]?.bytes ?? 0) <= 500);
    assert.equal(
      sibs((await store.take("n2", 10, 1 << 20))[0]!.set),
      ["x".repeat(150)],
      "the rejected merge left the hint as it was",
    );
    await store.close();

    const counted = await open({ limits: { hintsPerTargetMax: 2 } });
    await counted.add(hint("n5", "a", big));
    await counted.add(hint("n5", "b", big));
    await counted.add(hint("n5", "a", setOf("n7", "merge into an existing hint is not a new one")));
    assert.match(
      (await rejectsWith(() => counted.add(hint("n5", "c", big)), "LIMIT_EXCEEDED")).message,
      /hintsPerTargetMax/,
    );
    await counted.close();
  });

  s(
    "hints older than hintAgeMaxMs, or whose value expired, are dropped at take and counted as expired",
    async ({ open, env }) => {
      // Real clocks run on while the test writes: wider margins there, so a slow machine does not flake.
      const u = env.name === "memory" ? 1 : 20;
      const store = await open({ limits: { hintAgeMaxMs: 100 * u } });
      await store.add(hint("n2", "old", setOf("n1", "o")));
      await store.add({ ...hint("n2", "ttl", setOf("n1", "t")), expiresAt: env.clock.now() + 50 * u });
      await store.add({ ...hint("n2", "ttl2", setOf("n1", "t")), expiresAt: env.clock.now() + 10_000 * u });
      await env.advance(60 * u);
      assert.equal((await store.take("n2", 10, 1 << 20)).map((h) => h.key), ["old", "ttl2"]);
      assert.is(store.stats().expired, 1);
      await env.advance(60 * u);
      await store.add(hint("n2", "fresh", setOf("n1", "f")));
      assert.equal((await store.take("n2", 10, 1 << 20)).map((h) => h.key), ["fresh"]);
      const st = store.stats();
      assert.is(st.expired, 3);
      assert.is(st.pending, 1);
      await store.close();
    },
  );

  s("reopen keeps every hint and rebuilds the counts", async ({ open }) => {
    const store = await open();
    for (let i = 0; i < 50; i++) await store.add(hint(`n${i % 3}`, `key${i}`, setOf("n9", `v${i}`), i));
    await store.add(hint("n0", "key0", setOf("n8", "sibling")));
    await store.ack(await store.take("n1", 5, 1 << 20));
    const before = store.stats();
    await store.close();
    const again = await open();
    const after = again.stats();
    assert.is(after.pending, before.pending);
    assert.is(after.bytes, before.bytes);
    assert.equal(Object.keys(after.perTarget), Object.keys(before.perTarget));
    for (const [t, b] of Object.entries(before.perTarget)) {
      const a = after.perTarget[t]!;
      assert.is(a.pending, b.pending, `${t} pending`);
      assert.is(a.bytes, b.bytes, `${t} bytes`);
      // Kept in one-second buckets while running, exact after the rescan.
      assert.ok(
        a.oldestMs !== null && b.oldestMs !== null && a.oldestMs >= b.oldestMs && a.oldestMs - b.oldestMs < 1000,
        `${t} oldestMs`,
      );
    }
    const n0 = await again.take("n0", 100, 1 << 30);
    assert.is(n0.length, 17);
    assert.equal(sibs(n0.find((h) => h.key === "key0")!.set), ["sibling", "v0"]);
    assert.is(n0.find((h) => h.key === "key3")?.partition, 3);
    await again.close();
  });

  s("dropTarget deletes every hint of one target and nothing else", async ({ open }) => {
    const store = await open();
    for (let i = 0; i < 30; i++) await store.add(hint(i % 2 ? "gone" : "stay", `k${i}`, setOf("n1", `v${i}`)));
    await store.add(hint("gone2", "k", setOf("n1", "v"))); // a target whose id extends another's
    assert.is(await store.dropTarget("gone"), 15);
    assert.equal(store.targets(), ["gone2", "stay"]);
    assert.is(store.stats().pending, 16);
    assert.is(await store.dropTarget("gone"), 0);
    await store.close();
  });

  s("malformed hints are INVALID_ARGUMENT, bytes that are no set CORRUPTION", async ({ open }) => {
    const store = await open();
    await rejectsWith(() => store.add(hint("", "k", setOf("n1", "v"))), "INVALID_ARGUMENT");
    await rejectsWith(() => store.add(hint("a\u0000b", "k", setOf("n1", "v"))), "INVALID_ARGUMENT");
    await rejectsWith(() => store.add(hint("n2", "k", setOf("n1", "v"), 70_000)), "INVALID_ARGUMENT");
    await rejectsWith(
      () => store.add({ ...hint("n2", "k", setOf("n1", "v")), expiresAt: Number.NaN }),
      "INVALID_ARGUMENT",
    );
    await rejectsWith(() => store.add(hint("n2", "k", enc("not a set"))), "CORRUPTION");
    await rejectsWith(() => store.take("n2", 0, 10), "INVALID_ARGUMENT");
    await rejectsWith(
      () =>
        openHintStore({
          fs: new MemoryFileSystem(),
          dir: "/h",
          clock: new ManualClock(),
          limits: { hintAgeMaxMs: -1 },
        }),
      "INVALID_ARGUMENT",
    );
    assert.is(store.stats().pending, 0);
    await store.close();
  });

  return s;
}

storeSuite("memory", memoryEnv).run();
storeSuite("real file system", realEnv).run();

test("hints added with durability always survive a crash of the memory file system", async () => {
  const fs = new MemoryFileSystem();
  const clock = new ManualClock();
  const store = await openHintStore({ fs, dir: "/hints", clock, durability: "always" });
  await store.add(hint("n2", "a", setOf("n1", "x")));
  await store.add(hint("n2", "a", setOf("n3", "y")));
  fs.crash();
  const again = await openHintStore({ fs, dir: "/hints", clock, durability: "always" });
  assert.equal(sibs((await again.take("n2", 10, 1 << 20))[0]!.set), ["x", "y"]);
  await again.close();
});

test("a record that is no hint is dropped at open and counted, the others kept", async () => {
  const fs = new MemoryFileSystem();
  const clock = new ManualClock();
  const store = await openHintStore({ fs, dir: "/hints", clock, durability: "always" });
  await store.add(hint("n2", "good", setOf("n1", "x")));
  await store.close();
  const engine = await openEngine(fs, "/hints", { clock, durability: "always" });
  await engine.put(0, "n2\u0000bad", setOf("n1", "y"), { meta: enc("no header") });
  await engine.close();
  const again = await openHintStore({ fs, dir: "/hints", clock, durability: "always" });
  assert.is(again.corruptDropped, 1);
  assert.is(again.stats().pending, 1);
  assert.equal((await again.take("n2", 10, 1 << 20)).map((h) => h.key), ["good"]);
  await again.close();
});

// ---------------------------------------------------------------------------------------------------------
// Delivery

interface Rig {
  clock: ManualClock;
  store: HintStore;
  alive: Set<string>;
  failing: Set<string>;
  calls: { target: string; keys: string[]; bytes: number }[];
  received: Map<string, Uint8Array>;
  delivery(o?: { batchMax?: number; bytesPerSecondMax?: number; intervalMs?: number }): HintDelivery;
}

async function rig(): Promise<Rig> {
  const clock = new ManualClock();
  const store = await openHintStore({ fs: new MemoryFileSystem(), dir: "/hints", clock, durability: "always" });
  const r: Rig = {
    clock,
    store,
    alive: new Set(),
    failing: new Set(),
    calls: [],
    received: new Map(),
    delivery: (o = {}) =>
      new HintDelivery({
        store,
        clock,
        random: new SeededRandom(7),
        ...o,
        isAlive: (t) => r.alive.has(t),
        deliver: async (target, hints) => {
          r.calls.push({ target, keys: hints.map((h) => h.key), bytes: hints.reduce((n, h) => n + hintBytes(h), 0) });
          if (r.failing.has(target)) throw new Error(`${target} refused`);
          for (const h of hints) {
            const mine = r.received.get(`${target}/${h.key}`);
            r.received.set(`${target}/${h.key}`, mine ? encodeSet(merge(decodeSet(mine), decodeSet(h.set))) : h.set);
          }
        },
      }),
  };
  return r;
}

test("delivery hands hints only to alive targets and acks what was delivered", async () => {
  const r = await rig();
  for (let i = 0; i < 4; i++) {
    await r.store.add(hint("up", `k${i}`, setOf("n1", `v${i}`)));
    await r.store.add(hint("down", `k${i}`, setOf("n1", `v${i}`)));
  }
  r.alive.add("up");
  const d = r.delivery();
  assert.is(await d.runOnce(), 4);
  assert.ok(r.calls.every((c) => c.target === "up"));
  assert.equal(r.store.targets(), ["down"]);
  assert.equal(sibs(r.received.get("up/k2")!), ["v2"]);
  r.alive.add("down");
  assert.is(await d.runOnce(), 4);
  assert.equal(r.store.targets(), []);
  assert.is(r.store.stats().delivered, 8);
  await r.store.close();
});

test("delivery respects batchMax: a backlog goes out in batches of at most batchMax hints", async () => {
  const r = await rig();
  for (let i = 0; i < 10; i++) await r.store.add(hint("n2", `k${i}`, setOf("n1", "v")));
  r.alive.add("n2");
  assert.is(await r.delivery({ batchMax: 3 }).runOnce(), 10);
  assert.equal(r.calls.map((c) => c.keys.length), [3, 3, 3, 1]);
  await r.store.close();
});

test("a failed delivery keeps the hints and backs the target off exponentially, then retries", async () => {
  const r = await rig();
  await r.store.add(hint("n2", "k", setOf("n1", "v")));
  r.alive.add("n2");
  r.failing.add("n2");
  const d = r.delivery({ intervalMs: 200 });
  assert.is(await d.runOnce(), 0);
  assert.is(r.calls.length, 1);
  assert.is(r.store.stats().pending, 1, "nothing acked on failure");
  const first = d.backoff()["n2"]!;
  assert.is(first.failures, 1);
  const wait1 = first.retryAt - r.clock.monotonic();
  assert.ok(wait1 >= 200 && wait1 <= 400, `first wait ${wait1} ms in [200, 400]`);
  assert.is(await d.runOnce(), 0);
  assert.is(r.calls.length, 1, "no retry while backing off");
  await r.clock.advance(wait1);
  await d.runOnce();
  assert.is(r.calls.length, 2);
  const wait2 = d.backoff()["n2"]!.retryAt - r.clock.monotonic();
  assert.ok(wait2 >= 400 && wait2 <= 800, `second wait ${wait2} ms in [400, 800]`);
  for (let i = 0; i < 12; i++) {
    await r.clock.advance(60_000);
    await d.runOnce();
  }
  assert.ok(d.backoff()["n2"]!.retryAt - r.clock.monotonic() <= 30_000, "bounded by backoffMaxMs");
  r.failing.delete("n2");
  await r.clock.advance(30_000);
  assert.is(await d.runOnce(), 1);
  assert.equal(d.backoff(), {}, "success resets the backoff");
  assert.equal(r.store.targets(), []);
  await r.store.close();
});

test("delivery is throttled to bytesPerSecondMax over all targets", async () => {
  const r = await rig();
  for (let i = 0; i < 20; i++) {
    await r.store.add(hint("a", `k${String(i).padStart(2, "0")}`, setOf("n1", "x".repeat(60))));
    await r.store.add(hint("b", `k${String(i).padStart(2, "0")}`, setOf("n1", "x".repeat(60))));
  }
  r.alive.add("a").add("b");
  const size = hintBytes((await r.store.take("a", 1, 1))[0]!);
  const d = r.delivery({ bytesPerSecondMax: size * 10 });
  const first = await d.runOnce();
  const sent = () => r.calls.reduce((n, c) => n + c.bytes, 0);
  assert.ok(first >= 10 && sent() <= size * 10 + 2 * size, `first round within a second's budget (${first} hints)`);
  assert.is(await d.runOnce(), 0, "no budget left without time passing");
  await r.clock.advance(1000);
  const second = await d.runOnce();
  assert.ok(second >= 8 && second <= 12, `one more second's worth (${second})`);
  assert.is(r.store.stats().pending, 40 - first - second);
  await r.store.close();
});

test("start runs rounds on the clock every intervalMs; stop waits for the round in flight", async () => {
  const r = await rig();
  for (let i = 0; i < 3; i++) await r.store.add(hint("n2", `k${i}`, setOf("n1", "v")));
  const d = r.delivery({ intervalMs: 100 });
  d.start();
  await r.clock.advance(350);
  assert.is(r.calls.length, 0, "target not alive");
  r.alive.add("n2");
  await r.clock.advance(100);
  await d.stop();
  assert.equal(r.store.targets(), []);
  await r.store.add(hint("n2", "later", setOf("n1", "v")));
  await r.clock.advance(1000);
  assert.is(r.store.stats().pending, 1, "no rounds after stop");
  assert.is(r.clock.pending, 0, "stop leaves no timer behind");
  await r.store.close();
});
test.run();
