/**
 * The mesh's plain-TCP transport on `Bun.listen`/`Bun.connect` (the Bun adapter's `listenTcp`/`dialTcp`); the
 * framing is `_framed.ts`. Bun hands every read its own buffer, so messages stay views into it. A write the kernel
 * takes only part of keeps the rest here until the socket drains.
 */
import { MeshkvError } from "../errors.ts";
import { concat, FramedStream } from "./_framed.ts";
import { systemClock } from "./_system_clock.ts";
import type { DialOptions, PeerSocket, TcpListener, TcpListenOptions } from "./types.ts";

interface BunTcpSocket {
  data: Conn | undefined;
  readonly remoteAddress: string;
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  setNoDelay(on?: boolean): boolean;
}
interface BunSocketHandler {
  open(s: BunTcpSocket): void;
  data(s: BunTcpSocket, data: Uint8Array): void;
  drain(s: BunTcpSocket): void;
  close(s: BunTcpSocket): void;
  error(s: BunTcpSocket, err: Error): void;
  connectError?(s: BunTcpSocket, err: Error): void;
}
interface BunNet {
  listen(o: { hostname: string; port: number; socket: BunSocketHandler }): { port: number; stop(all?: boolean): void };
  connect(o: { hostname: string; port: number; socket: BunSocketHandler }): Promise<BunTcpSocket>;
}

const B = (globalThis as unknown as { Bun: BunNet }).Bun;
/** How long an ending connection waits for the peer's end before it is dropped. */
const END_WAIT_MS = 2000;

/** One connection's state, kept in the Bun socket's `data`. */
class Conn {
  readonly framed: FramedStream;
  #s: BunTcpSocket;
  /** What the kernel has not taken yet, in order. */
  #rest: Uint8Array[] = [];
  #restBytes = 0;
  #ending = false;
  #ended = false;

  constructor(s: BunTcpSocket, remote: string, maxMessageBytes: number) {
    this.#s = s;
    s.setNoDelay(true);
    this.framed = new FramedStream(remote, {
      write: (bytes) => {
        if (this.#ending) return;
        if (this.#restBytes > 0) this.#keep(bytes);
        else this.#writeNow(bytes);
      },
      end: () => {
        if (this.#ending) return;
        this.#ending = true;
        if (this.#restBytes === 0) this.#end();
      },
      bufferedAmount: () => this.#restBytes,
    }, maxMessageBytes);
  }

  drain(): void {
    if (this.#restBytes === 0) return;
    const pending = concat(this.#rest, this.#restBytes);
    this.#rest = [];
    this.#restBytes = 0;
    this.#writeNow(pending);
    if (this.#ending && this.#restBytes === 0) this.#end();
  }

  #writeNow(bytes: Uint8Array): void {
    const n = this.#s.write(bytes);
    if (n < 0) return; // closed: the close handler ends the stream
    if (n < bytes.length) this.#keep(bytes.subarray(n));
  }

  #keep(bytes: Uint8Array): void {
    this.#rest.push(bytes);
    this.#restBytes += bytes.length;
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#s.end();
    systemClock.setTimeout(() => this.#s.terminate(), END_WAIT_MS);
  }
}

function handler(
  maxMessageBytes: number,
  opened: (c: Conn) => void,
  closed: (c: Conn) => void,
  remote?: string,
): BunSocketHandler {
  return {
    open(s) {
      const c = new Conn(s, remote ?? s.remoteAddress, maxMessageBytes);
      s.data = c;
      opened(c);
    },
    data: (s, data) => s.data?.framed.data(data, true),
    drain: (s) => s.data?.drain(),
    close(s) {
      if (!s.data) return;
      s.data.framed.ended();
      closed(s.data);
    },
    error() {}, // close follows
  };
}

export function listenBunTcp(
  o: TcpListenOptions,
  translate: (err: unknown, where: string) => Error,
): Promise<TcpListener> {
  const open = new Set<Conn>();
  let listener: { port: number; stop(all?: boolean): void };
  try {
    listener = B.listen({
      hostname: o.hostname,
      port: o.port,
      socket: handler(o.maxMessageBytes, (c) => {
        open.add(c);
        o.onOpen(c.framed.socket);
      }, (c) => open.delete(c)),
    });
  } catch (err) {
    return Promise.reject(translate(err, `${o.hostname}:${o.port}`));
  }
  return Promise.resolve({
    port: listener.port,
    close() {
      listener.stop(false);
      for (const c of open) c.framed.socket.close(1001, "Server closing");
      return Promise.resolve();
    },
  });
}

export async function dialBunTcp(host: string, port: number, options: DialOptions): Promise<PeerSocket> {
  let conn: Conn | undefined;
  let abandoned = false;
  const opened = (c: Conn) => {
    conn = c;
    if (abandoned) c.framed.socket.close(1001, "Dial timed out");
  };
  let timer;
  try {
    await Promise.race([
      B.connect({
        hostname: host,
        port,
        socket: { ...handler(options.maxMessageBytes, opened, () => {}, `${host}:${port}`), connectError() {} },
      }),
      new Promise<never>((_, reject) => {
        timer = systemClock.setTimeout(() => reject(new Error("Timed out")), options.timeoutMs);
      }),
    ]);
  } catch (cause) {
    abandoned = true;
    throw new MeshkvError("CONNECT_FAILED", `Cannot connect: ${host}:${port}`, { cause, details: { host, port } });
  } finally {
    if (timer !== undefined) systemClock.clearTimeout(timer);
  }
  return conn!.framed.socket;
}
