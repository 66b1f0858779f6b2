/**
 * The engine's parts on their own: CRC32C, bloom filters, the memtable, the block cache and the pure
 * compaction policy.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SeededRandom } from "../../src/runtime/memory.ts";
import { crc32c, crc32cUpdate } from "../../src/storage/_crc32c.ts";
import { Rec } from "../../src/storage/_record.ts";
import { Block } from "../../src/storage/block.ts";
import { BlockCache } from "../../src/storage/block_cache.ts";
import { bloomHash, bloomMayContain, buildBloom } from "../../src/storage/bloom.ts";
import { pickCompaction, type PolicyConfig } from "../../src/storage/compaction_policy.ts";
import { Memtable } from "../../src/storage/memtable.ts";
import type { TableMeta } from "../../src/storage/table_writer.ts";
import { dec, enc } from "./_env.ts";

test("crc32c matches the standard check value and the slicing path matches the bytewise one", () => {
  assert.is(crc32c(enc("123456789")), 0xe3069283);
  assert.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  const data = new SeededRandom(5).bytes(1000);
  for (const cut of [0, 1, 7, 8, 9, 500, 999]) {
    assert.is(crc32cUpdate(crc32c(data, 0, cut), data, cut, data.length), crc32c(data), `split at ${cut}`);
  }
});

test("bloom filters have no false negatives and about 1% false positives at 10 bits per key", () => {
  const n = 5000;
  const hashes = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const k = enc(`key-${i}`);
    hashes[i] = bloomHash(k, 0, k.length);
  }
  const f = buildBloom(hashes, n, 10);
  for (let i = 0; i < n; i++) assert.ok(bloomMayContain(f, hashes[i]!));
  let fp = 0;
  for (let i = 0; i < 20000; i++) {
    const k = enc(`other-${i}`);
    if (bloomMayContain(f, bloomHash(k, 0, k.length))) fp++;
  }
  assert.ok(fp / 20000 < 0.02, `false positive rate ${fp / 20000}`);
});

function rec(key: string, seq: number, value = ""): Rec {
  const k = enc(key);
  const v = enc(value);
  const buf = new Uint8Array(k.length + v.length);
  buf.set(k);
  buf.set(v, k.length);
  const r = new Rec();
  r.buf = buf;
  r.keyStart = 0;
  r.keyEnd = k.length;
  r.seq = seq;
  r.metaStart = r.metaEnd = k.length;
  r.valueStart = k.length;
  r.valueEnd = buf.length;
  return r;
}

test("the memtable keeps keys sorted with the newest version first, and cursors read at their snapshot", () => {
  const m = new Memtable(0);
  const rnd = new SeededRandom(9);
  const latest = new Map<string, number>();
  for (let seq = 1; seq <= 3000; seq++) {
    const k = `xx${String(rnd.int(700)).padStart(4, "0")}`;
    m.add(rec(k, seq, `v${seq}`), 10);
    if (seq === 2000) for (const [kk, s] of latest) latest.set(kk, s);
    latest.set(k, seq);
  }
  const keys = [...latest.keys()].sort();
  for (const reverse of [false, true]) {
    const c = m.cursor(Number.MAX_SAFE_INTEGER, reverse);
    c.seek(null);
    const got: string[] = [];
    for (; c.rec !== null; c.next()) got.push(`${dec(c.rec.key())}=${dec(c.rec.value())}`);
    const want = keys.map((k) => `${k}=v${latest.get(k)}`);
    assert.equal(got, reverse ? want.reverse() : want);
  }
  // A cursor at seq 1500 keeps reading its snapshot while more records arrive underneath it.
  const c = m.cursor(1500, false);
  c.seek(enc("xx0100"));
  let n = 0;
  for (; c.rec !== null && n < 50; c.next(), n++) {
    assert.ok(c.rec.seq <= 1500);
    m.add(rec(dec(c.rec.key()) + "z", 5000 + n), 10);
  }
  assert.is(n, 50);
  assert.is(m.get(enc("xx0100z"), 1500), null, "newer records are invisible at the snapshot");
});

test("the block cache stays within its byte budget and evicts the least recently used block", () => {
  const cache = new BlockCache(10_000);
  const block = (n: number) => {
    const data = new Uint8Array(n + 8);
    data[n + 4] = 1; // count = 1, offset 0
    return new Block(data, "f", 0);
  };
  for (let i = 0; i < 20; i++) {
    cache.set(i, block(1000));
    cache.get(0); // keep block 0 hot
  }
  assert.ok(cache.bytes <= 10_000);
  assert.ok(cache.get(0) !== undefined, "the hot block stayed");
  assert.is(cache.get(1), undefined, "a cold block went");
});

const meta = (number: number, lo: string, hi: string, bytes: number): TableMeta => ({
  number, bytes, count: 1, tombstones: 0, minSeq: number, maxSeq: number, smallest: enc(lo), largest: enc(hi),
});
const cfg: PolicyConfig = { l0CompactionTables: 4, levelBaseBytes: 1000, levelMultiplier: 10, levelsMax: 4, compactionBytesMax: 1 << 30 };

test("compaction policy: level 0 merges into level 1 once it has enough tables, with every overlap", () => {
  const l0 = [meta(9, "a", "m", 100), meta(8, "c", "d", 100), meta(7, "k", "z", 100), meta(6, "a", "b", 100)];
  const l1 = [meta(1, "a", "c", 300), meta(2, "d", "f", 300), meta(3, "zz", "zzz", 300)];
  assert.is(pickCompaction([l0.slice(0, 3), l1, [], []], cfg, [], new Set()), null);
  const plan = pickCompaction([l0, l1, [], []], cfg, [], new Set())!;
  assert.is(plan.level, 0);
  assert.equal(plan.inputs.map((t) => t.number), [6, 7, 8, 9], "oldest first");
  assert.equal(plan.overlaps.map((t) => t.number), [1, 2]);
  assert.is(plan.move, false);
});

test("compaction policy: an oversized level compacts round-robin, and a table with no overlap just moves", () => {
  const l1 = [meta(1, "a", "c", 600), meta(2, "d", "f", 600)];
  const l2 = [meta(3, "a", "b", 100)];
  const first = pickCompaction([[], l1, l2, []], cfg, [], new Set())!;
  assert.equal([first.level, first.inputs[0]!.number, first.overlaps.length, first.move], [1, 1, 1, false]);
  const next = pickCompaction([[], l1, l2, []], cfg, [null, enc("c")], new Set())!;
  assert.equal([next.inputs[0]!.number, next.move], [2, true]);
  assert.is(pickCompaction([[], [meta(1, "a", "c", 999)], [], []], cfg, [], new Set()), null, "within target");
});

test.run();
