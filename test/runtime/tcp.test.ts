/**
 * The mesh's plain-TCP transport (`listenTcp`/`dialTcp`) on the runtime running the tests (Node and Deno; Bun's
 * adapter has none), over real sockets, and its framing (`_framed.ts`) fed byte by byte. A raw `node:net` client plays a peer that breaks the framing.
 */
import net from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { closeRecord, FramedStream, messageRecord } from "../../src/runtime/_framed.ts";
import type { PeerSocket, TcpListener } from "../../src/runtime/types.ts";
import { bytes, eventually, realRuntime, rejectsWith, text } from "../_helpers.ts";

const rt = await realRuntime();
const MAX = 64 * 1024;

interface Ctx {
  listener: TcpListener;
  accepted: PeerSocket[];
  received: string[];
}

const test = suite<Ctx>(`Plain-TCP transport: ${rt.name}`);

test.before.each(async (ctx) => {
  ctx.accepted = [];
  ctx.received = [];
  ctx.listener = await rt.listenTcp!({
    hostname: "127.0.0.1",
    port: 0,
    maxMessageBytes: MAX,
    onOpen(socket) {
      ctx.accepted.push(socket);
      socket.setHandlers({
        message: (m) => {
          ctx.received.push(m.length > 100 ? `${m.length} bytes` : text(m));
          const out = new Uint8Array(m.length + 5);
          out.set(bytes("echo:"), 0);
          out.set(m, 5);
          if (socket.isOpen) socket.send(out);
        },
        close: () => {},
      });
    },
  });
});
test.after.each(async (ctx) => {
  await ctx.listener.close();
});

const dial = (ctx: Ctx, maxMessageBytes = MAX) =>
  rt.dialTcp!("127.0.0.1", ctx.listener.port, { maxMessageBytes, timeoutMs: 3000 });

/** A raw connection to the listener, for writing bytes the framing does not allow. */
function raw(ctx: Ctx): Promise<{ s: net.Socket; got: Buffer[]; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(ctx.listener.port, "127.0.0.1");
    const got: Buffer[] = [];
    const ended = new Promise<void>((r) => s.once("close", () => r()));
    s.on("data", (d: Buffer) => got.push(d));
    s.once("error", reject);
    s.once("connect", () => resolve({ s, got, ended }));
  });
}

test("a dialed socket exchanges binary messages in order both ways", async (ctx) => {
  const c = await dial(ctx);
  const got: string[] = [];
  c.setHandlers({ message: (m) => got.push(text(m)), close: () => {} });
  for (let i = 0; i < 200; i++) c.send(bytes(`m${i}`));
  await eventually(() => got.length === 200, 3000, 5, "200 echoes");
  assert.equal(got, Array.from({ length: 200 }, (_, i) => `echo:m${i}`));
  assert.equal(ctx.received.slice(0, 3), ["m0", "m1", "m2"]);
  assert.ok(c.remote.endsWith(`:${ctx.listener.port}`), c.remote);
  c.close();
});

test("messages that arrive before handlers are attached are not lost", async (ctx) => {
  const c = await dial(ctx);
  c.send(bytes("early"));
  await eventually(() => ctx.received.includes("early"), 3000, 5, "server receipt");
  await new Promise((r) => setTimeout(r, 20));
  const got: string[] = [];
  c.setHandlers({ message: (m) => got.push(text(m)), close: () => {} });
  await eventually(() => got.length === 1, 3000, 5, "buffered echo");
  assert.is(got[0], "echo:early");
  c.close();
});

test("messages bigger than one read arrive intact, and an empty message is a message", async (ctx) => {
  const c = await dial(ctx, MAX * 2);
  const big = new Uint8Array(MAX - 10);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  const echoed: Uint8Array[] = [];
  c.setHandlers({ message: (m) => echoed.push(m), close: () => {} });
  c.send(big);
  c.send(new Uint8Array(0));
  c.send(big);
  await eventually(() => echoed.length === 3, 5000, 5, "three echoes");
  for (const i of [0, 2]) {
    assert.is(echoed[i]!.length, big.length + 5);
    assert.ok(Buffer.from(echoed[i]!.subarray(5)).equals(big), `echo ${i} differs`);
  }
  assert.is(text(echoed[1]!), "echo:");
  c.close();
});

