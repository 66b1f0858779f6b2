/**
 * The Node adapter: files on `node:fs/promises`, HTTP through `@hono/node-server`, WebSockets through `ws`
 * (Node 20 has no WebSocket server and no stable client global). Upgrades on the mesh path are taken from the
 * HTTP server's `upgrade` event, so the client API and the mesh share one port, as on Deno and Bun.
 *
 * The hot routes go around `@hono/node-server` when the handler offers a direct path (`FetchHandler.hot`;
 * `meshkv start` offers it unless MESHKV_HTTP=hono, see src/http/app.ts `fetchHandler`). Without TLS their
 * plainest requests do not reach `node:http` at all: `_node_http1.ts` reads them off the socket and hands every
 * other connection to the `node:http` server (MESHKV_HTTP=node-http turns that off). A hot request that does
 * reach `node:http` is handed over as a `PlainRequest` from its `IncomingMessage` and answered with one
 * `writeHead` + `end`. bench/http.ts compares the three.
 */
import { getRequestListener, RequestError } from "@hono/node-server";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Server as NetServer } from "node:net";
import { lookup } from "node:dns/promises";
import process from "node:process";
import { setFlagsFromString } from "node:v8";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { nodeFileSystem, translateNodeError } from "./_node_fs.ts";
import { http1Front } from "./_node_http1.ts";
import { plainRequest, writePlain } from "./_node_plain.ts";
import { dialNodeTcp, listenNodeTcp } from "./_node_tcp.ts";
import { createRandom } from "./_random.ts";
import { systemClock } from "./_system_clock.ts";
import { SERVER_V8_FLAGS } from "./_v8_flags.ts";
import { dialWs, wrapWs } from "./_ws_client.ts";
import type { PlainRequest, PlainResponse, RunningServer, Runtime, ServeOptions } from "./types.ts";

async function serve(options: ServeOptions): Promise<RunningServer> {
  // The raw target is `IncomingMessage.url`, as sent; the Request's URL is parsed from it. A target that
  // @hono/node-server refuses before any Request exists (a backslash in the path) still reaches the app, with
  // a placeholder Request and its raw target, so it gets the same JSON error as other bad paths.
  let current: IncomingMessage | null = null;
  const listener = getRequestListener(
    (req: Request, env: { incoming: { url?: string | undefined } }) =>
      options.fetch(req, { rawTarget: env.incoming.url ?? "" }),
    {
      hostname: options.hostname,
      errorHandler: (err: unknown) => {
        const raw = current?.url;
        if (!(err instanceof RequestError) || raw === undefined) return new Response(null, { status: 400 });
        return options.fetch(new Request("http://invalid/"), { rawTarget: raw });
      },
    },
  );
  const hot = options.fetch.hot;
  const onRequest = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    if (hot !== undefined) {
      const plain = plainOf(incoming, options.tls !== undefined);
      const answer = plain === null ? null : hot(plain);
      if (answer !== null) {
        answer.then(
          (a) => writePlain(outgoing, a),
          () => writePlain(outgoing, { status: 500, headers: {}, body: null }),
        );
        return;
      }
    }
    current = incoming;
    try {
      void listener(incoming, outgoing);
    } finally {
      current = null;
    }
  };
  // With TLS the same handler runs on an https server; its 'upgrade' event carries wss:// upgrades too.
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest)
    : createHttpServer(onRequest);
  // Without TLS the hot routes' plainest requests are read by our own HTTP/1.1 front (_node_http1.ts), which
  // gives every other connection to `server`.
  const front: NetServer = hot === undefined || options.tls || process.env.MESHKV_HTTP === "node-http"
    ? server
    : http1Front(server, hot);
  await new Promise<void>((resolve, reject) => {
    front.once("listening", () => resolve());
    front.once("error", (err) => reject(translateNodeError(err, `${options.hostname}:${options.port}`)));
    front.listen(options.port, options.hostname);
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
  const port = (front.address() as AddressInfo).port;
  return {
    hostname: options.hostname,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        front.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The request as a `PlainRequest`, or null when @hono/node-server would not build its `Request` (see `plainRequest`). */
function plainOf(incoming: IncomingMessage, tls: boolean): PlainRequest | null {
  return plainRequest(
    incoming.method ?? "",
    incoming.url ?? "",
    incoming.headers.host,
    incoming.rawHeaders,
    tls,
    () =>
      new Promise<Uint8Array>((resolve, reject) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (c: Buffer) => chunks.push(c));
        incoming.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
        incoming.once("error", reject);
        incoming.once("close", () => {
          if (!incoming.complete) reject(new Error("Connection closed before the body ended"));
        });
      }),
  );
}

export const nodeRuntime: Runtime = {
  name: "node",
  version: process.versions.node,
  fs: nodeFileSystem,
  clock: systemClock,
  random: createRandom,
  serve,
  dial: dialWs,
  listenTcp: listenNodeTcp,
  dialTcp: dialNodeTcp,
  tuneForServer: () => setFlagsFromString(SERVER_V8_FLAGS),
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
