/**
 * The mesh's plain-TCP transport on `Deno.listen`/`Deno.connect` (the Deno adapter's `listenTcp`/`dialTcp`);
 * the framing is `_framed.ts`. Each connection reads into one reused buffer (messages are copied out of it) and
 * writes one chunk at a time: what is written while a write is in flight leaves together in the next one.
 */
import { MeshkvError } from "../errors.ts";
import { concat, FramedStream } from "./_framed.ts";
import { systemClock } from "./_system_clock.ts";
import type { DialOptions, PeerSocket, TcpListener, TcpListenOptions } from "./types.ts";

interface DenoTcpConn {
  readonly remoteAddr: { hostname: string; port: number };
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay(on?: boolean): void;
}
interface DenoTcpListener extends AsyncIterable<DenoTcpConn> {
  readonly addr: { port: number };
  close(): void;
}
interface DenoNet {
  listen(o: { hostname: string; port: number; transport: "tcp" }): DenoTcpListener;
  connect(o: { hostname: string; port: number; transport: "tcp" }): Promise<DenoTcpConn>;
}

const D = (globalThis as unknown as { Deno: DenoNet }).Deno;
/** Bytes one read takes at most. */
const READ_BYTES = 64 * 1024;
/** How long an ending connection waits for the peer's end before it is dropped. */
const END_WAIT_MS = 2000;

export function listenDenoTcp(
  o: TcpListenOptions,
  translate: (err: unknown, where: string) => Error,
): Promise<TcpListener> {
  let listener: DenoTcpListener;
  try {
    listener = D.listen({ hostname: o.hostname, port: o.port, transport: "tcp" });
  } catch (err) {
    return Promise.reject(translate(err, `${o.hostname}:${o.port}`));
  }
  const open = new Set<FramedStream>();
  let closing = false;
  (async () => {
    for await (const conn of listener) {
      if (closing) {
        conn.close();
        continue;
      }
      const framed = wrapConn(
        conn,
        `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`,
        o.maxMessageBytes,
        () => open.delete(framed),
      );
      open.add(framed);
      o.onOpen(framed.socket);
    }
  })().catch(() => {}); // the listener was closed
  return Promise.resolve({
    port: listener.addr.port,
    close() {
      closing = true;
      try {
        listener.close();
      } catch {
        // closed already
      }
      for (const f of open) f.socket.close(1001, "Server closing");
      return Promise.resolve();
    },
  });
}

export async function dialDenoTcp(host: string, port: number, options: DialOptions): Promise<PeerSocket> {
  let timer;
  const connecting = D.connect({ hostname: host, port, transport: "tcp" });
  try {
    const conn = await Promise.race([
      connecting,
      new Promise<never>((_, reject) => {
        timer = systemClock.setTimeout(() => reject(new Error("Timed out")), options.timeoutMs);
      }),
    ]);
    return wrapConn(conn, `${host}:${port}`, options.maxMessageBytes, () => {}).socket;
  } catch (cause) {
    connecting.then((c) => c.close(), () => {}); // a connection that opens after the timeout is not kept
    throw new MeshkvError("CONNECT_FAILED", `Cannot connect: ${host}:${port}`, { cause, details: { host, port } });
  } finally {
    if (timer !== undefined) systemClock.clearTimeout(timer);
  }
}

function wrapConn(conn: DenoTcpConn, remote: string, maxMessageBytes: number, gone: () => void): FramedStream {
  conn.setNoDelay(true);
  let queue: Uint8Array[] = [];
  let queued = 0;
  let writing = false;
  let ending = false;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    try {
      conn.close();
    } catch {
      // closed already
    }
    gone();
  };
  const pump = async () => {
    writing = true;
    try {
      while (queue.length > 0) {
        const parts = queue;
        queue = [];
        const chunk = parts.length === 1 ? parts[0]! : concat(parts);
        for (let at = 0; at < chunk.length;) at += await conn.write(at === 0 ? chunk : chunk.subarray(at));
        queued -= chunk.length;
      }
      if (ending) {
        await conn.closeWrite();
        systemClock.setTimeout(release, END_WAIT_MS);
      }
    } catch {
      release();
    } finally {
      writing = false;
    }
  };
  const framed = new FramedStream(remote, {
    write(bytes) {
      if (ending || released) return;
      queue.push(bytes);
      queued += bytes.length;
      if (!writing) void pump();
    },
    end() {
      if (ending || released) return;
      ending = true;
      if (!writing) void pump();
    },
    bufferedAmount: () => queued,
  }, maxMessageBytes);
  (async () => {
    const buf = new Uint8Array(READ_BYTES);
    try {
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) framed.data(buf.subarray(0, n), false);
    } catch {
      // reset or closed under us: ended below
    }
    release();
    framed.ended();
  })();
  return framed;
}