test("an oversized message closes that connection with 4009 and the listener keeps serving", async (ctx) => {
  const c = await dial(ctx, MAX * 4);
  let closed: [number, string] | null = null;
  c.setHandlers({ message: () => {}, close: (code, reason) => (closed = [code, reason]) });
  c.send(new Uint8Array(MAX + 10));
  await eventually(() => closed !== null, 5000, 5, "close after oversized message");
  assert.is(closed![0], 4009);
  assert.match(closed![1], /exceeds maxMessageBytes/);
  assert.ok(!c.isOpen);
  assert.equal(ctx.received, []);
  const again = await dial(ctx);
  const got: string[] = [];
  again.setHandlers({ message: (m) => got.push(text(m)), close: () => {} });
  again.send(bytes("still here"));
  await eventually(() => got.length === 1, 3000, 5, "echo after oversized");
  again.close();
});

test("a close arrives with its code and reason; sending afterwards is CONNECTION_CLOSED", async (ctx) => {
  const c = await dial(ctx);
  await eventually(() => ctx.accepted.length === 1, 3000, 5, "accept");
  let seen: [number, string] | null = null;
  c.setHandlers({ message: () => {}, close: (code, reason) => (seen = [code, reason]) });
  ctx.accepted[0]!.send(bytes("last words"));
  ctx.accepted[0]!.close(1008, "x".repeat(300));
  await eventually(() => seen !== null, 3000, 5, "client sees close");
  assert.is(seen![0], 4008);
  assert.ok(seen![1].length <= 123 && seen![1].startsWith("xxx"), seen![1]);
  await rejectsWith(() => c.send(bytes("x")), "CONNECTION_CLOSED");
});

test("a peer that drops without a close record is seen as 1006, once", async (ctx) => {
  const c = await dial(ctx);
  await eventually(() => ctx.accepted.length === 1, 3000, 5, "accept");
  const codes: number[] = [];
  ctx.accepted[0]!.setHandlers({ message: () => {}, close: (code) => codes.push(code) });
  const r = await raw(ctx);
  const rawCodes: number[] = [];
  await eventually(() => ctx.accepted.length === 2, 3000, 5, "raw accept");
  ctx.accepted[1]!.setHandlers({ message: () => {}, close: (code) => rawCodes.push(code) });
  r.s.destroy();
  await eventually(() => rawCodes.length === 1, 3000, 5, "drop seen");
  assert.equal(rawCodes, [1006]);
  c.close();
  await eventually(() => codes.length === 1, 3000, 5, "close seen");
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(codes, [1000]);
});

test("a header no sender writes closes the connection with 4002 (protocol error)", async (ctx) => {
  const r = await raw(ctx);
  r.s.write(Buffer.from([0x80, 0, 0, 1, 9]));
  await r.ended;
  const reply = Buffer.concat(r.got);
  assert.is(reply.readUInt32BE(0), 0xffffffff);
  assert.is(reply.readUInt16BE(4), 4002);
  assert.match(reply.subarray(8).toString(), /Invalid record header/);
  assert.equal(ctx.received, []);
});

test("a header announcing more than the limit closes before the body is sent", async (ctx) => {
  const r = await raw(ctx);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(MAX + 1);
  r.s.write(header);
  await r.ended;
  assert.is(Buffer.concat(r.got).readUInt16BE(4), 4009);
});

test("listener close ends open connections with 1001 (sent as 4001) and frees the port", async (ctx) => {
  const c = await dial(ctx);
  let code: number | null = null;
  c.setHandlers({ message: () => {}, close: (cd) => (code = cd) });
  await eventually(() => ctx.accepted.length === 1, 3000, 5, "accept");
  const port = ctx.listener.port;
  await ctx.listener.close();
  await eventually(() => code !== null, 3000, 5, "client sees close");
  assert.is(code, 4001);
  await rejectsWith(() => rt.dialTcp!("127.0.0.1", port, { maxMessageBytes: MAX, timeoutMs: 1000 }), "CONNECT_FAILED");
  ctx.listener = await rt.listenTcp!({ hostname: "127.0.0.1", port, maxMessageBytes: MAX, onOpen: () => {} });
});

