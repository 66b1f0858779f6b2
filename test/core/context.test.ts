import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { isMeshkvError } from "../../src/errors.ts";
import {
  decodeContext,
  decodeSet,
  DIGEST_INLINE_BYTES_MAX,
  encodeContext,
  encodeSet,
  RECENT_ENCODINGS,
  rememberEncoding,
  versionDigest,
  wireVersionDigest,
} from "../../src/core/context.ts";
import { contextOf, type DvvSet, emptySet, update, type VersionVector } from "../../src/core/version.ts";
import { fromBase64Url, toBase64Url } from "../../src/core/_bytes.ts";

const arbVector: fc.Arbitrary<VersionVector> = fc
  .dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), {
    maxKeys: 8,
  })
  .map((o) => Object.keys(o).sort().map((node) => ({ node, counter: o[node]! })));

const arbSet: fc.Arbitrary<DvvSet<Uint8Array>> = fc
  .array(
    fc.tuple(fc.constantFrom("n1", "n2", "日本", "n4"), fc.boolean(), fc.uint8Array({ maxLength: 20 }), fc.nat(1e13)),
    { maxLength: 12 },
  )
  .map((writes) => {
    let s = emptySet<Uint8Array>();
    for (const [node, withContext, value, t] of writes) s = update(s, withContext ? contextOf(s) : [], value, node, t);
    return s;
  });

function expectCode(fn: () => unknown, code: "BAD_CONTEXT" | "CORRUPTION", label: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isMeshkvError(e, code), `${label}: ${String(e)}`);
    return;
  }
  assert.unreachable(`${label}: accepted`);
}

test("base64url round-trips any bytes and uses only URL-safe characters", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const text = toBase64Url(bytes);
      assert.ok(/^[A-Za-z0-9_-]*$/.test(text));
      assert.equal(fromBase64Url(text), bytes);
    }),
    { numRuns: 300 },
  );
  assert.is(toBase64Url(new Uint8Array([0xfb, 0xff])), "-_8");
});

test("a context token round-trips every version vector", () => {
  fc.assert(
    fc.property(arbVector, (vv) => {
      const token = encodeContext(vv);
      assert.ok(/^[A-Za-z0-9_-]+$/.test(token));
      assert.equal(decodeContext(token), vv);
    }),
    { numRuns: 300 },
  );
});

test("a context token for a typical read is short", () => {
  const token = encodeContext([{ node: "node-a", counter: 12 }, { node: "node-b", counter: 3 }, {
    node: "node-c",
    counter: 40,
  }]);
  assert.ok(token.length < 48, `${token.length} chars`);
});

test("decodeContext() rejects malformed tokens with BAD_CONTEXT", () => {
  const good = encodeContext([{ node: "a", counter: 1 }, { node: "b", counter: 2 }]);
  const cases: [string, string][] = [
    ["", "empty"],
    ["!!!!", "outside the alphabet"],
    ["AAA=", "padding"],
    ["a+b/", "standard base64 characters"],
    ["A", "impossible length"],
    ["AAAA", "too short"],
    [good.slice(0, -2), "truncated"],
    [good + "AA", "extended"],
    ["x".repeat(9000), "too long"],
    [toBase64Url(new Uint8Array([9, 0, 0, 0, 0, 0])), "unknown version"],
  ];
  for (const [token, label] of cases) expectCode(() => decodeContext(token), "BAD_CONTEXT", label);
});

test("a token with any one character changed is rejected", () => {
  const good = encodeContext([{ node: "node-a", counter: 7 }, { node: "node-b", counter: 1 }]);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  fc.assert(
    fc.property(fc.nat(good.length - 1), fc.nat(63), (at, c) => {
      const ch = alphabet[c]!;
      fc.pre(ch !== good[at]);
      expectCode(() => decodeContext(good.slice(0, at) + ch + good.slice(at + 1)), "BAD_CONTEXT", `flip at ${at}`);
    }),
    { numRuns: 300 },
  );
});

test("random strings are never accepted as contexts", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (text) => {
      expectCode(() => decodeContext(text), "BAD_CONTEXT", text);
    }),
    { numRuns: 300 },
  );
});

test("the binary set encoding round-trips sets from real histories", () => {
  fc.assert(
    fc.property(arbSet, (set) => {
      const decoded = decodeSet(encodeSet(set));
      assert.equal(
        decoded.entries.map((e) => ({ ...e, values: e.values.map((v) => [...v]) })),
        set.entries.map((e) => ({ ...e, values: e.values.map((v) => [...v]) })),
      );
    }),
    { numRuns: 200 },
  );
  assert.equal(encodeSet(emptySet()), new Uint8Array([1, 0]));
});

