/**
 * The Bun adapter: HTTP and WebSockets through `Bun.serve` and its `websocket` handler, the standard
 * `WebSocket` client for dialing, and files through Bun's native `node:fs` (the fastest positional file I/O
 * Bun has: `Bun.file`/`Bun.write` cannot write at an offset or fsync).
 */
import { MeshkvError } from "../errors.ts";
import { lookup } from "node:dns/promises";
import { nodeFileSystem } from "./_node_fs.ts";
import { answerDirect } from "./_plain.ts";
import { createRandom } from "./_random.ts";
import { BufferedSocket, toBytes } from "./_socket.ts";
import { systemClock } from "./_system_clock.ts";
import { dialWeb } from "./_web_socket.ts";
import type { RunningServer, Runtime, ServeOptions } from "./types.ts";

interface BunServerWebSocket {
  data: { remote: string; socket?: BufferedSocket };
  send(data: Uint8Array): number;
  close(code?: number, reason?: string): void;
  getBufferedAmount(): number;
}
interface BunServer {
  port: number;
  upgrade(req: Request, o: { data: { remote: string } }): boolean;
  requestIP(req: Request): { address: string; port: number } | null;
  stop(closeActive?: boolean): Promise<void> | void;
}
interface BunApi {
  version: string;
  argv: string[];
  env: Record<string, string | undefined>;
  serve(o: {
    hostname: string;
    port: number;
    tls?: { cert: string; key: string };
    fetch(req: Request, server: BunServer): Response | Promise<Response> | undefined;
    routes?: Record<
      string,
      (req: Request & { params: Record<string, string> }, server: BunServer) => Response | Promise<Response> | undefined
    >;
    websocket: {
      maxPayloadLength: number;
      open(ws: BunServerWebSocket): void;
      message(ws: BunServerWebSocket, msg: string | Uint8Array): void;
      close(ws: BunServerWebSocket, code: number, reason: string): void;
    };
  }): BunServer;
}
interface ProcessLike {
  argv: string[];
  on(sig: string, fn: () => void): void;
  off(sig: string, fn: () => void): void;
  exit(code: number): never;
  memoryUsage: { rss(): number };
  cpuUsage(): { user: number; system: number };
  pid: number;
  kill(pid: number, signal: number): void;
}

const B = (globalThis as unknown as { Bun: BunApi }).Bun;
const P = (globalThis as unknown as { process: ProcessLike }).process;

/** Raw path depths served as routes (`/:s0` ... `/:s0/.../:s31`); deeper raw paths are refused by the app. */
export const RAW_SEGMENTS_MAX = 32;

type Handler = (req: Request, srv: BunServer, rawTarget: string | null) => Response | Promise<Response> | undefined;

/** One route per raw depth, each rebuilding the raw target from Bun's `params` (percent-encoded again). */
function rawRoutes(handle: Handler): NonNullable<Parameters<BunApi["serve"]>[0]["routes"]> {
  const routes: NonNullable<Parameters<BunApi["serve"]>[0]["routes"]> = {
    "/": (req, srv) => handle(req, srv, `/${queryOf(req.url)}`),
  };
  for (let depth = 1; depth <= RAW_SEGMENTS_MAX; depth++) {
    const names = Array.from({ length: depth }, (_, i) => `s${i}`);
    routes[`/${names.map((n) => `:${n}`).join("/")}`] = (req, srv) => {
      const path = names.map((n) => encodeURIComponent(req.params[n] ?? "")).join("/");
      return handle(req, srv, `/${path}${queryOf(req.url)}`);
    };
  }
  return routes;
}

function queryOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? "" : url.slice(q);
}

