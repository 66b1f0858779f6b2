/**
 * WebSockets on the web-standard `WebSocket` class: Bun's client, and Deno's server side (which hands out the
 * same class). Node, and Deno's dialing end, use `ws` instead (see _ws_client.ts).
 */
import { MeshkvError } from "../errors.ts";
import { BufferedSocket, toBytes } from "./_socket.ts";
import { systemClock } from "./_system_clock.ts";
import type { DialOptions, PeerSocket } from "./types.ts";

export function wrapWebSocket(ws: WebSocket, remote: string, maxMessageBytes: number): BufferedSocket {
  ws.binaryType = "arraybuffer";
  const socket = new BufferedSocket(
    remote,
    {
      send: (data) => ws.send(data as Uint8Array<ArrayBuffer>),
      close: (code, reason) => ws.close(code, reason),
      bufferedAmount: () => ws.bufferedAmount,
    },
    maxMessageBytes,
  );
  ws.addEventListener("message", (e) => socket._message(toBytes(e.data)));
  ws.addEventListener("close", (e) => socket._closed(e.code, e.reason));
  return socket;
}

/**
 * Dials with the standard client (Bun's dialer). `init` is a runtime-specific second constructor argument (Bun
 * accepts `{ tls: { ca } }`). Deno dials through `ws` instead: its standard client leaves Nagle's algorithm on
 * (see _ws_client.ts); bench/mesh.ts `--dialers web` still dials Deno with this one, for comparison.
 */
export function dialWeb(url: string, options: DialOptions, init?: object): Promise<PeerSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = init === undefined
        ? new WebSocket(url)
        : new (WebSocket as unknown as new (u: string, i: object) => WebSocket)(url, init);
    } catch (err) {
      reject(new MeshkvError("CONNECT_FAILED", `Cannot connect: ${url}`, { cause: err, details: { url } }));
      return;
    }
    ws.binaryType = "arraybuffer";
    let settled = false;
    const timer = systemClock.setTimeout(() => fail(new Error("Timed out")), options.timeoutMs);
    const fail = (cause: unknown) => {
      if (settled) return;
      settled = true;
      systemClock.clearTimeout(timer);
      try {
        ws.close();
      } catch {
        // Closing a socket that never opened can throw; it is gone either way.
      }
      reject(new MeshkvError("CONNECT_FAILED", `Cannot connect: ${url}`, { cause, details: { url } }));
    };
    ws.addEventListener("error", (e) => fail(e), { once: true });
    ws.addEventListener("close", (e) => fail(new Error(`Closed with ${e.code}`)), { once: true });
    ws.addEventListener(
      "open",
      () => {
        if (settled) return;
        settled = true;
        systemClock.clearTimeout(timer);
        resolve(wrapWebSocket(ws, new URL(url).host, options.maxMessageBytes));
      },
      { once: true },
    );
  });
}
