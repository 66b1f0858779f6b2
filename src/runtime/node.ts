/**
 * The Node adapter: files on `node:fs/promises`, HTTP through `@hono/node-server`, WebSockets through `ws`
 * (Node 20 has no WebSocket server and no stable client global). Upgrades on the mesh path are taken from the
 * HTTP server's `upgrade` event, so the client API and the mesh share one port, as on Deno and Bun.
 */
import { getRequestListener, RequestError } from "@hono/node-server";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { lookup } from "node:dns/promises";
import process from "node:process";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { MeshkvError } from "../errors.ts";
import { translateNodeError, nodeFileSystem } from "./_node_fs.ts";
import { createRandom } from "./_random.ts";
import { BufferedSocket, toBytes } from "./_socket.ts";
import { systemClock } from "./_system_clock.ts";
import type { DialOptions, PeerSocket, Runtime, RunningServer, ServeOptions } from "./types.ts";

function wrapWs(ws: WebSocket, remote: string, maxMessageBytes: number): BufferedSocket {
  // Messages sent in one tick leave in one writev: the TCP socket under `ws` is corked at the first send of a
  // tick and uncorked on the next tick (a socket write is a system call, the largest single cost of a mesh
  // message on Node). `_socket` is ws's underlying net.Socket; without it (or before it exists) sends go as they are.
  let corked = false;
  const tcp = () => (ws as unknown as { _socket?: { cork(): void; uncork(): void; destroyed?: boolean } })._socket;
  const uncork = () => {
    corked = false;
    const t = tcp();
    if (t && !t.destroyed) t.uncork();
  };
  const socket = new BufferedSocket(
    remote,
    {
      send: (data) => {
        if (!corked && ws.readyState === WebSocket.OPEN) {
          const t = tcp();
          if (t) {
            t.cork();
            corked = true;
            process.nextTick(uncork);
          }
        }
        ws.send(data, { binary: true });
      },
      close: (code, reason) => ws.close(code, reason),
      bufferedAmount: () => ws.bufferedAmount,
    },
    maxMessageBytes,
  );
  ws.on("message", (data) => socket._message(toBytes(data)));
  ws.on("close", (code, reason) => socket._closed(code, reason.toString()));
  // Errors are followed by close; the close carries the outcome, so nothing more to do here.
  ws.on("error", () => {});
  return socket;
}

async function serve(options: ServeOptions): Promise<RunningServer> {
  // The raw target is `IncomingMessage.url`, as sent; the Request's URL is parsed from it. A target that
  // @hono/node-server refuses before any Request exists (a backslash in the path) still reaches the app, with
  // a placeholder Request and its raw target, so it gets the same JSON error as other bad paths.
  let current: IncomingMessage | null = null;
  const listener = getRequestListener(
    (req: Request, env: { incoming: { url?: string | undefined } }) => options.fetch(req, { rawTarget: env.incoming.url ?? "" }),
    {
      hostname: options.hostname,
      errorHandler: (err: unknown) => {
        const raw = current?.url;
        if (!(err instanceof RequestError) || raw === undefined) return new Response(null, { status: 400 });
        return options.fetch(new Request("http://invalid/"), { rawTarget: raw });
      },
    },
  );
  const onRequest = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    current = incoming;
    try {
      void listener(incoming, outgoing);
    } finally {
      current = null;
    }
  };
  const server = await new Promise<Server>((resolve, reject) => {
    // With TLS the same handler runs on an https server; its 'upgrade' event carries wss:// upgrades too.
    const s = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) : createHttpServer(onRequest);
    s.once("listening", () => resolve(s));
    s.once("error", (err) => reject(translateNodeError(err, `${options.hostname}:${options.port}`)));
    s.listen(options.port, options.hostname);
  });
  const ws = options.websocket;
  const wss = new WebSocketServer({ noServer: true, maxPayload: ws?.maxMessageBytes ?? 0 });
  server.on("upgrade", (req: IncomingMessage, sock: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (!ws || path !== ws.path) {
      sock.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, sock, head, (client) => {
      const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
      ws.onOpen(wrapWs(client, remote, ws.maxMessageBytes));
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    hostname: options.hostname,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function dial(url: string, options: DialOptions): Promise<PeerSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      maxPayload: options.maxMessageBytes,
      handshakeTimeout: options.timeoutMs,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
    const fail = (err: unknown) => {
      ws.removeAllListeners();
      ws.on("error", () => {});
      ws.terminate();
      reject(new MeshkvError("CONNECT_FAILED", `Cannot connect: ${url}`, { cause: err, details: { url } }));
    };
    ws.once("error", fail);
    ws.once("unexpected-response", (_req, res) => fail(new Error(`HTTP ${res.statusCode}`)));
    ws.once("open", () => {
      ws.off("error", fail);
      const u = new URL(url);
      resolve(wrapWs(ws, u.host, options.maxMessageBytes));
    });
  });
}

export const nodeRuntime: Runtime = {
  name: "node",
  version: process.versions.node,
  fs: nodeFileSystem,
  clock: systemClock,
  random: createRandom,
  serve,
  dial,
  args: () => process.argv.slice(2),
  env: (name) => process.env[name],
  onSignal(signal, fn) {
    process.on(signal, fn);
    return () => process.off(signal, fn);
  },
  exit: (code) => process.exit(code),
  memoryRss: () => process.memoryUsage.rss(),
  resolveHost: async (host) => (await lookup(host, { all: true })).map((a) => a.address),
  cpuSeconds: () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  },
  pid: process.pid,
  processAlive,
};

/** Signal 0 checks that `pid` exists without signalling it; EPERM means it exists but is not ours. */
function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new RangeError(`Invalid process id: ${pid}`);
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}
