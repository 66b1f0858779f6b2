/**
 * WebSockets through the `ws` package, shared by the Node adapter (both ends: Node 20 has no WebSocket server
 * and no stable client global) and the Deno adapter (its dialing end). `ws` dials over `node:net`/`node:tls`
 * and sets TCP_NODELAY on the socket, which Deno's own `new WebSocket` does not: Deno's client writes a message
 * over 1024 bytes as two writes with Nagle's algorithm on, and each such message waits ~40 ms for the peer's
 * delayed ACK (see docs/mesh.md, "Deno's WebSocket client and Nagle"). `ws` also takes a CA per connection.
 */
import process from "node:process";
import { WebSocket } from "ws";
import { MeshkvError } from "../errors.ts";
import { BufferedSocket, toBytes } from "./_socket.ts";
import type { DialOptions, PeerSocket } from "./types.ts";

export function wrapWs(ws: WebSocket, remote: string, maxMessageBytes: number): BufferedSocket {
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

export function dialWs(url: string, options: DialOptions): Promise<PeerSocket> {
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
