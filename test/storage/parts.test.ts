/**
 * The engine's parts on their own: CRC32C, bloom filters, the memtable, the block cache and the pure
 * compaction policy.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compareBytes } from "../../src/core/_bytes.ts";
import { SeededRandom } from "../../src/runtime/memory.ts";
import { crc32c, crc32cUpdate } from "../../src/storage/_crc32c.ts";
import { plainRec, type Rec } from "../../src/storage/_record.ts";
import { decodeLogRecord, encodeBatch, stampBatch } from "../../src/storage/_batch.ts";
import { ENTRY_FLAG, WAL_FRAME_HEADER_BYTES } from "../../src/storage/_format.ts";
import { BlockCache } from "../../src/storage/block_cache.ts";
import { bloomHash, bloomMayContain, buildBloom } from "../../src/storage/bloom.ts";
import { pickCompaction, type PolicyConfig } from "../../src/storage/compaction_policy.ts";
import { Memtable, MemtablePool } from "../../src/storage/memtable.ts";
import type { TableMeta } from "../../src/storage/table_writer.ts";
import { internalKey, utf8 } from "../../src/storage/_bytes.ts";
import { checkKey } from "../../src/storage/_validate.ts";
import { isMeshkvError } from "../../src/errors.ts";
import { normalizeOptions, type Settings } from "../../src/storage/options.ts";
import { dec, enc } from "./_env.ts";

test("crc32c matches the standard check value and the slicing path matches the bytewise one", () => {
  assert.is(crc32c(enc("123456789")), 0xe3069283);
  assert.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  const data = new SeededRandom(5).bytes(1000);
  for (const cut of [0, 1, 7, 8, 9, 500, 999]) {
    assert.is(crc32cUpdate(crc32c(data, 0, cut), data, cut, data.length), crc32c(data), `split at ${cut}`);
  }
});

test("crc32c agrees with the bitwise definition at every alignment and length around the word-at-a-time path", () => {
  const bitwise = (d: Uint8Array, s: number, e: number): number => {
    let c = ~0;
    for (let i = s; i < e; i++) {
      c ^= d[i]!;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  const data = new SeededRandom(9).bytes(2100);
  for (let start = 0; start < 9; start++) {
    for (const len of [0, 1, 15, 16, 17, 63, 64, 65, 79, 80, 81, 1000, 2048]) {
      assert.is(crc32c(data, start, start + len), bitwise(data, start, start + len), `start ${start}, length ${len}`);
      const view = data.subarray(start + 1);
      assert.is(
        crc32c(view, 2, 2 + len),
        bitwise(data, start + 3, start + 3 + len),
        `view at ${start + 1}, length ${len}`,
      );
    }
  }
});

test("the records a batch encodes point where decoding its log frame finds them", () => {
  const ops = [
    { ikey: enc("\0\x01a"), flags: 0, expiresAt: 0, meta: new Uint8Array(0), value: enc("one") },
    {
      ikey: enc("\0\x01b"),
      flags: ENTRY_FLAG.expires | ENTRY_FLAG.meta,
      expiresAt: 1_700_000_000_123,
      meta: enc("vv"),
      value: enc("two"),
    },
    {
      ikey: enc("\0\x02c"),
      flags: ENTRY_FLAG.tombstone,
      expiresAt: 0,
      meta: new Uint8Array(0),
      value: new Uint8Array(0),
    },
    {
      ikey: enc("\0\x02d"),
      flags: ENTRY_FLAG.meta,
      expiresAt: 0,
      meta: new Uint8Array(300).fill(7),
      value: new Uint8Array(200).fill(9),
    },
  ];
  const recs: Rec[] = [];
  const frame = stampBatch(encodeBatch(ops, recs), 41, recs);
  const decoded = decodeLogRecord(frame.subarray(WAL_FRAME_HEADER_BYTES), "log", 0);
  assert.is(decoded.type, "batch");
  if (decoded.type !== "batch") return;
  assert.is(decoded.recs.length, ops.length);
  const fields = (r: Rec) => ({
    key: [...r.key()],
    seq: r.seq,
    flags: r.flags,
    expiresAt: r.expiresAt,
    meta: [...r.meta()],
    value: [...r.value()],
  });
  decoded.recs.forEach((d, i) => {
    assert.equal(fields(recs[i]!), fields(d), `op ${i}`);
    assert.is(recs[i]!.buf, frame, "points into the frame");
  });
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
  return plainRec(enc(key), enc(value), seq);
}

test("the memtable keeps keys sorted with the newest version first, and cursors read at their snapshot", () => {
  const m = new Memtable(0);
  const rnd = new SeededRandom(9);
  const latest = new Map<string, number>();
  for (let seq = 1; seq <= 3000; seq++) {
    const k = `xx${String(rnd.int(700)).padStart(4, "0")}`;
    m.add(rec(k, seq, `v${seq}`), 10);
    if (seq === 2000) { for (const [kk, s] of latest) latest.set(kk, s); }
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

test("the memtable orders keys that share their first six or twelve bytes or are shorter, like a sorted array", () => {
  const m = new Memtable(0);
  const rnd = new SeededRandom(11);
  const alphabet = [
    "",
    "\u0000",
    "a",
    "a\u0000",
    "ab",
    "abcdef",
    "abcdeg",
    "abcdef\u0000",
    "abcdefz",
    "abcdefa",
    "abcdefghij",
    "abcdefgh\u0000",
    "abcdefghijkl",
    "abcdefghijkm",
    "abcdefghijkl\u0000",
    "abcdefghijklz",
    "abcdefghijk\u00ff",
    "b",
    "\u00ff",
  ];
  const latest = new Map<string, number>();
  for (let seq = 1; seq <= 4000; seq++) {
    // Random keys built from prefixes that collide in the first six bytes, plus random tails.
    const k = alphabet[rnd.int(alphabet.length)]! +
      (rnd.int(2) === 0 ? "" : String.fromCharCode(rnd.int(128)).repeat(rnd.int(3)));
    if (k.length === 0) continue;
    m.add(rec(k, seq, `v${seq}`), 10);
    latest.set(k, seq);
  }
  const cmp = (a: string, b: string) => compareBytes(enc(a), enc(b));
  const keys = [...latest.keys()].sort(cmp);
  const c = m.cursor(Number.MAX_SAFE_INTEGER, false);
  c.seek(null);
  const got: string[] = [];
  for (; c.rec !== null; c.next()) got.push(`${dec(c.rec.key())}=${dec(c.rec.value())}`);
  assert.equal(got, keys.map((k) => `${k}=v${latest.get(k)}`));
  for (const k of keys) assert.is(dec(m.get(enc(k), Number.MAX_SAFE_INTEGER)!.value()), `v${latest.get(k)}`);
  assert.is(m.get(enc("abcdeh"), Number.MAX_SAFE_INTEGER), null);
});

/** A block of `n + 8` bytes holding one entry offset, marked with `tag` in its first byte. */
test("a retired memtable gives its arena and records to the pool only once no iterator pins it", () => {
  const pool = new MemtablePool(1024 * 1024);
  const m = new Memtable(0, pool);
  for (let i = 0; i < 100; i++) m.add(rec(`k${String(i).padStart(3, "0")}`, i + 1, "v".repeat(20)), 30);
  const big = rec("zz-big", 101, "v".repeat(100_000));
  m.add(big, 100_010);
  m.pin();
  const c = m.cursor(1000, false);
  c.seek(null);
  m.retire(pool);
  assert.is(pool.chunks + pool.recs, 0, "a pinned memtable keeps its memory");
  let n = 0;
  for (; c.rec !== null && n < 100; c.next()) assert.is(dec(c.rec.key()), `k${String(n++).padStart(3, "0")}`);
  assert.is(c.rec !== null && dec(c.rec.key()), "zz-big");
  n++;
  assert.is(n, 101, "and stays readable");
  assert.is(big.buf.length, 100_006, "a record too large for the arena has a buffer of its own");
  m.unpin();
  assert.is(pool.chunks, 1, "its arena chunk went back");
  assert.is(pool.recs, 101, "and its records");
  assert.is(big.buf.length, 0, "the pool lets go of a large record's own buffer");
  const next = new Memtable(1, pool);
  next.add(rec("xx-a", 1, "new"), 10);
  assert.is(pool.chunks, 0, "the next memtable writes into the recycled chunk");
  assert.ok(pool.takeRec() !== undefined);
});