test("a port in use is ADDRESS_IN_USE; a refused dial is CONNECT_FAILED", async (ctx) => {
  await rejectsWith(
    () => rt.listenTcp!({ hostname: "127.0.0.1", port: ctx.listener.port, maxMessageBytes: MAX, onOpen: () => {} }),
    "ADDRESS_IN_USE",
  );
  const spare = await rt.listenTcp!({ hostname: "127.0.0.1", port: 0, maxMessageBytes: MAX, onOpen: () => {} });
  const free = spare.port;
  await spare.close();
  await rejectsWith(() => rt.dialTcp!("127.0.0.1", free, { maxMessageBytes: MAX, timeoutMs: 1000 }), "CONNECT_FAILED");
});

// Bun's adapter has no plain TCP (docs/mesh.md): there the suite above does not apply.
if (rt.listenTcp !== undefined) test.run();

const offered = suite("Plain-TCP transport: which adapters offer it");
offered("Node's and Deno's adapters offer it; Bun's does not (its native WebSocket was as cheap)", () => {
  assert.type(rt.listenTcp, rt.name === "bun" ? "undefined" : "function");
  assert.type(rt.dialTcp, rt.name === "bun" ? "undefined" : "function");
});
offered.run();

// -------------------------------------------------------------------------------------------------------------
// The framing alone: every split of a stream gives the same messages.

const framing = suite("Plain-TCP framing");

function capture(owned: boolean) {
  const messages: string[] = [];
  let closed: [number, string] | null = null;
  let ends = 0;
  const written: Uint8Array[] = [];
  const f = new FramedStream(
    "test",
    { write: (b) => written.push(b), end: () => ends++, bufferedAmount: () => 0 },
    100,
  );
  f.socket.setHandlers({ message: (m) => messages.push(text(m)), close: (code, reason) => (closed = [code, reason]) });
  return { f, messages, closed: () => closed, ends: () => ends, written, owned };
}

framing("every split point of a stream of records yields the same messages and close", () => {
  const stream = Buffer.concat([
    messageRecord(bytes("alpha")),
    messageRecord(new Uint8Array(0)),
    messageRecord(bytes("b".repeat(90))),
    closeRecord(4001, "bye"),
    messageRecord(bytes("after the close")),
  ]);
  for (let cut = 0; cut <= stream.length; cut++) {
    for (const owned of [true, false]) {
      const c = capture(owned);
      const a = new Uint8Array(stream.subarray(0, cut));
      const b = new Uint8Array(stream.subarray(cut));
      c.f.data(a, owned);
      if (!owned) a.fill(0xee); // a reused read buffer is overwritten by the next read
      c.f.data(b, owned);
      assert.equal(c.messages, ["alpha", "", "b".repeat(90)], `cut ${cut}`);
      assert.equal(c.closed(), [4001, "bye"], `cut ${cut}`);
      assert.is(c.ends(), 1);
    }
  }
});

framing("a stream fed one byte at a time", () => {
  const c = capture(false);
  const stream = Buffer.concat([messageRecord(bytes("one")), messageRecord(bytes("two"))]);
  for (const byte of stream) c.f.data(Uint8Array.of(byte), false);
  assert.equal(c.messages, ["one", "two"]);
  assert.is(c.closed(), null);
});

framing("an oversized header closes with 1009 on the wire as 4009, without waiting for the body", () => {
  const c = capture(true);
  c.f.data(Uint8Array.of(0, 0, 0, 101), true);
  assert.equal(c.closed()?.[0], 4009);
  assert.is(new DataView(c.written[0]!.buffer).getUint16(4), 4009);
  c.f.data(messageRecord(bytes("late")), true);
  assert.equal(c.messages, []);
});

framing("the stream ending without a close record is 1006", () => {
  const c = capture(true);
  c.f.data(messageRecord(bytes("one")).subarray(0, 5), true);
  c.f.ended("reset");
  assert.equal(c.closed(), [1006, "reset"]);
  assert.equal(c.messages, []);
});

framing("sending writes the length first, one buffer per message; closing writes the close record, then ends", () => {
  const c = capture(true);
  c.f.socket.send(bytes("hi"));
  c.f.socket.close(1000, "done");
  assert.equal([...c.written[0]!], [0, 0, 0, 2, 104, 105]);
  assert.equal([...c.written[1]!.subarray(0, 8)], [0xff, 0xff, 0xff, 0xff, 0x03, 0xe8, 0, 4]);
  assert.is(c.ends(), 1);
});

framing.run();
