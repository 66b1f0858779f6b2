/**
 * The Node adapter: files on `node:fs/promises`, HTTP through `@hono/node-server`, WebSockets through `ws`
 * (Node 20 has no WebSocket server and no stable client global). Upgrades on the mesh path are taken from the
 * HTTP server's `upgrade` event, so the client API and the mesh share one port, as on Deno and Bun.
 */
import { getRequestListener, RequestError } from "@hono/node-server";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import process from "node:process";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { translateNodeError, nodeFileSystem } from "./_node_fs.ts";
import { createRandom } from "./_random.ts";
import { systemClock } from "./_system_clock.ts";
import { dialWs, wrapWs } from "./_ws_client.ts";
import type { Runtime, RunningServer, ServeOptions } from "./types.ts";

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

export const nodeRuntime: Runtime = {
  name: "node",
  version: process.versions.node,
  fs: nodeFileSystem,
  clock: systemClock,
  random: createRandom,
  serve,
  dial: dialWs,
  args: () => process.argv.slice(2),
  env: (name) => process.env[name],
  onSignal(signal, fn) {
    process.on(signal, fn);
    return () => process.off(signal, fn);
  },
  exit: (code) => process.exit(code),
  memoryRss: () => process.memoryUsage.rss(),
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
