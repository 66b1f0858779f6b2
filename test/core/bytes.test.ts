/**
 * The byte helpers every layer shares (`core/_bytes.ts`): equality, lexicographic order and hex agree with
 * each other and with plain string order on hex.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import {
  allocBytes,
  ByteReader,
  ByteWriter,
  compareBytes,
  copyBytes,
  equalBytes,
  FormatError,
  fromBase64Url,
  fromHex,
  SLAB_BYTES,
  SLAB_COPY_MAX,
  toBase64Url,
  toHex,
} from "../../src/core/_bytes.ts";

const b = (...xs: number[]) => Uint8Array.from(xs);
const sign = (n: number) => Math.sign(n);
// Short arrays over a small alphabet, so equal arrays and shared prefixes come up often.
const arbBytes = fc.uint8Array({ maxLength: 6, max: 3 });

test("compareBytes orders byte by byte, a prefix first, and views by their contents", () => {
  const table: Array<[Uint8Array, Uint8Array, number]> = [
    [b(), b(), 0],
    [b(), b(0), -1],
    [b(1, 2), b(1, 2, 0), -1],
    [b(2), b(1, 255), 1],
    [b(0, 255), b(1), -1],
    [b(9, 1, 2, 3).subarray(1), b(1, 2, 3), 0],
  ];
  for (const [x, y, want] of table) {
    assert.is(sign(compareBytes(x, y)), want, `${toHex(x)} vs ${toHex(y)}`);
    assert.is(equalBytes(x, y), want === 0, `${toHex(x)} equals ${toHex(y)}`);
  }
});

test("compareBytes is a total order that agrees with string order on hex, and equalBytes with it", () => {
  fc.assert(
    fc.property(arbBytes, arbBytes, arbBytes, (x, y, z) => {
      const hx = toHex(x);
      const hy = toHex(y);
      assert.is(sign(compareBytes(x, y)), hx < hy ? -1 : hx > hy ? 1 : 0);
      assert.is(sign(compareBytes(x, y)), -sign(compareBytes(y, x)));
      assert.is(equalBytes(x, y), compareBytes(x, y) === 0);
      if (compareBytes(x, y) <= 0 && compareBytes(y, z) <= 0) assert.ok(compareBytes(x, z) <= 0);
    }),
    { numRuns: 500 },
  );
});

test("fromHex inverts toHex, which writes two lowercase digits a byte", () => {
  assert.is(toHex(b(0, 15, 16, 255)), "000f10ff");
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (x) => {
    assert.ok(equalBytes(fromHex(toHex(x)), x));
    assert.is(toHex(x).length, 2 * x.length);
  }));
});

test("copyBytes gives copies the caller owns: the bytes asked for, apart from the source and from each other", () => {
  const src = Uint8Array.from({ length: 3 * SLAB_COPY_MAX }, (_, i) => (i * 7) & 0xff);
  // Sizes on both sides of the on-heap limit (64) and of the slab limit, and enough copies to fill several slabs.
  const sizes = [0, 1, 64, 65, 1000, SLAB_COPY_MAX, SLAB_COPY_MAX + 1];
  const made: Array<[Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < (3 * SLAB_BYTES) / 500; i++) {
    const n = sizes[i % sizes.length]!;
    const start = i % 50;
    const copy = copyBytes(src, start, start + n);
    assert.is(copy.length, n);
    assert.ok(equalBytes(copy, src.subarray(start, start + n)), `copy ${i} of ${n} bytes`);
    made.push([copy, src.slice(start, start + n)]);
  }
  // Writing into every copy changes neither the source nor any other copy.
  const before = src.slice();
  for (const [copy] of made) copy.fill(0xee);
  assert.ok(equalBytes(src, before), "the source is untouched");
  for (const [copy, expected] of made) copy.set(expected); // in order: a later copy sharing bytes would clobber
  for (const [copy, expected] of made) assert.ok(equalBytes(copy, expected), "no copy overlaps another");
  // A copy from a slab is a view: its own bytes are byteOffset/byteLength of a larger buffer.
  const mid = copyBytes(src, 0, 100);
  assert.is(mid.byteLength, 100);
  assert.ok(mid.buffer.byteLength >= 100);
  assert.equal([...copyBytes(src)], [...src], "the whole source by default");
});

test("allocBytes gives zeroed bytes of every size", () => {
  for (const n of [0, 1, 64, 65, 777, SLAB_COPY_MAX, SLAB_COPY_MAX + 1]) {
    const a = allocBytes(n);
    assert.is(a.length, n);
    assert.ok(a.every((x) => x === 0), `${n} bytes zeroed`);
    a.fill(1);
  }
  assert.ok(allocBytes(100).every((x) => x === 0), "a later allocation does not see an earlier one's bytes");
});

test("toBase64Url is base64url without padding for every length (past its scratch buffer too), and fromBase64Url inverts it", () => {
  const ref = (bytes: Uint8Array) => {
    let bin = "";
    for (const x of bytes) bin += String.fromCharCode(x);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  for (const n of [0, 1, 2, 3, 4, 5, 47, 48, 767, 768, 769, 3000]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n) & 0xff);
    const text = toBase64Url(bytes);
    assert.is(text, ref(bytes), `${n} bytes`);
    assert.equal(fromBase64Url(text), bytes, `${n} bytes back`);
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => toBase64Url(bytes) === ref(bytes)));
});

test("strings written and read back: ASCII, non-ASCII and 127/128-byte lengths; a string read again is the same text, never another one's", () => {
  const texts = [
    "",
    "n01",
    "n01.ab12",
    "é",
    "über-node",
    "🙂",
    "x".repeat(127),
    "x".repeat(128),
    "é".repeat(64),
    "n02",
  ];
  const roundTrip = (list: string[]) => {
    const w = new ByteWriter();
    for (const t of list) w.string(t);
    const bytes = w.finish();
    const r = new ByteReader(bytes);
    const back = list.map(() => r.string(1024));
    assert.ok(r.done);
    return { bytes, back };
  };
  assert.equal(roundTrip(texts).back, texts);
  assert.equal(roundTrip(texts).back, texts, "read a second time (short ones are remembered)");
  // The remembered bytes are a copy: changing the buffer a string was read from does not change what it reads as.
  const mine = roundTrip(["n01"]).bytes;
  mine.fill(0x61, 1); // "n01" -> "aaa" in place
  assert.equal(new ByteReader(mine).string(1024), "aaa");
  assert.equal(roundTrip(["n01"]).back, ["n01"]);
  fc.assert(fc.property(fc.array(fc.string({ maxLength: 20 }), { maxLength: 8 }), (list) => {
    assert.equal(roundTrip(list).back, list);
  }));
  const bad = new ByteReader(Uint8Array.of(2, 0xc3, 0x28));
  assert.throws(() => bad.string(16), (e: unknown) => e instanceof FormatError && /Invalid UTF-8/.test(e.message));
  assert.throws(() => new ByteReader(Uint8Array.of(5, 0x61)).string(16), /Unexpected end of input/);
  assert.throws(() => new ByteReader(Uint8Array.of(5, 0x61)).string(4), /over the limit 4/);
});

test.run();