const blockBytes = (n: number, tag = 0) => {
  const data = new Uint8Array(n + 8);
  data[0] = tag;
  data[n + 4] = 1; // count = 1, offset 0
  return data;
};

test("the block cache stays within its byte budget, keeps a block that is read and evicts cold ones", () => {
  const cache = new BlockCache(10_000);
  for (let i = 0; i < 20; i++) {
    cache.insert(1, i, blockBytes(1000, i), "f");
    assert.ok(cache.get(1, 0) !== undefined, `block 0 still cached after ${i + 1} inserts`); // keeps block 0 hot
  }
  assert.ok(cache.bytes <= 10_000);
  assert.ok(cache.arenaBytes <= 10_000 + cache.segmentBytes, "the arena is the capacity plus one spare segment");
  assert.is(cache.get(1, 0)!.data[0], 0, "the hot block kept its bytes when it moved");
  assert.is(cache.get(1, 0)!.offset, 0);
  assert.is(cache.get(1, 1), undefined, "a cold block went");
  assert.is(cache.get(1, 19)!.data[0], 19);
  assert.is(cache.get(2, 19), undefined, "blocks are per table");
});

test("the block cache copies blocks into its arena and does not cache blocks larger than a segment", () => {
  const cache = new BlockCache(64 * 1024);
  const data = blockBytes(100, 7);
  const cached = cache.insert(3, 0, data, "f")!;
  data[0] = 99;
  assert.is(cached.data[0], 7, "the cache holds a copy");
  assert.is(cache.get(3, 0)!.data.length, 108);
  assert.is(cache.insert(3, 200, blockBytes(cache.segmentBytes), "f"), undefined);
  assert.is(cache.get(3, 200), undefined);
  cache.insert(4, 0, blockBytes(50), "g");
  cache.evictTable(3);
  assert.is(cache.get(3, 0), undefined, "evictTable drops a table's blocks");
  assert.is(cache.get(4, 0)!.file, "g", "and only that table's");
  assert.is(cache.bytes, 58);
  const none = new BlockCache(0);
  assert.is(none.insert(1, 0, blockBytes(10), "f"), undefined, "a zero-byte cache caches nothing");
});