async function serve(options: ServeOptions): Promise<RunningServer> {
  const ws = options.websocket;
  const open = new Set<BufferedSocket>();
  let server: BunServer;
  const hot = options.fetch.hot;
  const handle: Handler = (req, srv, rawTarget) => {
    if (ws && req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      if (new URL(req.url).pathname !== ws.path) return new Response("Not Found", { status: 404 });
      const ip = srv.requestIP(req);
      if (srv.upgrade(req, { data: { remote: ip ? `${ip.address}:${ip.port}` : "unknown" } })) return undefined;
      return new Response("Upgrade failed", { status: 400 });
    }
    if (hot !== undefined && rawTarget !== null) {
      const direct = answerDirect(hot, req, rawTarget);
      if (direct !== null) return direct;
    }
    return options.fetch(
      req,
      rawTarget === null
        ? {
          rawTarget: null,
          rawTargetUnverifiable: `deeper than ${RAW_SEGMENTS_MAX} segments or with an empty segment`,
        }
        : { rawTarget },
    );
  };
  try {
    server = B.serve({
      hostname: options.hostname,
      port: options.port,
      ...(options.tls ? { tls: { cert: options.tls.cert, key: options.tls.key } } : {}),
      // Bun.serve resolves dot segments (also `%2e`) and backslashes in `Request.url` before any handler runs and
      // keeps no raw copy of the target; but its router matches `routes` on the raw path, segment by segment (and
      // hands the segments over percent-decoded as `params`). So every depth up to `RAW_SEGMENTS_MAX` is a route,
      // and the raw target is rebuilt from its segments (re-encoded) for the app's raw-path check. A request no
      // route matched has a raw path deeper than that, or with an empty segment: it cannot be checked, and the app
      // refuses it (`rawTargetUnverifiable`). Measured on Bun 1.4.5.
      routes: rawRoutes((req, srv, rawTarget) => handle(req, srv, rawTarget)),
      fetch(req, srv) {
        return handle(req, srv, null);
      },
      websocket: {
        // Bun closes over-long messages itself; leave one byte of headroom so our own check reports it.
        maxPayloadLength: (ws?.maxMessageBytes ?? 1024) + 1,
        open(sws) {
          const socket = new BufferedSocket(
            sws.data.remote,
            {
              send: (data) => void sws.send(data),
              close: (code, reason) => sws.close(code, reason),
              bufferedAmount: () => sws.getBufferedAmount(),
            },
            ws?.maxMessageBytes ?? 1024,
          );
          sws.data.socket = socket;
          open.add(socket);
          ws?.onOpen(socket);
        },
        message(sws, msg) {
          sws.data.socket?._message(toBytes(msg));
        },
        close(sws, code, reason) {
          const s = sws.data.socket;
          if (s) {
            open.delete(s);
            s._closed(code, reason);
          }
        },
      },
    });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const code = e.code === "EADDRINUSE" || /in use/i.test(e.message ?? "") ? "ADDRESS_IN_USE" : "IO_ERROR";
    throw new MeshkvError(code, `Cannot listen on ${options.hostname}:${options.port}: ${e.message ?? ""}`, {
      cause: err,
    });
  }
  return {
    hostname: options.hostname,
    port: server.port,
    async close() {
      for (const s of open) s.close(1001, "Server closing");
      await server.stop(true);
    },
  };
}

export const bunRuntime: Runtime = {
  name: "bun",
  version: B?.version ?? "unknown",
  fs: nodeFileSystem,
  clock: systemClock,
  random: createRandom,
  serve,
  // Bun's WebSocket takes a second argument with TLS options, so a private CA can be trusted per connection.
  dial: (url, o) => dialWeb(url, o, o.ca === undefined ? undefined : { tls: { ca: o.ca } }),
  // No listenTcp/dialTcp: Bun's WebSocket is native code, and the plain-TCP mesh cost more CPU per operation on
  // Bun than it (docs/mesh.md, "Plain TCP between nodes"), so Bun nodes keep their mesh on the WebSocket.
  args: () => P.argv.slice(2),
  env: (name) => B.env[name],
  onSignal(signal, fn) {
    P.on(signal, fn);
    return () => P.off(signal, fn);
  },
  exit: (code) => P.exit(code),
  memoryRss: () => P.memoryUsage.rss(),
  resolveHost: async (host) => (await lookup(host, { all: true })).map((a) => a.address),
  cpuSeconds: () => {
    const u = P.cpuUsage();
    return (u.user + u.system) / 1e6;
  },
  pid: P?.pid ?? 0,
  processAlive,
};

/** Signal 0 checks that `pid` exists without signalling it; EPERM means it exists but is not ours. */
function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new RangeError(`Invalid process id: ${pid}`);
  try {
    P.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}