test("a set is encoded once: asking again gives the same bytes, a changed set its own", () => {
  fc.assert(
    fc.property(arbSet, (set) => {
      const first = encodeSet(set);
      assert.is(encodeSet(set), first, "the same bytes object");
      const copy = { entries: set.entries.map((e) => ({ ...e })) };
      assert.equal([...encodeSet(copy)], [...first], "an equal set encodes to equal bytes");
      const next = update(set, contextOf(set), new Uint8Array([9]), "z", 1);
      assert.not.equal([...encodeSet(next)], [...first], "an updated set has its own encoding");
    }),
    { numRuns: 50 },
  );
});

test("a decoded set's encoding is the bytes it came from, not a new encoding", () => {
  fc.assert(
    fc.property(arbSet, (set) => {
      const bytes = encodeSet(set).slice();
      const decoded = decodeSet(bytes);
      assert.is(encodeSet(decoded), bytes, "the very bytes decoded");
      assert.equal(
        [...encodeSet({ entries: decoded.entries.map((e) => ({ ...e })) })],
        [...bytes],
        "and they are canonical",
      );
    }),
    { numRuns: 50 },
  );
});

test("only recent encodings are remembered: an older set is encoded again, to the same bytes", () => {
  const sets = Array.from(
    { length: RECENT_ENCODINGS + 1 },
    (_, i) => update(emptySet<Uint8Array>(), [], Uint8Array.of(i), "n", 1),
  );
  const first = encodeSet(sets[0]!);
  for (const s of sets.slice(1)) encodeSet(s);
  const again = encodeSet(sets[0]!);
  assert.ok(again !== first, "forgotten after RECENT_ENCODINGS newer ones");
  assert.equal([...again], [...first]);
  rememberEncoding(sets[0]!, first);
  assert.is(encodeSet(sets[0]!), first, "remembered again");
  assert.is(encodeSet(sets[RECENT_ENCODINGS]!), encodeSet(sets[RECENT_ENCODINGS]!), "the newest is still there");
});

test("every truncation of an encoded set is CORRUPTION, never a smaller set", () => {
  fc.assert(
    fc.property(arbSet, (set) => {
      const bytes = encodeSet(set);
      for (let cut = 0; cut < bytes.length; cut++) {
        expectCode(() => decodeSet(bytes.subarray(0, cut)), "CORRUPTION", `cut ${cut}`);
      }
      expectCode(
        () => decodeSet(new Uint8Array([...bytes, 0])),
        "CORRUPTION",
        "trailing byte",
      );
    }),
    { numRuns: 50 },
  );
});

test("decodeSet() rejects broken invariants", () => {
  const cases: [number[], string][] = [
    [[2, 0], "unknown version"],
    [[1, 1, 1, 0x61, 0, 0, 0], "zero counter"],
    [[1, 1, 1, 0x61, 1, 0, 2, 0, 0], "more values than events"],
    [[1, 2, 1, 0x62, 1, 0, 0, 1, 0x61, 1, 0, 0], "ids out of order"],
    [[1, 1, 0, 1, 0, 0], "empty id"],
    [[1, 1, 1, 0xff, 1, 0, 0], "invalid UTF-8"],
    [[1, 0x80, 0], "non-canonical varint"],
  ];
  for (const [bytes, label] of cases) expectCode(() => decodeSet(new Uint8Array(bytes)), "CORRUPTION", label);
});

test("wireVersionDigest() is the version digest when short and a 16-byte hash of it when long, equal exactly when the versions are", () => {
  const write = (set: DvvSet<Uint8Array>, node: string) => update(set, contextOf(set), new Uint8Array([1]), node, 0);
  const short = write(write(emptySet<Uint8Array>(), "a.1f2e"), "b.09ab");
  assert.equal(wireVersionDigest(short), versionDigest(short));
  let long = emptySet<Uint8Array>();
  for (let i = 0; i < 3; i++) long = write(long, `meshkv-europe-west4-statefulset-node-${i}.ab12`);
  assert.ok(versionDigest(long).length > DIGEST_INLINE_BYTES_MAX);
  assert.is(wireVersionDigest(long).length, 16);
  assert.equal(
    wireVersionDigest(long),
    wireVersionDigest(decodeSet(encodeSet(long))),
    "the same versions give the same digest",
  );
  const longer = write(long, "meshkv-europe-west4-statefulset-node-0.ab12");
  assert.not.equal(wireVersionDigest(longer), wireVersionDigest(long), "a newer version gives another digest");
});

test.run();