test("the block cache returns the bytes it was given for every block it still holds (random inserts, reads, evictions)", () => {
  const rnd = new SeededRandom(11);
  const cache = new BlockCache(20_000);
  const model = new Map<string, number>();
  for (let step = 0; step < 5000; step++) {
    const table = rnd.int(4);
    const offset = rnd.int(50) * 1000;
    const op = rnd.int(10);
    if (op < 5) {
      const tag = rnd.int(256);
      const data = blockBytes(50 + rnd.int(1500), tag);
      if (cache.insert(table, offset, data, `t${table}`) !== undefined) model.set(`${table}/${offset}`, tag);
    } else if (op < 9) {
      const b = cache.get(table, offset);
      if (b !== undefined) {
        assert.is(b.data[0], model.get(`${table}/${offset}`), `block ${table}/${offset} at step ${step}`);
      }
    } else {
      cache.evictTable(table);
      for (let o = 0; o < 50; o++) assert.is(cache.get(table, o * 1000), undefined);
    }
    assert.ok(
      cache.bytes <= 20_000 && cache.arenaBytes <= 20_000 + cache.segmentBytes,
      `bytes ${cache.bytes} at step ${step}`,
    );
  }
  assert.ok(cache.hits > 20, `the reads hit often enough to check bytes: ${cache.hits}`);
});

