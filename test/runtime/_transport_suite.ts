/**
 * The transport conformance suite (convention 4): a server that serves HTTP and accepts WebSocket upgrades on
 * one port, and a dialer for outgoing connections. Run against every adapter.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { PeerSocket, RunningServer, Runtime } from "../../src/runtime/types.ts";
import { bytes, eventually, rejectsWith, text } from "../_helpers.ts";

interface Ctx {
  rt: Runtime;
  server: RunningServer;
  accepted: PeerSocket[];
  received: string[];
  fetchUrl(path: string): Promise<Response>;
}

const MAX = 64 * 1024;

export function transportSuite(name: string, makeRuntime: () => Runtime, fetchFor: (rt: Runtime) => typeof fetch) {
  const s = suite<Ctx>(`Transport conformance: ${name}`);

  s.before.each(async (ctx) => {
    ctx.rt = makeRuntime();
    ctx.accepted = [];
    ctx.received = [];
    ctx.server = await ctx.rt.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => new Response(`hello ${new URL(req.url).pathname}`),
      websocket: {
        path: "/mesh",
        maxMessageBytes: MAX,
        onOpen(socket) {
          ctx.accepted.push(socket);
          // Echo every message back, prefixed, so both directions are exercised.
          socket.setHandlers({
            message: (m) => {
              ctx.received.push(text(m));
              const out = new Uint8Array(m.length + 5);
              out.set(bytes("echo:"), 0);
              out.set(m, 5);
              if (socket.isOpen) socket.send(out);
            },
            close: () => {},
          });
        },
      },
    });
    const f = fetchFor(ctx.rt);
    ctx.fetchUrl = (path) => f(`http://127.0.0.1:${ctx.server.port}${path}`);
  });
  s.after.each(async (ctx) => {
    await ctx.server.close();
  });

  const dial = (ctx: Ctx, path = "/mesh", maxMessageBytes = MAX) =>
    ctx.rt.dial(`ws://127.0.0.1:${ctx.server.port}${path}`, { maxMessageBytes, timeoutMs: 3000 });

  s("the same port answers HTTP requests", async (ctx) => {
    const res = await ctx.fetchUrl("/health");
    assert.is(res.status, 200);
    assert.is(await res.text(), "hello /health");
  });

  s("a dialed socket exchanges binary messages in order both ways", async (ctx) => {
    const c = await dial(ctx);
    const got: string[] = [];
    c.setHandlers({ message: (m) => got.push(text(m)), close: () => {} });
    for (let i = 0; i < 20; i++) c.send(bytes(`m${i}`));
    await eventually(() => got.length === 20, 3000, 5, "20 echoes");
    assert.equal(got, Array.from({ length: 20 }, (_, i) => `echo:m${i}`));
    assert.equal(ctx.received.slice(0, 3), ["m0", "m1", "m2"]);
    c.close();
  });

  s("messages that arrive before handlers are attached are not lost", async (ctx) => {
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

  s("a large binary message arrives intact", async (ctx) => {
    const c = await dial(ctx);
    const big = new Uint8Array(MAX - 100);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    let echoed: Uint8Array | null = null;
    c.setHandlers({ message: (m) => (echoed = m), close: () => {} });
    c.send(big);
    await eventually(() => echoed !== null, 5000, 5, "large echo");
    assert.is(echoed!.length, big.length + 5);
    c.close();
  });

  s("an oversized message closes that connection and the server keeps serving", async (ctx) => {
    const c = await dial(ctx, "/mesh", MAX * 4);
    let closed: number | null = null;
    c.setHandlers({ message: () => {}, close: (code) => (closed = code) });
    c.send(new Uint8Array(MAX + 10));
    await eventually(() => closed !== null, 5000, 5, "close after oversized message");
    assert.ok(!c.isOpen);
    const again = await dial(ctx);
    const got: string[] = [];
    again.setHandlers({ message: (m) => got.push(text(m)), close: () => {} });
    again.send(bytes("still here"));
    await eventually(() => got.length === 1, 3000, 5, "echo after oversized");
    assert.is((await ctx.fetchUrl("/x")).status, 200);
    again.close();
  });

  s(
    "a peer closing is seen by the other side with its code, and sending afterwards is CONNECTION_CLOSED",
    async (ctx) => {
      const c = await dial(ctx);
      await eventually(() => ctx.accepted.length === 1, 3000, 5, "accept");
      let code: number | null = null;
      c.setHandlers({ message: () => {}, close: (cd) => (code = cd) });
      ctx.accepted[0]!.close(4001, "bye");
      await eventually(() => code !== null, 3000, 5, "client sees close");
      assert.is(code, 4001);
      await rejectsWith(() => c.send(bytes("x")), "CONNECTION_CLOSED");
    },
  );

  s(
    "the dialing side may close with a protocol code, which arrives as 4000 + code % 1000, with a long reason cut",
    async (ctx) => {
      const c = await dial(ctx);
      await eventually(() => ctx.accepted.length === 1, 3000, 5, "accept");
      let seen: [number, string] | null = null;
      ctx.accepted[0]!.setHandlers({ message: () => {}, close: (code, reason) => (seen = [code, reason]) });
      c.close(1008, "x".repeat(300));
      await eventually(() => seen !== null, 3000, 5, "server sees close");
      assert.is(seen![0], 4008);
      assert.ok(seen![1].length <= 123 && seen![1].startsWith("xxx"), seen![1]);
    },
  );

  s("a peer closing mid-stream leaves earlier messages delivered and fires close once", async (ctx) => {
    const c = await dial(ctx);
    let closes = 0;
    c.setHandlers({ message: () => {}, close: () => closes++ });
    c.send(bytes("one"));
    c.send(bytes("two"));
    c.close(1000, "done");
    c.close();
    await eventually(() => ctx.received.length === 2, 3000, 5, "two messages");
    assert.equal(ctx.received, ["one", "two"]);
    await new Promise((r) => setTimeout(r, 30));
    assert.is(closes, 1);
  });

  s("dialing a closed port or a wrong path fails with CONNECT_FAILED", async (ctx) => {
    await rejectsWith(() => dial(ctx, "/not-mesh"), "CONNECT_FAILED");
    const port = ctx.server.port;
    await ctx.server.close();
    await rejectsWith(
      () => ctx.rt.dial(`ws://127.0.0.1:${port}/mesh`, { maxMessageBytes: MAX, timeoutMs: 2000 }),
      "CONNECT_FAILED",
    );
    ctx.server = { hostname: "", port: 0, close: async () => {} };
  });

  s("listening on a taken port fails with ADDRESS_IN_USE", async (ctx) => {
    await rejectsWith(
      () => ctx.rt.serve({ hostname: "127.0.0.1", port: ctx.server.port, fetch: () => new Response("") }),
      "ADDRESS_IN_USE",
    );
  });

  return s;
}
