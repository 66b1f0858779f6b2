/**
 * TLS on each real runtime: a server given a certificate answers HTTPS and accepts `wss://` on the same port,
 * a dialer that trusts the CA exchanges messages, one that does not is refused. The memory runtime refuses TLS.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createMemoryRuntime } from "../../src/runtime/memory.ts";
import type { PeerSocket, RunningServer } from "../../src/runtime/types.ts";
import { bytes, eventually, realRuntime, rejectsWith, text } from "../_helpers.ts";
import { httpsGet, tlsFixture } from "./_tls.ts";

const rt = await realRuntime();
const tls = await tlsFixture(rt);
const MAX = 64 * 1024;

const s = suite<{ server: RunningServer }>(`TLS: ${rt.name}`);

s.before.each(async (ctx) => {
  ctx.server = await rt.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: tls.cert, key: tls.key },
    fetch: (req) => new Response(`secure ${new URL(req.url).pathname}`),
    websocket: {
      path: "/mesh",
      maxMessageBytes: MAX,
      onOpen(socket: PeerSocket) {
        socket.setHandlers({ message: (m) => socket.isOpen && socket.send(bytes(`echo:${text(m)}`)), close: () => {} });
      },
    },
  });
});
s.after.each(async (ctx) => {
  await ctx.server.close();
});

s("a server with a certificate answers HTTPS", async (ctx) => {
  for (const host of ["127.0.0.1", "localhost"]) {
    const res = await httpsGet(rt, `https://${host}:${ctx.server.port}/health`, tls.ca);
    assert.is(res.status, 200);
    assert.is(res.body, "secure /health");
  }
});

s("a wss:// dial that trusts the CA exchanges messages both ways", async (ctx) => {
  const c = await rt.dial(`wss://127.0.0.1:${ctx.server.port}/mesh`, {
    maxMessageBytes: MAX,
    timeoutMs: 3000,
    ca: tls.ca,
  });
  const got: string[] = [];
  c.setHandlers({ message: (m) => got.push(text(m)), close: () => {} });
  for (let i = 0; i < 5; i++) c.send(bytes(`m${i}`));
  await eventually(() => got.length === 5, 3000, 5, "5 echoes");
  assert.equal(got, ["echo:m0", "echo:m1", "echo:m2", "echo:m3", "echo:m4"]);
  c.close();
});

if (rt.name === "deno") {
  s.skip(
    "(skipped on Deno: DENO_CERT trusts the test CA process-wide) a wss:// dial that does not trust the CA fails",
    () => {},
  );
} else {
  s("a wss:// dial that does not trust the CA fails with CONNECT_FAILED", async (ctx) => {
    await rejectsWith(
      () => rt.dial(`wss://127.0.0.1:${ctx.server.port}/mesh`, { maxMessageBytes: MAX, timeoutMs: 3000 }),
      "CONNECT_FAILED",
    );
  });
}

s("a plain ws:// dial to a TLS port fails with CONNECT_FAILED", async (ctx) => {
  await rejectsWith(
    () => rt.dial(`ws://127.0.0.1:${ctx.server.port}/mesh`, { maxMessageBytes: MAX, timeoutMs: 3000 }),
    "CONNECT_FAILED",
  );
});

s.run();

const m = suite("TLS: memory");
m("the memory runtime refuses to serve TLS with UNSUPPORTED", async () => {
  const mem = createMemoryRuntime({ clock: rt.clock });
  await rejectsWith(
    () =>
      mem.serve({
        hostname: "127.0.0.1",
        port: 0,
        tls: { cert: tls.cert, key: tls.key },
        fetch: () => new Response(""),
      }),
    "UNSUPPORTED",
  );
});
m.run();
