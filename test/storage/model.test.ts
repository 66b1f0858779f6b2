/**
 * Model-based test: random put/delete/batch/get/iterate/flush/compact/reopen sequences, checked step by step
 * against a plain Map (the model). Seeds print on failure and replay exactly.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SeededRandom } from "../../src/runtime/memory.ts";
import { type Engine, type IterateOptions, openEngine } from "../../src/storage/mod.ts";
import { dec, enc, memoryEnv, SMALL } from "./_env.ts";

const SEEDS = 12;
const STEPS = 500;

function expected(model: Map<string, string>, o: IterateOptions): string[] {
  const p = o.partition ?? -1;
  let rows = [...model].filter(([k]) => p < 0 || k.startsWith(`${p}/`)).sort(([a], [b]) => {
    const [pa, ka] = [Number(a.split("/")[0]), a.slice(a.indexOf("/") + 1)];
    const [pb, kb] = [Number(b.split("/")[0]), b.slice(b.indexOf("/") + 1)];
    return pa !== pb ? pa - pb : ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const key = (k: string) => k.slice(k.indexOf("/") + 1);
  if (o.prefix !== undefined) rows = rows.filter(([k]) => key(k).startsWith(o.prefix as string));
  if (o.start !== undefined) rows = rows.filter(([k]) => key(k) >= (o.start as string));
  if (o.end !== undefined) rows = rows.filter(([k]) => key(k) < (o.end as string));
  if (o.reverse) rows.reverse();
  if (o.limit !== undefined) rows = rows.slice(0, o.limit);
  return rows.map(([k, v]) => `${k}=${v}`);
}

async function runSeed(seed: number): Promise<void> {
  const rnd = new SeededRandom(seed);
  const env = await memoryEnv();
  const opts = { ...SMALL, clock: env.clock, memtableBytes: 4096, tableBytes: 4096, levelBaseBytes: 8192 };
  let e: Engine = await openEngine(env.fs, env.dir, opts);
  const model = new Map<string, string>();
  const key = () => `k${String(rnd.int(120)).padStart(3, "0")}`;
  for (let step = 0; step < STEPS; step++) {
    const where = `seed ${seed} step ${step}`;
    const p = rnd.int(3);
    const roll = rnd.int(100);
    if (roll < 45) {
      const k = key();
      const v = `${step}-${"m".repeat(rnd.int(60))}`;
      await e.put(p, k, enc(v));
      model.set(`${p}/${k}`, v);
    } else if (roll < 55) {
      const k = key();
      await e.delete(p, k);
      model.delete(`${p}/${k}`);
    } else if (roll < 65) {
      const ops = Array.from({ length: 1 + rnd.int(8) }, () => ({ k: key(), del: rnd.int(4) === 0, v: `b${step}` }));
      await e.batch(
        ops.map((
          o,
        ) => (o.del
          ? { type: "delete" as const, partition: p, key: o.k }
          : { type: "put" as const, partition: p, key: o.k, value: enc(o.v) })
        ),
      );
      for (const o of ops) o.del ? model.delete(`${p}/${o.k}`) : model.set(`${p}/${o.k}`, o.v);
    } else if (roll < 80) {
      const k = key();
      const got = await e.get(p, k);
      assert.is(got ? dec(got.value) : undefined, model.get(`${p}/${k}`), `${where}: get ${p}/${k}`);
    } else if (roll < 93) {
      const o: IterateOptions = rnd.int(5) === 0 ? {} : { partition: p };
      if (o.partition !== undefined) {
        if (rnd.int(3) === 0) o.prefix = `k0${rnd.int(10)}`;
        if (rnd.int(3) === 0) o.start = key();
        if (rnd.int(3) === 0) o.end = key();
      }
      if (rnd.int(2) === 0) o.reverse = true;
      if (rnd.int(3) === 0) o.limit = rnd.int(20);
      const got: string[] = [];
      for await (const x of e.iterate(o)) got.push(`${x.partition}/${dec(x.key)}=${dec(x.value)}`);
      assert.equal(got, expected(model, o), `${where}: iterate ${JSON.stringify(o)}`);
    } else if (roll < 95) {
      await e.flush();
    } else if (roll < 96) {
      await e.compact();
    } else {
      await e.close();
      e = await openEngine(env.fs, env.dir, opts);
    }
  }
  const all: string[] = [];
  for await (const x of e.iterate()) all.push(`${x.partition}/${dec(x.key)}=${dec(x.value)}`);
  assert.equal(all, expected(model, {}), `seed ${seed}: final contents`);
  await e.close();
}

test("random operations agree with a Map, across flushes, compactions and reopens", async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    try {
      await runSeed(seed);
    } catch (err) {
      console.log(`model test failed with seed ${seed}`);
      throw err;
    }
  }
});

test.run();
