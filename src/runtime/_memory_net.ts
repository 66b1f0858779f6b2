/**
 * In-memory sockets and a loopback "network" of listeners, so the transport conformance suite and unit tests
 * can run without ports. Messages are delivered asynchronously (as a microtask), like a real socket, and
 * never reordered. The cluster simulation wraps these with delay, loss and partitions.
 */
import { MeshkvError } from "../errors.ts";
import { BufferedSocket } from "./_socket.ts";
import type { DialOptions, PeerSocket, RunningServer, ServeOptions } from "./types.ts";

/** Two connected sockets: what one sends the other receives. */
export function socketPair(
  names: [string, string] = ["memory:a", "memory:b"],
  maxMessageBytes = 16 * 1024 * 1024,
): [PeerSocket, PeerSocket] {
  let a: BufferedSocket | null = null;
  let b: BufferedSocket | null = null;
  const driver = (peer: () => BufferedSocket | null) => ({
    send(data: Uint8Array) {
      const copy = data.slice();
      queueMicrotask(() => peer()?._message(copy));
    },
    close(code: number, reason: string) {
      queueMicrotask(() => peer()?._closed(code, reason));
    },
    bufferedAmount: () => 0,
  });
  a = new BufferedSocket(names[1], driver(() => b), maxMessageBytes);
  b = new BufferedSocket(names[0], driver(() => a), maxMessageBytes);
  return [a, b];
}

interface Listener {
  options: ServeOptions;
  sockets: Set<PeerSocket>;
}

export class MemoryNetwork {
  #listeners = new Map<string, Listener>();
  #nextPort = 40000;
  #nextClient = 50000;

  serve(options: ServeOptions): Promise<RunningServer> {
    if (options.tls) {
      return Promise.reject(new MeshkvError("UNSUPPORTED", "The memory runtime does not serve TLS"));
    }
    const port = options.port === 0 ? this.#nextPort++ : options.port;
    const key = `${options.hostname}:${port}`;
    if (this.#listeners.has(key)) {
      return Promise.reject(new MeshkvError("ADDRESS_IN_USE", `Address in use: ${key}`, { details: { port } }));
    }
    const listener: Listener = { options, sockets: new Set() };
    this.#listeners.set(key, listener);
    const listeners = this.#listeners;
    return Promise.resolve({
      hostname: options.hostname,
      port,
      close() {
        listeners.delete(key);
        for (const s of listener.sockets) s.close(1001, "Server closing");
        return Promise.resolve();
      },
    });
  }

  /** Sends an HTTP request to an in-memory server. */
  async fetch(url: string, init?: RequestInit): Promise<Response> {
    const u = new URL(url);
    const l = this.#listeners.get(`${u.hostname}:${u.port}`);
    if (!l) throw new MeshkvError("CONNECT_FAILED", `Connection refused: ${u.host}`);
    return await l.options.fetch(new Request(url, init));
  }

  dial(url: string, options: DialOptions): Promise<PeerSocket> {
    const u = new URL(url);
    const l = this.#listeners.get(`${u.hostname}:${u.port}`);
    if (!l || !l.options.websocket || l.options.websocket.path !== u.pathname) {
      return Promise.reject(new MeshkvError("CONNECT_FAILED", `Connection refused: ${url}`, { details: { url } }));
    }
    const ws = l.options.websocket;
    const clientName = `memory:${this.#nextClient++}`;
    const [client, server] = socketPair(
      [clientName, `${u.hostname}:${u.port}`],
      Math.min(options.maxMessageBytes, ws.maxMessageBytes),
    );
    l.sockets.add(server);
    queueMicrotask(() => ws.onOpen(server));
    return Promise.resolve(client);
  }
}
