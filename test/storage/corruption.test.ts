/**
 * Corruption: bytes flipped in a table, a table footer, the log or the manifest. The engine must report
 * CORRUPTION naming the file and offset, keep serving everything else, and never return a corrupt value.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isMeshkvError, type MeshkvError } from "../../src/errors.ts";
import { openEngine } from "../../src/storage/mod.ts";
import { rejectsWith } from "../_helpers.ts";
import { dec, enc, memoryEnv, SMALL } from "./_env.ts";

const value = (i: number): string => `value-${i}-${"c".repeat(40)}`;

async function filled(count: number) {
  const env = await memoryEnv();
  const errors: MeshkvError[] = [];
  const opts = { ...SMALL, clock: env.clock, onCorruption: (e: MeshkvError) => errors.push(e) };
  const e = await openEngine(env.fs, env.dir, opts);
  for (let i = 0; i < count; i++) await e.put(0, `k${String(i).padStart(4, "0")}`, enc(value(i)));
  await e.compact();
  await e.close();
  const tables = (await env.fs.list(env.dir)).filter((n) => n.endsWith(".sst"));
  return { env, opts, errors, tables };
}

test("a flipped bit in a table block is CORRUPTION naming file and offset; other keys are still served", async () => {
  const { env, opts, errors, tables } = await filled(600);
  const path = `${env.dir}/${tables[0]}`;
  env.fs.flipBit(path, 40, 3);
  const e = await openEngine(env.fs, env.dir, opts);
  let bad = 0;
  let good = 0;
  for (let i = 0; i < 600; i++) {
    try {
      const got = await e.get(0, `k${String(i).padStart(4, "0")}`);
      assert.is(got && dec(got.value), value(i), "never a wrong value");
      good++;
    } catch (err) {
      assert.ok(isMeshkvError(err, "CORRUPTION"), String(err));
      assert.is(err.details.file, path);
      assert.is(err.details.offset, 0, "the damaged block is the first one");
      bad++;
    }
  }
  assert.ok(bad > 0 && bad < 60, `${bad} keys in the damaged block`);
  assert.ok(good > 540);
  // A scan stops with the error instead of serving what it cannot verify.
  const err = await rejectsWith(async () => {
    for await (const x of e.iterate()) assert.is(dec(x.value), value(Number(dec(x.key).slice(1))));
  }, "CORRUPTION");
  assert.match(err.message, path);
  // Compaction reports the block through onCorruption and carries on with everything else.
  await e.compact();
  assert.ok(errors.some((x) => x.details.file === path), "onCorruption heard about it");
  assert.ok(e.stats().corruptions >= 1);
  let served = 0;
  for await (const x of e.iterate()) {
    assert.is(dec(x.value), value(Number(dec(x.key).slice(1))));
    served++;
  }
  assert.is(served, good);
  await e.close();
});

test("a damaged table footer sets the table aside, reports it, and the engine opens", async () => {
  const { env, opts, tables } = await filled(600);
  assert.ok(tables.length >= 2, "several tables");
  const path = `${env.dir}/${tables[tables.length - 1]}`;
  const size = (await env.fs.stat(path)).size;
  env.fs.flipBit(path, size - 3, 1);
  const e = await openEngine(env.fs, env.dir, opts);
  assert.is(e.recovery.corruption.length, 1);
  assert.is(e.recovery.corruption[0]!.code, "CORRUPTION");
  assert.is(e.recovery.corruption[0]!.details.file, path);
  assert.is(e.recovery.corruption[0]!.details.offset, size - 52);
  let served = 0;
  for await (const x of e.iterate()) {
    assert.is(dec(x.value), value(Number(dec(x.key).slice(1))));
    served++;
  }
  assert.ok(served > 0 && served < 600);
  assert.ok((await env.fs.list(env.dir)).includes(`${tables[tables.length - 1]}.corrupt`), "kept for inspection");
  await e.close();
});

/** Offsets of the frames in a log segment (16-byte header, then `len u32 | crc u32 | payload`). */
function frames(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let pos = 16; pos + 8 <= data.length;) {
    out.push(pos);
    pos += 8 + (data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16) | (data[pos + 3]! << 24));
  }
  return out;
}

test("a flipped bit in a log record is reported with file and offset; only that batch is lost", async () => {
  const env = await memoryEnv();
  const opts = { ...SMALL, durability: "always" as const, clock: env.clock, memtableBytes: 1 << 20 };
  let e = await openEngine(env.fs, env.dir, opts);
  for (let b = 0; b < 50; b++) {
    await e.batch(
      [0, 1, 2].map((j) => ({ type: "put" as const, partition: 0, key: `b${b}-${j}`, value: enc(`v${b}-${j}`) })),
    );
  }
  await e.close();
  const log = (await env.fs.list(env.dir)).filter((n) => n.endsWith(".log")).pop()!;
  const path = `${env.dir}/${log}`;
  const offsets = frames(await env.fs.readFile(path));
  assert.is(offsets.length, 50);
  env.fs.flipBit(path, offsets[20]! + 30, 5);
  e = await openEngine(env.fs, env.dir, opts);
  assert.is(e.recovery.corruption.length, 1);
  assert.equal(e.recovery.corruption[0]!.details, { file: path, offset: offsets[20] });
  for (let b = 0; b < 50; b++) {
    for (let j = 0; j < 3; j++) {
      const got = await e.get(0, `b${b}-${j}`);
      if (b === 20) assert.is(got, undefined, "the damaged batch is dropped whole");
      else assert.is(got && dec(got.value), `v${b}-${j}`);
    }
  }
  await e.close();
});

test("a torn log tail is cut off and the report says where", async () => {
  const env = await memoryEnv();
  const opts = { ...SMALL, durability: "always" as const, clock: env.clock, memtableBytes: 1 << 20 };
  let e = await openEngine(env.fs, env.dir, opts);
  for (let i = 0; i < 10; i++) await e.put(0, `k${i}`, enc(`v${i}`));
  await e.close();
  const log = (await env.fs.list(env.dir)).filter((n) => n.endsWith(".log")).pop()!;
  const path = `${env.dir}/${log}`;
  const h = await env.fs.open(path);
  const size = await h.size();
  await h.append(new Uint8Array([200, 0, 0, 0, 1, 2, 3])); // a frame header promising 200 bytes, then nothing
  await h.sync();
  await h.close();
  e = await openEngine(env.fs, env.dir, opts);
  assert.equal(e.recovery.truncated, [{ file: path, offset: size, bytes: 7 }]);
  assert.is(e.recovery.corruption.length, 0);
  for (let i = 0; i < 10; i++) assert.is(dec((await e.get(0, `k${i}`))!.value), `v${i}`);
  await e.close();
  e = await openEngine(env.fs, env.dir, opts);
  assert.equal(e.recovery.truncated, [], "the tail is gone from the file");
  await e.close();
});

test("a damaged manifest fails the open with CORRUPTION naming it", async () => {
  const { env, opts } = await filled(50);
  env.fs.flipBit(`${env.dir}/MANIFEST`, 30, 0);
  const err = await rejectsWith(() => openEngine(env.fs, env.dir, opts), "CORRUPTION");
  assert.match(err.message, "MANIFEST");
});

test.run();
