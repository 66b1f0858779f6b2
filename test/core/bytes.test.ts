/**
 * The byte helpers every layer shares (`core/_bytes.ts`): equality, lexicographic order and hex agree with
 * each other and with plain string order on hex.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { compareBytes, equalBytes, fromHex, toHex } from "../../src/core/_bytes.ts";

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

test.run();
