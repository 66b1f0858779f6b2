/**
 * Mesh frames and the handshake MAC: frames round-trip, hostile bytes are PROTOCOL_ERROR, and the pure
 * HMAC-SHA-256 used by the simulation matches Web Crypto and RFC 4231.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decode, encode } from "@msgpack/msgpack";
import { hmacSha256, sha256 } from "../../src/mesh/_sha256.ts";
import { proofBytes, pureAuthenticator, webCryptoAuthenticator } from "../../src/mesh/auth.ts";
import {
  BATCH_HEADER_BYTES,
  decodeFrame,
  encodeFrame,
  encodeFrameShared,
  type Frame,
  FrameBatch,
  type MessageFrame,
} from "../../src/mesh/codec.ts";
import { BATCH_FRAMES_MAX, FRAME_TYPES, kindOf, MESSAGE_KINDS, PROTOCOL_VERSION } from "../../src/mesh/kinds.ts";
import { SeededRandom } from "../../src/runtime/memory.ts";
import { rejectsWith } from "../_helpers.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => new Uint8Array(s.match(/../g)!.map((h) => parseInt(h, 16)));

test("every frame type round-trips through encodeFrame and decodeFrame", () => {
  const frames: Frame[] = [
    {
      type: "hello",
      version: PROTOCOL_VERSION,
      cluster: "c",
      nodeId: "n1",
      nonce: new Uint8Array(16).fill(7),
      address: "h:1",
      datacenter: "dc",
      role: "dial",
    },
    { type: "auth", proof: new Uint8Array(32).fill(1) },
    { type: "request", id: 9, kind: MESSAGE_KINDS.sync, body: { members: [{ id: "a" }] } },
    { type: "response", id: 9, body: [1, "two", null] },
    { type: "error", id: 9, code: "TIMEOUT", message: "Too slow" },
    { type: "oneway", kind: MESSAGE_KINDS.gossip, body: new Uint8Array([1, 2]) },
  ];
  for (const f of frames) assert.equal(decodeFrame(encodeFrame(f)), f);
});

test("the wire numbers are fixed (append only)", () => {
  assert.equal(FRAME_TYPES, { hello: 1, auth: 2, request: 3, response: 4, error: 5, oneway: 6, batch: 7 });
  assert.equal({ ...MESSAGE_KINDS }, {
    ping: 1,
    pingReq: 2,
    gossip: 3,
    sync: 4,
    echo: 5,
    kvGet: 6,
    kvMerge: 7,
    kvMergeBatch: 8,
    kvCoordinate: 9,
    kvScan: 10,
    aeLevel: 11,
    aeKeys: 12,
    aeFetch: 13,
    kvConfig: 14,
    linkFeatures: 15,
    kvStats: 16,
    linkRetire: 17,
  });
  assert.is(kindOf(4), "sync");
  assert.is(kindOf(999), undefined);
});

test("a FrameBatch joins encoded frames into one batch frame that decodes to the same frames in order", () => {
  const frames: MessageFrame[] = [
    { type: "request", id: 1, kind: MESSAGE_KINDS.echo, body: { x: "a".repeat(300) } },
    { type: "response", id: 7, body: new Uint8Array([1, 2, 3]) },
    { type: "error", id: 8, code: "TIMEOUT", message: "Too slow" },
    { type: "oneway", kind: MESSAGE_KINDS.gossip, body: [1, 2] },
  ];
  const encoded = frames.map(encodeFrame);
  const batch = new FrameBatch();
  for (const f of frames) batch.push(encodeFrameShared(f));
  assert.is(batch.count, 4);
  assert.is(batch.bytes, encoded.reduce((n, f) => n + f.length, 0));
  const bytes = batch.take()!;
  assert.is(bytes.length, BATCH_HEADER_BYTES + encoded.reduce((n, f) => n + f.length, 0));
  assert.equal(decodeFrame(bytes), { type: "batch", frames });
  assert.equal(
    decode(bytes),
    [FRAME_TYPES.batch, ...encoded.map((f) => decode(f))],
    "any msgpack decoder reads it as one array",
  );
  assert.equal(decodeFrame(encodeFrame({ type: "batch", frames })), { type: "batch", frames });
  assert.is(batch.take(), null, "take() empties the batch");
  batch.push(encoded[0]!);
  assert.equal(batch.take(), encoded[0], "a lone frame is sent as itself");
  for (let i = 0; i < 100; i++) batch.push(encoded[0]!);
  assert.equal(
    decodeFrame(batch.take()!),
    { type: "batch", frames: Array(100).fill(frames[0]) },
    "the buffer grows past its first size",
  );
  assert.is(batch.count + batch.bytes, 0);
});

test("a batch that is empty, too long, nested, or holds a handshake frame or a malformed frame is PROTOCOL_ERROR", async () => {
  const req = [3, 1, 5, null];
  const bad = [
    encode([7]),
    encode([7, ...Array.from({ length: BATCH_FRAMES_MAX + 1 }, (_, i) => [6, 3, i])]),
    encode([7, req, [7, req]]),
    encode([7, req, [1, 1, "c", "n", new Uint8Array(16), "a", "d", "dial"]]),
    encode([7, req, [2, new Uint8Array(32)]]),
    encode([7, req, [3, -1, 5, null]]),
    encode([7, req, "not a frame"]),
    encode([7, req, [99, 1]]),
  ];
  for (const b of bad) await rejectsWith(() => decodeFrame(b), "PROTOCOL_ERROR", hex(b).slice(0, 80));
  const most = encode([7, ...Array.from({ length: BATCH_FRAMES_MAX }, (_, i) => [6, 3, i])]);
  assert.is((decodeFrame(most) as { frames: unknown[] }).frames.length, BATCH_FRAMES_MAX);
});

test("decodeFrame rejects garbage and malformed frames with PROTOCOL_ERROR, never anything else", async () => {
  const bad = [
    new Uint8Array([0xc1]),
    new Uint8Array(0),
    encode(null),
    encode([]),
    encode([99, 1]),
    encode([3, -1, 1, null]),
    encode([3, 1, 1]),
    encode([1, 1, "c", "", new Uint8Array(16), "a", "d", "dial"]),
    encode([1, 1, "c", "n", new Uint8Array(3), "a", "d", "dial"]),
    encode([1, 1, "c", "n", new Uint8Array(16), "a", "d", "boss"]),
    encode([2, "not bytes"]),
    encode([5, 1, 2, "x"]),
  ];
  for (const b of bad) await rejectsWith(() => decodeFrame(b), "PROTOCOL_ERROR", hex(b));
  const r = new SeededRandom(9);
  for (let i = 0; i < 2000; i++) {
    const b = r.bytes(1 + r.int(64));
    try {
      decodeFrame(b);
    } catch (err) {
      assert.is((err as { code?: string }).code, "PROTOCOL_ERROR", hex(b));
    }
  }
});

test("sha256 and hmacSha256 match FIPS 180-4 and RFC 4231", () => {
  assert.is(hex(sha256(new Uint8Array(0))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.is(
    hex(sha256(new TextEncoder().encode("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  const enc = (s: string) => new TextEncoder().encode(s);
  // RFC 4231 cases 1, 2 and 6 (key longer than the block).
  assert.is(
    hex(hmacSha256(new Uint8Array(20).fill(0x0b), enc("Hi There"))),
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  );
  assert.is(
    hex(hmacSha256(enc("Jefe"), enc("what do ya want for nothing?"))),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
  assert.is(
    hex(hmacSha256(new Uint8Array(131).fill(0xaa), enc("Test Using Larger Than Block-Size Key - Hash Key First"))),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  );
});

test("the pure and Web Crypto authenticators produce and accept the same proofs", async () => {
  const input = proofBytes({
    cluster: "c",
    proverRole: "dial",
    proverId: "a",
    verifierId: "b",
    verifierNonce: new Uint8Array(16).fill(1),
    proverNonce: new Uint8Array(16).fill(2),
  });
  const pure = pureAuthenticator("secret");
  const web = webCryptoAuthenticator("secret");
  const p1 = await pure.sign(input);
  const p2 = await web.sign(input);
  assert.is(hex(p1), hex(p2));
  assert.ok(await web.verify(input, p1));
  assert.ok(await pure.verify(input, p2));
  assert.not.ok(await pure.verify(input, unhex("00".repeat(32))));
  assert.not.ok(await web.verify(input, p1.subarray(0, 16)));
  assert.not.ok(await webCryptoAuthenticator("other").verify(input, p1));
});

test.run();
