/**
 * The mesh's plain-TCP transport on `node:net` (the Node adapter's `listenTcp`/`dialTcp`); the framing is
 * `_framed.ts`. Writes made in one tick leave in one `writev` (the socket is corked at the first and uncorked on
 * the next tick), with TCP_NODELAY set so nothing waits on Nagle's algorithm.
 */
import net from "node:net";
import process from "node:process";
import { MeshkvError } from "../errors.ts";
import { FramedStream } from "./_framed.ts";
import { translateNodeError } from "./_node_fs.ts";
import { systemClock } from "./_system_clock.ts";
import type { DialOptions, PeerSocket, TcpListener, TcpListenOptions, TimerHandle } from "./types.ts";

/** How long an ending connection waits for the peer's end before it is dropped. */
export const END_WAIT_MS = 2000;

export function listenNodeTcp(o: TcpListenOptions): Promise<TcpListener> {
  const open = new Set<FramedStream>();
  const server = net.createServer((s) => {
    const framed = wrapNetSocket(s, `${s.remoteAddress}:${s.remotePort}`, o.maxMessageBytes);
    open.add(framed);
    s.once("close", () => open.delete(framed));
    o.onOpen(framed.socket);
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(translateNodeError(err, `${o.hostname}:${o.port}`)));
    server.listen(o.port, o.hostname, () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const f of open) f.socket.close(1001, "Server closing");
          }),
      });
    });
  });
}

export function dialNodeTcp(host: string, port: number, options: DialOptions): Promise<PeerSocket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const fail = (cause: unknown) => {
      systemClock.clearTimeout(timer);
      s.destroy();
      reject(
        new MeshkvError("CONNECT_FAILED", `Cannot connect: ${host}:${port}`, { cause, details: { host, port } }),
      );
    };
    const timer = systemClock.setTimeout(() => fail(new Error("Timed out")), options.timeoutMs);
    s.once("error", fail);
    s.once("connect", () => {
      systemClock.clearTimeout(timer);
      s.off("error", fail);
      resolve(wrapNetSocket(s, `${host}:${port}`, options.maxMessageBytes).socket);
    });
  });
}

function wrapNetSocket(s: net.Socket, remote: string, maxMessageBytes: number): FramedStream {
  s.setNoDelay(true);
  let corked = false;
  let endTimer: TimerHandle | undefined;
  const uncork = () => {
    corked = false;
    if (!s.destroyed) s.uncork();
  };
  const framed = new FramedStream(remote, {
    write(bytes) {
      if (s.destroyed || s.writableEnded) return;
      if (!corked) {
        s.cork();
        corked = true;
        process.nextTick(uncork);
      }
      s.write(bytes);
    },
    end() {
      if (s.destroyed || s.writableEnded) return;
      s.end();
      endTimer = systemClock.setTimeout(() => s.destroy(), END_WAIT_MS);
    },
    bufferedAmount: () => s.writableLength,
  }, maxMessageBytes);
  // Node hands every read its own buffer, so messages may stay views into it.
  s.on("data", (chunk: Buffer) => framed.data(chunk, true));
  s.on("close", () => {
    if (endTimer !== undefined) systemClock.clearTimeout(endTimer);
    framed.ended();
  });
  s.on("error", () => {}); // 'close' follows and carries the outcome
  return framed;
}
