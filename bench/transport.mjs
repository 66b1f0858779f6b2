/**
 * What a message costs on each runtime's node-to-node transport: WebSocket as meshkv's mesh uses it today, against
 * a plain TCP stream with a 4-byte length prefix per message (the proposal in docs/mesh.md). A client process sends
 * `--messages` messages of `--bytes` bytes with `--inflight` in flight to an echo server in a second process on
 * loopback; the CPU of each process (`process.cpuUsage()`) is divided by the messages, so each figure is what one
 * side pays to send one message and receive one.
 *
 * WebSocket as meshkv has it: Node through `ws` on both ends; Deno serving with `Deno.upgradeWebSocket` and dialing
 * through `ws` (its own client waits on Nagle's algorithm, docs/mesh.md); Bun with `Bun.serve` and its own client.
 * TCP: `node:net`, `Deno.listen`/`Deno.connect`, `Bun.listen`/`Bun.connect`, with TCP_NODELAY.
 *
 *   node bench/transport.mjs [ws|tcp] [--messages 60000] [--bytes 1200] [--inflight 32]
 *   node_modules/.bin/deno run -A bench/transport.mjs …       node_modules/.bin/bun bench/transport.mjs …
 */
import { spawn } from "node:child_process";
import net from "node:net";
import process from "node:process";
import { WebSocket as WsClient, WebSocketServer } from "ws";

const runtime = globalThis.Deno ? "deno" : globalThis.Bun ? "bun" : "node";
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(name);
  return i < 0 ? fallback : Number(argv[i + 1]);
};
const MESSAGES = opt("--messages", 60_000);
const BYTES = opt("--bytes", 1200);
const INFLIGHT = opt("--inflight", 32);
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

/** Splits a byte stream into length-prefixed messages. */
function reassembler(onMessage) {
  let buf = new Uint8Array(0);
  return (chunk) => {
    if (buf.length === 0) buf = chunk;
    else {
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf);
      joined.set(chunk, buf.length);
      buf = joined;
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let at = 0;
    while (buf.length - at >= 4) {
      const length = view.getUint32(at);
      if (buf.length - at - 4 < length) break;
      onMessage(buf.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    buf = at === buf.length ? new Uint8Array(0) : buf.slice(at);
  };
}

/** Starts the echo server on a free port; resolves with the port once it listens. */
async function serve(mode) {
  const port = 0;
  if (mode === "ws") {
    if (runtime === "deno") {
      return Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, (req) => {
        const { socket, response } = Deno.upgradeWebSocket(req);
        socket.binaryType = "arraybuffer";
        socket.onmessage = (e) => socket.send(e.data);
        return response;
      }).addr.port;
    } else if (runtime === "bun") {
      return Bun.serve({
        port,
        hostname: "127.0.0.1",
        fetch: (req, s) => void s.upgrade(req),
        websocket: { message: (ws, m) => ws.send(m) },
      }).port;
    } else {
      const wss = new WebSocketServer({ port, host: "127.0.0.1", perMessageDeflate: false });
      wss.on("connection", (s) => s.on("message", (d) => s.send(d)));
      await new Promise((resolve) => wss.once("listening", resolve));
      return wss.address().port;
    }
  } else if (runtime === "deno") {
    const listener = Deno.listen({ port, hostname: "127.0.0.1" });
    (async () => {
      for await (const conn of listener) {
        conn.setNoDelay(true);
        (async () => {
          const buf = new Uint8Array(65536);
          for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) await conn.write(buf.subarray(0, n));
        })().catch(() => {});
      }
    })();
    return listener.addr.port;
  } else if (runtime === "bun") {
    return Bun.listen({ hostname: "127.0.0.1", port, socket: { data: (s, d) => void s.write(d) } }).port;
  }
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on("data", (d) => s.write(d));
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server.address().port;
}

/** Connects and returns `send(bytes)`; `onMessage` gets every echoed message. */
async function connect(mode, port, onMessage) {
  if (mode === "ws") {
    const ws = runtime === "bun"
      ? new WebSocket(`ws://127.0.0.1:${port}/`)
      : new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    ws.binaryType = "arraybuffer";
    ws.onmessage = () => onMessage();
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return (bytes) => ws.send(bytes);
  }
  const onData = reassembler(onMessage);
  if (runtime === "deno") {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    (async () => {
      const buf = new Uint8Array(65536);
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) onData(buf.slice(0, n));
    })().catch(() => {});
    return (bytes) => void conn.write(bytes);
  }
  if (runtime === "bun") {
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, d) => onData(d) } });
    return (bytes) => void s.write(bytes);
  }
  const s = net.connect(port, "127.0.0.1");
  s.setNoDelay(true);
  s.on("data", (d) => onData(d));
  await new Promise((resolve, reject) => s.once("connect", resolve).once("error", reject));
  return (bytes) => void s.write(bytes);
}

const [mode = "ws", role] = argv.filter((a, i) => !a.startsWith("--") && !argv[i - 1]?.startsWith("--"));
if (mode !== "ws" && mode !== "tcp") throw new Error(`mode must be ws or tcp, not ${mode}`);
if (role === "server") {
  console.log(`port ${await serve(mode)}`); // the client waits for this line
  const before = cpuUs();
  process.on("SIGTERM", () => {
    console.log(`server cpu ${cpuUs() - before}`);
    process.exit(0);
  });
  setInterval(() => {}, 1 << 30);
} else {
  const self = new URL(import.meta.url).pathname;
  const command = runtime === "deno" ? ["run", "-A", self] : [self];
  const server = spawn(process.execPath, [...command, mode, "server"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const port = await new Promise((resolve) =>
    server.stdout.on("data", (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    })
  );
  const payload = new Uint8Array(BYTES + 4).fill(7);
  new DataView(payload.buffer).setUint32(0, BYTES);
  const message = mode === "ws" ? payload.subarray(4) : payload;
  let sent = 0, got = 0, send = null;
  const started = performance.now(), before = cpuUs();
  await new Promise((resolve) => {
    connect(mode, port, () => {
      if (++got === MESSAGES) resolve();
      else if (sent < MESSAGES) sent++, send(message);
    }).then((s) => {
      send = s;
      for (; sent < INFLIGHT; sent++) send(message);
    });
  });
  const seconds = (performance.now() - started) / 1000, client = cpuUs() - before;
  server.kill("SIGTERM");
  await new Promise((r) => server.on("exit", r));
  const serverUs = Number(/server cpu (\d+)/.exec(out)?.[1]);
  console.log(
    `${runtime} ${mode}: ${Math.round(MESSAGES / seconds)} messages/s, CPU per message: client ${
      (client / MESSAGES).toFixed(1)
    } µs, server ${(serverUs / MESSAGES).toFixed(1)} µs`,
  );
  process.exit(0);
}