test("block cache scratch buffers are reused and at least as large as asked", () => {
  const cache = new BlockCache(1024 * 1024);
  const a = cache.takeScratch(5000);
  assert.ok(a.length >= 5000);
  cache.giveScratch(a);
  assert.is(cache.takeScratch(4000), a, "a returned buffer is handed out again");
  assert.ok(cache.takeScratch(100_000).length >= 100_000);
});

const meta = (number: number, lo: string, hi: string, bytes: number): TableMeta => ({
  number,
  bytes,
  count: 1,
  tombstones: 0,
  minSeq: number,
  maxSeq: number,
  smallest: enc(lo),
  largest: enc(hi),
});
const cfg: PolicyConfig = {
  l0CompactionTables: 4,
  levelBaseBytes: 1000,
  levelMultiplier: 10,
  levelsMax: 4,
  compactionBytesMax: 1 << 30,
};

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

test("checkKey gives every string key the internal key of its UTF-8 bytes, ASCII or not, and refuses the same keys", () => {
  const s = { keyBytesMax: 8 } as Settings;
  const code = (f: () => unknown) => {
    try {
      f();
      return "ok";
    } catch (e) {
      return isMeshkvError(e) ? e.code : String(e);
    }
  };
  const rnd = new SeededRandom(11);
  const alphabet = ["a", "Z", "0", "/", "~", " ", "\x7f", "é", "ключ", "😀", "\u0000"];
  for (let i = 0; i < 2000; i++) {
    let key = "";
    const n = rnd.int(7);
    for (let j = 0; j < n; j++) key += alphabet[rnd.int(alphabet.length)];
    const p = rnd.int(65536);
    const bytes = utf8(key);
    const expected = key === "" || bytes.length > 8 ? null : internalKey(p, bytes);
    if (expected === null) {
      assert.is(
        code(() => checkKey(p, key, s)),
        key === "" ? "INVALID_ARGUMENT" : "LIMIT_EXCEEDED",
        JSON.stringify(key),
      );
    } else assert.equal([...checkKey(p, key, s)], [...expected], JSON.stringify(key));
  }
  assert.equal([...checkKey(258, "abc", s)], [1, 2, 97, 98, 99]);
  assert.is(code(() => checkKey(0, "123456789", s)), "LIMIT_EXCEEDED");
  assert.is(code(() => checkKey(0, "éééé", s)), "ok");
  assert.is(code(() => checkKey(0, "ééééé", s)), "LIMIT_EXCEEDED", "5 characters, 10 bytes");
});

test("level 1's target follows what level 0 holds when it is compacted, unless it is given", () => {
  const clock = { now: () => 0, monotonic: () => 0, setTimeout: () => 0, clearTimeout: () => {} } as never;
  const MiB = 1024 * 1024;
  assert.is(normalizeOptions({ clock }).levelBaseBytes, 32 * MiB, "8 MiB memtables: the default");
  assert.is(normalizeOptions({ clock, memtableBytes: 4096 }).levelBaseBytes, 32 * MiB, "never under the default");
  assert.is(normalizeOptions({ clock, memtableBytes: 32 * MiB }).levelBaseBytes, 128 * MiB);
  assert.is(normalizeOptions({ clock, memtableBytes: 32 * MiB, l0CompactionTables: 2 }).levelBaseBytes, 64 * MiB);
  assert.is(normalizeOptions({ clock, memtableBytes: 32 * MiB, levelBaseBytes: 8192 }).levelBaseBytes, 8192);
  const bad = (() => {
    try {
      normalizeOptions({ clock, memtableBytes: 32 * MiB, levelBaseBytes: 1 });
    } catch (e) {
      return isMeshkvError(e, "INVALID_ARGUMENT") ? e.message : "other";
    }
    return "none";
  })();
  assert.match(bad, /levelBaseBytes/, "a given target is still checked");
});

test.run();
