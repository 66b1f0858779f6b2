import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { isMeshkvError } from "../../src/errors.ts";
import {
  compareHlc,
  decodeHlc,
  encodeHlc,
  type Hlc,
  HLC_LOGICAL_MAX,
  HLC_ZERO,
  hlcNow,
  hlcReceive,
} from "../../src/core/hlc.ts";

const arbHlc: fc.Arbitrary<Hlc> = fc.record({
  wallMs: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  logical: fc.integer({ min: 0, max: HLC_LOGICAL_MAX }),
});

test("hlcNow() follows physical time when it moves forward", () => {
  assert.equal(hlcNow(HLC_ZERO, 1000), { wallMs: 1000, logical: 0 });
  assert.equal(hlcNow({ wallMs: 1000, logical: 5 }, 1001.7), { wallMs: 1001, logical: 0 });
});

test("hlcNow() counts logically when physical time stalls or goes backwards", () => {
  assert.equal(hlcNow({ wallMs: 1000, logical: 0 }, 1000), { wallMs: 1000, logical: 1 });
  assert.equal(hlcNow({ wallMs: 1000, logical: 3 }, 900), { wallMs: 1000, logical: 4 });
});

test("a full logical counter moves the wall part one millisecond ahead", () => {
  assert.equal(hlcNow({ wallMs: 1000, logical: HLC_LOGICAL_MAX }, 1000), { wallMs: 1001, logical: 0 });
});

test("hlcReceive() ends ahead of both the local clock and the message", () => {
  fc.assert(
    fc.property(
      arbHlc,
      fc.integer({ min: -5000, max: 5000 }),
      fc.integer({ min: 0, max: 2 ** 47 }),
      (last, skew, pt) => {
        const remote = { wallMs: Math.max(0, pt + skew), logical: last.logical };
        const next = hlcReceive(last, remote, pt);
        assert.ok(compareHlc(next, last) > 0);
        assert.ok(compareHlc(next, remote) > 0);
        assert.ok(next.wallMs >= pt);
      },
    ),
    { numRuns: 300 },
  );
});

test("timestamps from a sequence of events never go backwards, whatever physical time does", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: -1000, max: 1000 })), {
        maxLength: 50,
      }),
      (events) => {
        let clock = HLC_ZERO;
        for (const [receive, pt, skew] of events) {
          const next = receive
            ? hlcReceive(clock, { wallMs: Math.max(0, pt + skew), logical: 0 }, pt)
            : hlcNow(clock, pt);
          assert.ok(compareHlc(next, clock) > 0);
          clock = next;
        }
      },
    ),
    { numRuns: 200 },
  );
});

test("hlcReceive() refuses a peer further ahead than maxDriftMs with CLOCK_SKEW", () => {
  try {
    hlcReceive(HLC_ZERO, { wallMs: 100_000, logical: 0 }, 1000, 60_000);
    assert.unreachable();
  } catch (e) {
    assert.ok(isMeshkvError(e, "CLOCK_SKEW"));
  }
  assert.equal(hlcReceive(HLC_ZERO, { wallMs: 61_000, logical: 2 }, 1000, 60_000), { wallMs: 61_000, logical: 3 });
});

test("the 8-byte encoding round-trips and sorts like compareHlc", () => {
  fc.assert(
    fc.property(arbHlc, arbHlc, (a, b) => {
      const ea = encodeHlc(a);
      const eb = encodeHlc(b);
      assert.equal(decodeHlc(ea), { wallMs: a.wallMs, logical: a.logical });
      let byteOrder = 0;
      for (let i = 0; i < 8 && byteOrder === 0; i++) byteOrder = ea[i]! - eb[i]!;
      assert.is(Math.sign(byteOrder), Math.sign(compareHlc(a, b)));
    }),
    { numRuns: 300 },
  );
});

test("malformed timestamps are INVALID_ARGUMENT", () => {
  for (
    const bad of [
      () => decodeHlc(new Uint8Array(7)),
      () => encodeHlc({ wallMs: -1, logical: 0 }),
      () => encodeHlc({ wallMs: 1, logical: 70000 }),
    ]
  ) {
    try {
      bad();
      assert.unreachable();
    } catch (e) {
      assert.ok(isMeshkvError(e, "INVALID_ARGUMENT"), String(e));
    }
  }
});

test.run();
