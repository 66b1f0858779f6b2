/**
 * The storage engine conformance suite (convention 4): one contract, run against every file system adapter
 * (memory, and the real one of the runtime under test).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type Engine, type EngineOptions, type Entry, openEngine } from "../../src/storage/mod.ts";
import { rejectsWith } from "../_helpers.ts";
import { acked, dec, enc, type Env, SMALL } from "./_env.ts";

type Ctx = { env: Env; open(o?: Partial<EngineOptions>): Promise<Engine> };

async function all(it: AsyncIterable<Entry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.partition}/${dec(e.key)}${e.tombstone ? "!" : "=" + dec(e.value)}`);
  return out;
}

export function engineSuite(name: string, make: () => Promise<Env>) {
  const s = suite<Ctx>(`storage engine: ${name}`);
  s.before.each(async (ctx) => {
    const env = await make();
    ctx.env = env;
    ctx.open = (o = {}) => openEngine(env.fs, env.dir, { ...SMALL, clock: env.clock, ...o });
  });
  s.after.each(async (ctx) => ctx.env.cleanup());

  s("put then get returns the value, its metadata and expiry", async ({ open, env }) => {
    const e = await open();
    const expiresAt = env.clock.now() + 3_600_000;
    await e.put(7, "user:1", enc("alice"), { meta: enc("vv1"), expiresAt });
    const got = await e.get(7, "user:1");
    assert.ok(got);
    assert.is(dec(got.value), "alice");
    assert.is(dec(got.meta), "vv1");
    assert.is(got.expiresAt, expiresAt);
    assert.is(got.partition, 7);
    assert.is(dec(got.key), "user:1");
    assert.is(await e.get(8, "user:1"), undefined, "another partition is another key");
    assert.is(
      await e.get(7, enc("user:1")).then((x) => x && dec(x.value)),
      "alice",
      "string and byte keys are the same key",
    );
    await e.close();
  });

  s(
    "deflate tables are smaller on disk and read back; a store of mixed tables reads every key",
    async ({ open, env }) => {
      const text = (i: number) => enc(`value ${i} `.repeat(40));
      const key = (prefix: string, i: number) => `${prefix}${String(i).padStart(3, "0")}`;
      const plain = await open({ compression: "none" });
      const packed = await openEngine(env.fs, `${env.dir}-deflate`, {
        ...SMALL,
        clock: env.clock,
        compression: "deflate",
        cacheBytes: 64 * 1024,
      });
      assert.is(plain.stats().compression, "none");
      assert.is(packed.stats().compression, "deflate");
      assert.is(packed.stats().cacheBytesMax, 64 * 1024);
      for (let i = 0; i < 100; i++) {
        await plain.put(0, key("a", i), text(i));
        await packed.put(0, key("a", i), text(i));
      }
      await plain.flush();
      await packed.flush();
      const [plainBytes, packedBytes] = [plain.stats().tableBytes, packed.stats().tableBytes];
      assert.ok(
        packedBytes > 0 && packedBytes < plainBytes / 3,
        `deflate tables ${packedBytes} bytes vs plain ${plainBytes}`,
      );
      for (const i of [0, 42, 99]) assert.is(dec((await packed.get(0, key("a", i)))!.value), dec(text(i)));
      await packed.close();
      await plain.close();
      // Compression is per table: the plain store reopened with deflate writes deflate tables beside its plain ones.
      const mixed = await open({ compression: "deflate" });
      for (let i = 0; i < 100; i++) await mixed.put(0, key("b", i), text(i));
      await mixed.flush();
      for (const i of [0, 42, 99]) {
        assert.is(dec((await mixed.get(0, key("a", i)))!.value), dec(text(i)), "plain table");
        assert.is(dec((await mixed.get(0, key("b", i)))!.value), dec(text(i)), "deflate table");
      }
      await mixed.compact();
      assert.is((await all(mixed.iterate({ partition: 0 }))).length, 200, "a compaction merges both kinds");
      await mixed.close();
    },
  );

  s("a delete hides the key; includeTombstones returns the tombstone with its metadata", async ({ open }) => {
    const e = await open();
    await e.put(1, "k", enc("v"));
    await e.delete(1, "k", { meta: enc("del-vv") });
    assert.is(await e.get(1, "k"), undefined);
    const t = await e.get(1, "k", { includeTombstones: true });
    assert.ok(t?.tombstone);
    assert.is(dec(t.meta), "del-vv");
    assert.equal(await all(e.iterate({ partition: 1, includeTombstones: true })), ["1/k!"]);
    assert.equal(await all(e.iterate({ partition: 1 })), []);
    await e.close();
  });

  s("a batch applies in order: the later operation on a key wins", async ({ open }) => {
    const e = await open();
    await e.batch([
      { type: "put", partition: 0, key: "a", value: enc("1") },
      { type: "put", partition: 0, key: "b", value: enc("2") },
      { type: "delete", partition: 0, key: "a" },
      { type: "put", partition: 0, key: "b", value: enc("3") },
    ]);
    assert.equal(await all(e.iterate({ partition: 0 })), ["0/b=3"]);
    await e.close();
  });

  s("writes survive close and reopen, through many flushes and compactions", async ({ open }) => {
    let e = await open();
    const model = new Map<string, string>();
    for (let i = 0; i < 3000; i++) {
      const k = `key${String((i * 7919) % 1200).padStart(5, "0")}`;
      if (i % 7 === 3) {
        await e.delete(2, k);
        model.delete(k);
      } else {
        const v = `v${i}-${"x".repeat(i % 50)}`;
        await e.put(2, k, enc(v));
        model.set(k, v);
      }
    }
    await e.idle();
    const st = e.stats();
    assert.ok(st.flushes > 3, `flushed (${st.flushes})`);
    assert.ok(st.compactions + st.trivialMoves > 0, "compacted");
    await e.close();
    e = await open();
    const want = [...model].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `2/${k}=${v}`);
    assert.equal(await all(e.iterate()), want);
    for (const k of ["key00000", "key00003", "key01199"]) {
      const got = await e.get(2, k);
      assert.is(got && dec(got.value), model.get(k), k);
    }
    await e.close();
  });

  s("iterate honours partition, prefix, start, end, reverse and limit", async ({ open }) => {
    const e = await open();
    for (const p of [1, 2, 3]) for (const k of ["a", "ab", "abc", "b", "ba", "c"]) await e.put(p, k, enc(`${p}${k}`));
    await e.flush();
    await e.put(2, "bb", enc("2bb"));
    const keys = async (o: Parameters<Engine["iterate"]>[0]) => (await all(e.iterate(o))).map((x) => x.split("=")[0]);
    assert.equal(await keys({ partition: 2 }), ["2/a", "2/ab", "2/abc", "2/b", "2/ba", "2/bb", "2/c"]);
    assert.equal(await keys({ partition: 2, prefix: "a" }), ["2/a", "2/ab", "2/abc"]);
    assert.equal(await keys({ partition: 2, prefix: "b", reverse: true }), ["2/bb", "2/ba", "2/b"]);
    assert.equal(await keys({ partition: 2, start: "ab", end: "ba" }), ["2/ab", "2/abc", "2/b"]);
    assert.equal(await keys({ partition: 2, start: "ab", end: "ba", reverse: true }), ["2/b", "2/abc", "2/ab"]);
    assert.equal(await keys({ partition: 2, limit: 2 }), ["2/a", "2/ab"]);
    assert.equal(await keys({ partition: 2, reverse: true, limit: 2 }), ["2/c", "2/bb"]);
    assert.equal(await keys({ partition: 3, limit: 0 }), []);
    assert.is((await keys({})).length, 19);
    assert.equal((await all(e.iterate({ partition: 1, keysOnly: true })))[0], "1/a=");
    await e.close();
  });

  s("an iterator sees the snapshot from when it started while writes go on", async ({ open }) => {
    const e = await open();
    for (let i = 0; i < 400; i++) await e.put(0, `k${String(i).padStart(4, "0")}`, enc(`old${i}`));
    const it = e.iterate({ partition: 0 });
    const seen: string[] = [];
    let i = 0;
    for await (const x of it) {
      seen.push(dec(x.value));
      // Overwrite, delete and insert all around the cursor, forcing flushes underneath it.
      await e.put(0, `k${String(i).padStart(4, "0")}x`, enc("new"));
      await e.delete(0, `k${String(399 - i).padStart(4, "0")}`);
      await e.put(0, `k${String((i * 13) % 400).padStart(4, "0")}`, enc(`new${i}-${"y".repeat(40)}`));
      i++;
    }
    assert.equal(seen, Array.from({ length: 400 }, (_, j) => `old${j}`));
    await e.close();
  });

  s("expired values disappear from get and iterate", async ({ open, env }) => {
    const e = await open();
    await e.put(0, "short", enc("x"), { ttlMs: 30 });
    await e.put(0, "long", enc("y"), { ttlMs: 3_600_000 });
    assert.ok(await e.get(0, "short"));
    await env.advance(60);
    assert.is(await e.get(0, "short"), undefined);
    assert.equal(await all(e.iterate({ partition: 0 })), ["0/long=y"]);
    await e.close();
  });

  s("dropPartition removes a whole partition, and later writes to it stay", async ({ open }) => {
    let e = await open();
    for (let i = 0; i < 500; i++) await e.put(i % 3, `k${i}`, enc(`v${i}-${"z".repeat(30)}`));
    await e.flush();
    await e.put(1, "late-before", enc("gone"));
    await e.dropPartition(1);
    await e.put(1, "after", enc("kept"));
    assert.equal(await all(e.iterate({ partition: 1 })), ["1/after=kept"]);
    assert.is(await e.get(1, "k1"), undefined);
    assert.ok(await e.get(0, "k0"));
    await e.close();
    e = await open();
    assert.equal(await all(e.iterate({ partition: 1 })), ["1/after=kept"]);
    assert.is((await all(e.iterate({ partition: 2 }))).length, 166);
    await e.close();
  });

  s("compaction drops overwritten values and tombstones, unless tombstonePurgeable keeps them", async ({ open }) => {
    for (const keep of [false, true]) {
      const e = await open({ tombstonePurgeable: () => !keep });
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 200; i++) await e.put(4, `k${i}`, enc(`r${round}-${"p".repeat(40)}`));
      }
      for (let i = 0; i < 200; i++) await e.delete(4, `k${i}`);
      for (let i = 0; i < 300; i++) await e.put(5, `f${i}`, enc("q".repeat(60)));
      await e.compact();
      const st = e.stats();
      assert.ok(st.compactions > 0);
      const tomb = (await all(e.iterate({ partition: 4, includeTombstones: true }))).length;
      assert.is(await all(e.iterate({ partition: 4 })).then((x) => x.length), 0);
      assert.is(tomb, keep ? 200 : 0, "tombstones are dropped at the bottom unless the hook keeps them");
      const live = 300 * 75 + (keep ? 200 * 12 : 0);
      assert.ok(st.tableBytes < live * 1.5, `overwritten values are gone (${st.tableBytes} bytes for ~${live} live)`);
      await e.close();
    }
  });

  s("bad arguments are INVALID_ARGUMENT, and limits are LIMIT_EXCEEDED naming the limit", async ({ open }) => {
    const e = await open({ keyBytesMax: 8, valueBytesMax: 16, batchOpsMax: 2 });
    await rejectsWith(() => e.put(-1, "k", enc("v")), "INVALID_ARGUMENT");
    await rejectsWith(() => e.put(70000, "k", enc("v")), "INVALID_ARGUMENT");
    await rejectsWith(() => e.put(0, "", enc("v")), "INVALID_ARGUMENT");
    await rejectsWith(() => e.put(0, 42 as unknown as string, enc("v")), "INVALID_ARGUMENT");
    await rejectsWith(() => e.put(0, "k", "v" as unknown as Uint8Array), "INVALID_ARGUMENT");
    await rejectsWith(() => e.put(0, "k", enc("v"), { ttlMs: -5 }), "INVALID_ARGUMENT");
    const big = await rejectsWith(() => e.put(0, "k", new Uint8Array(17)), "LIMIT_EXCEEDED");
    assert.match(big.message, "valueBytesMax");
    assert.match((await rejectsWith(() => e.put(0, "123456789", enc("v")), "LIMIT_EXCEEDED")).message, "keyBytesMax");
    const op = { type: "put", partition: 0, key: "k", value: enc("v") } as const;
    assert.match((await rejectsWith(() => e.batch([op, op, op]), "LIMIT_EXCEEDED")).message, "batchOpsMax");
    await rejectsWith(() => e.batch([{ type: "nope" } as never]), "INVALID_ARGUMENT");
    await rejectsWith(async () => {
      for await (const _ of e.iterate({ prefix: "a" })) break;
    }, "INVALID_ARGUMENT");
    await rejectsWith(() => openEngine(null as never, "/x", {} as never), "INVALID_ARGUMENT");
    await e.close();
  });

  s("a closed engine answers CLOSED", async ({ open }) => {
    const e = await open();
    await e.put(0, "k", enc("v"));
    await e.close();
    await e.close();
    await rejectsWith(() => e.get(0, "k"), "CLOSED");
    await rejectsWith(() => e.put(0, "k", enc("v")), "CLOSED");
    await rejectsWith(() => e.batch([]), "CLOSED");
    await rejectsWith(() => e.dropPartition(0), "CLOSED");
    await rejectsWith(() => e.iterate().next(), "CLOSED");
    assert.throws(() => e.stats());
  });

  s("durability always and batch acknowledge writes after a shared sync", async ({ open, env }) => {
    for (const durability of ["always", "batch"] as const) {
      const e = await open({ durability, memtableBytes: 1024 * 1024 });
      const puts = Array.from({ length: 50 }, (_, i) => e.put(0, `k${i}`, enc(`v${i}`)));
      await acked(env, Promise.all(puts));
      const st = e.stats();
      assert.ok(st.syncs >= 1 && st.syncs < 50, `${durability}: ${st.syncs} syncs for 50 concurrent writes`);
      await e.close();
      const again = await open({ durability });
      assert.is((await all(again.iterate())).length, 50);
      await again.close();
    }
  });

  s(
    "stage: a write is visible at once and durable after the log sync; null stages a tombstone",
    async ({ open, env }) => {
      const e = await open({ durability: "batch", syncIntervalMs: 50, memtableBytes: 1024 * 1024 });
      const syncs = e.stats().syncs;
      const { durable } = await e.stage(0, "k", enc("v1"));
      let settled = false;
      void durable.then(() => (settled = true));
      // No macrotask has run since the stage, so the sync timer cannot have fired: visible, not yet durable.
      assert.is(dec((await e.get(0, "k"))!.value), "v1", "the next reader sees it before it is durable");
      assert.is(settled, false, "durable waits for the log sync");
      assert.is(e.stats().syncs, syncs);
      await acked(env, durable);
      assert.ok(e.stats().syncs > syncs, "settled by a sync");
      const del = await e.stage(0, "k", null, { meta: enc("history") });
      assert.is(await e.get(0, "k"), undefined, "deleted at once");
      const t = await e.get(0, "k", { includeTombstones: true });
      assert.ok(t?.tombstone);
      assert.is(dec(t!.meta), "history", "the tombstone carries its meta");
      await acked(env, del.durable);
      await rejectsWith(() => e.stage(0, "x".repeat(5000), enc("v")), "LIMIT_EXCEEDED");
      await e.close();
      const again = await open({ durability: "batch" });
      assert.is(
        (await again.get(0, "k", { includeTombstones: true }))?.tombstone,
        true,
        "both records survive reopening",
      );
      await again.close();
      await rejectsWith(() => e.stage(0, "k", enc("v")), "CLOSED");
    },
  );

  s("stats report levels, amplification and cache use", async ({ open }) => {
    const e = await open();
    for (let i = 0; i < 2000; i++) await e.put(0, `k${(i * 31) % 1000}`, enc("w".repeat(50)));
    await e.idle();
    for (let i = 0; i < 100; i++) await e.get(0, `k${i}`);
    const st = e.stats();
    assert.ok(st.writeAmplification > 1, `write amplification ${st.writeAmplification}`);
    assert.ok(st.spaceAmplification >= 1, `space amplification ${st.spaceAmplification}`);
    assert.ok(st.cacheHits + st.cacheMisses > 0);
    assert.ok(st.levels.length >= 2 && st.tableBytes > 0);
    assert.ok(st.cacheBytes <= 32 * 1024);
    await e.close();
  });

  s(
    "iterators and concurrent point reads return the right bytes while reads recycle the whole block cache",
    async ({ open }) => {
      // A 16 KiB cache of 512-byte blocks: every few dozen reads reuse the cache's memory, under the iterators'
      // feet and between the steps of reads in flight.
      const e = await open({ cacheBytes: 16 * 1024 });
      const value = (i: number) => `v${i}-${"x".repeat(i % 40)}`;
      for (let i = 0; i < 1500; i++) {
        await e.put(
          0,
          `k${String((i * 7919) % 1500).padStart(5, "0")}`,
          enc(value((i * 7919) % 1500)),
        );
      }
      await e.flush();
      await e.idle();
      const forward = e.iterate({ partition: 0 })[Symbol.asyncIterator]();
      const backward = e.iterate({ partition: 0, reverse: true })[Symbol.asyncIterator]();
      for (let step = 0; step < 1500; step++) {
        const [f, b] = [await forward.next(), await backward.next()];
        assert.is(dec(f.value!.key), `k${String(step).padStart(5, "0")}`);
        assert.is(dec(f.value!.value), value(step));
        assert.is(dec(b.value!.value), value(1499 - step));
        if (step % 10 === 0) {
          const ids = [step, (step * 13) % 1500, (step * 101 + 7) % 1500, 1499 - step];
          const got = await Promise.all(ids.map((i) => e.get(0, `k${String(i).padStart(5, "0")}`)));
          got.forEach((g, j) => assert.is(g && dec(g.value), value(ids[j]!), `get k${ids[j]} at step ${step}`));
        }
      }
      assert.ok((await forward.next()).done);
      const st = e.stats();
      assert.ok(st.cacheMisses > 100 && st.cacheBytes <= 16 * 1024, `misses ${st.cacheMisses}, ${st.cacheBytes} bytes`);
      await e.close();
    },
  );

  return s;
}
