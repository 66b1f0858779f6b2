/**
 * A simulated network for the deterministic cluster simulation: hosts that serve and dial like a real runtime,
 * joined by links with delay, jitter, loss, duplication and partitions (symmetric or one-way), all driven by an
 * injected clock (a `ManualClock` in tests) and a seeded random source, so a run replays exactly from its seed.
 *
 * Each host gets `serve`/`dial` and `listenTcp`/`dialTcp` (the mesh's plain-TCP transport, message-oriented here
 * like the WebSockets) bound to its name (`net.runtime("n1", base)`), so the network knows which link a message
 * crosses. Messages on one connection keep their order (as on TCP: a delayed message delays the ones
 * behind it); loss and duplication act per message, which is harsher than TCP and exercises the protocol's
 * timeouts and idempotence. A partition drops messages and makes dials time out; `crash` drops a host's
 * listeners and connections at once, as `kill -9` does.
 */
import { MeshkvError } from "../errors.ts";
import { BufferedSocket } from "../runtime/memory.ts";
import type {
  Clock,
  DialOptions,
  PeerSocket,
  Random,
  RunningServer,
  Runtime,
  ServeOptions,
  TcpListener,
  TcpListenOptions,
} from "../runtime/types.ts";

export interface LinkConditions {
  /** Base one-way delay. */
  delayMs: number;
  /** Extra delay drawn uniformly from [0, jitterMs). */
  jitterMs: number;
  /** Probability that a message is lost. */
  loss: number;
  /** Probability that a message is delivered twice. */
  duplicate: number;
}

export const LINK_DEFAULTS: LinkConditions = { delayMs: 1, jitterMs: 1, loss: 0, duplicate: 0 };

export interface SimNetStats {
  messages: number;
  bytes: number;
  dropped: number;
  duplicated: number;
}

/**
 * One end of a simulated connection: the runtime's shared `BufferedSocket` (early-message buffering, size
 * limit, close codes exactly as on real sockets) over a driver that hands frames to the simulated network.
 */
class SimSocket extends BufferedSocket {
  readonly local: string;
  peer: SimSocket | null = null;
  queued = 0;
  lastAt = 0;

  constructor(net: SimNetwork, local: string, remote: string, maxMessageBytes: number) {
    const self: { socket: SimSocket | null } = { socket: null };
    super(
      remote,
      {
        send: (data) => net._transmit(self.socket!, data.slice()),
        close: (code, reason) => net._transmitClose(self.socket!, code, reason),
        bufferedAmount: () => self.socket!.queued,
      },
      maxMessageBytes,
    );
    self.socket = this;
    this.local = local;
  }
}

interface Listener {
  host: string;
  /** An HTTP server (with WebSockets on a path), or a plain-TCP listener. */
  options: ServeOptions | null;
  tcp: TcpListenOptions | null;
  sockets: Set<SimSocket>;
}

export class SimNetwork {
  readonly stats: SimNetStats = { messages: 0, bytes: 0, dropped: 0, duplicated: 0 };
  #clock: Clock;
  #random: Random;
  #defaults: LinkConditions;
  #links = new Map<string, Partial<LinkConditions>>();
  #blocked = new Set<string>();
  #listeners = new Map<string, Listener>();
  #sockets = new Map<string, Set<SimSocket>>();
  #nextPort = 7000;
  #nextClient = 50000;

  constructor(o: { clock: Clock; random: Random; defaults?: Partial<LinkConditions> }) {
    this.#clock = o.clock;
    this.#random = o.random;
    this.#defaults = { ...LINK_DEFAULTS, ...o.defaults };
  }

  /** `base` with `serve`, `dial`, `listenTcp` and `dialTcp` bound to host `name`. */
  runtime<R extends Runtime>(name: string, base: R): R {
    return {
      ...base,
      serve: (o: ServeOptions) => this.serve(name, o),
      dial: (url: string, o: DialOptions) => this.dial(name, url, o),
      listenTcp: (o: TcpListenOptions) => this.listenTcp(name, o),
      dialTcp: (host: string, port: number, o: DialOptions) => this.dialTcp(name, host, port, o),
    };
  }

  setDefaults(c: Partial<LinkConditions>): void {
    this.#defaults = { ...this.#defaults, ...c };
  }
  /** Conditions for messages from `from` to `to` (one way); `null` returns the link to the defaults. */
  setLink(from: string, to: string, c: Partial<LinkConditions> | null): void {
    if (c === null) this.#links.delete(`${from}>${to}`);
    else this.#links.set(`${from}>${to}`, { ...this.#links.get(`${from}>${to}`), ...c });
  }
  conditions(from: string, to: string): LinkConditions {
    return { ...this.#defaults, ...this.#links.get(`${from}>${to}`) };
  }
  /** Drops everything from each host in `a` to each host in `b`, and back unless `oneWay`. */
  partition(a: readonly string[], b: readonly string[], options: { oneWay?: boolean } = {}): void {
    for (const x of a) {
      for (const y of b) {
        this.#blocked.add(`${x}>${y}`);
        if (!options.oneWay) this.#blocked.add(`${y}>${x}`);
      }
    }
  }
  heal(): void {
    this.#blocked.clear();
  }
  isBlocked(from: string, to: string): boolean {
    return this.#blocked.has(`${from}>${to}`);
  }

  /** Kills host `name`: its listeners go away and its peers see every connection drop (code 1006). */
  crash(name: string): void {
    for (const [key, l] of this.#listeners) if (l.host === name) this.#listeners.delete(key);
    for (const s of this.#sockets.get(name) ?? []) {
      s._vanish(1006, "Crashed");
      const peer = s.peer;
      if (peer) this.#clock.setTimeout(() => peer._closed(1006, "Connection lost"), this.#delay(name, peer.local));
    }
    this.#sockets.delete(name);
  }

  serve(host: string, options: ServeOptions): Promise<RunningServer> {
    return this.#listen(host, options.port, options, null).then((l) => ({ hostname: host, ...l }));
  }

  listenTcp(host: string, options: TcpListenOptions): Promise<TcpListener> {
    return this.#listen(host, options.port, null, options);
  }

  #listen(host: string, at: number, options: ServeOptions | null, tcp: TcpListenOptions | null): Promise<TcpListener> {
    let port = at;
    while (port === 0 || (at === 0 && this.#listeners.has(`${host}:${port}`))) port = this.#nextPort++;
    const key = `${host}:${port}`;
    if (this.#listeners.has(key)) {
      return Promise.reject(new MeshkvError("ADDRESS_IN_USE", `Address in use: ${key}`, { details: { port } }));
    }
    const listener: Listener = { host, options, tcp, sockets: new Set() };
    this.#listeners.set(key, listener);
    return Promise.resolve({
      port,
      close: () => {
        if (this.#listeners.get(key) === listener) this.#listeners.delete(key);
        for (const s of listener.sockets) s.close(1001, "Server closing");
        return Promise.resolve();
      },
    });
  }

  dial(from: string, url: string, options: DialOptions): Promise<PeerSocket> {
    const u = new URL(url);
    return this.#connect(from, url, u.hostname, Number(u.port), options, (l) => {
      const ws = l.options?.websocket;
      return ws && ws.path === u.pathname ? ws : null;
    });
  }

  dialTcp(from: string, host: string, port: number, options: DialOptions): Promise<PeerSocket> {
    return this.#connect(from, `tcp://${host}:${port}`, host, port, options, (l) => l.tcp);
  }

  /** A connection from host `from` to whatever `accepting` finds at `to:port` (null: refused). */
  #connect(
    from: string,
    url: string,
    to: string,
    port: number,
    options: DialOptions,
    accepting: (l: Listener) => { maxMessageBytes: number; onOpen(s: PeerSocket): void } | null,
  ): Promise<PeerSocket> {
    const l = this.#listeners.get(`${to}:${port}`);
    const refuse = (after: number, why: string) =>
      new Promise<PeerSocket>((_, reject) => {
        this.#clock.setTimeout(
          () => reject(new MeshkvError("CONNECT_FAILED", `Cannot connect: ${url}: ${why}`, { details: { url } })),
          after,
        );
      });
    if (this.isBlocked(from, to) || this.isBlocked(to, from)) return refuse(options.timeoutMs, "timed out");
    const rtt = this.#delay(from, to) + this.#delay(to, from);
    const accept = l ? accepting(l) : null;
    if (!l || !accept) return refuse(rtt, "connection refused");
    const max = Math.min(options.maxMessageBytes, accept.maxMessageBytes);
    const client = new SimSocket(this, from, `${to}:${port}`, max);
    const server = new SimSocket(this, to, `${from}:${this.#nextClient++}`, max);
    client.peer = server;
    server.peer = client;
    this.#track(from, client);
    this.#track(to, server);
    l.sockets.add(server);
    this.#clock.setTimeout(() => {
      if (this.#listeners.get(`${to}:${port}`) === l && server.isOpen) accept.onOpen(server);
    }, this.#delay(from, to));
    return new Promise((resolve) => this.#clock.setTimeout(() => resolve(client), rtt));
  }

  /** Sends an HTTP request to a simulated server (no delay: for admin checks in tests). */
  async fetch(url: string, init?: RequestInit): Promise<Response> {
    const u = new URL(url);
    const l = this.#listeners.get(`${u.hostname}:${u.port}`)?.options;
    if (!l) throw new MeshkvError("CONNECT_FAILED", `Connection refused: ${u.host}`);
    return await l.fetch(new Request(url, init));
  }

  #track(host: string, s: SimSocket): void {
    let set = this.#sockets.get(host);
    if (!set) this.#sockets.set(host, set = new Set());
    set.add(s);
  }

  #delay(from: string, to: string): number {
    const c = this.conditions(from, to);
    return c.delayMs + (c.jitterMs > 0 ? this.#random.next() * c.jitterMs : 0);
  }

  _transmit(src: SimSocket, data: Uint8Array): void {
    const dst = src.peer;
    if (!dst) return;
    this.stats.messages++;
    this.stats.bytes += data.length;
    const c = this.conditions(src.local, dst.local);
    if (this.isBlocked(src.local, dst.local) || (c.loss > 0 && this.#random.next() < c.loss)) {
      this.stats.dropped++;
      return;
    }
    const now = this.#clock.monotonic();
    const at = Math.max(src.lastAt, now + this.#delay(src.local, dst.local));
    src.lastAt = at;
    const copies = c.duplicate > 0 && this.#random.next() < c.duplicate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    src.queued += data.length;
    this.#clock.setTimeout(() => {
      src.queued -= data.length;
      for (let i = 0; i < copies; i++) dst._message(data);
    }, at - now);
  }

  _transmitClose(src: SimSocket, code: number, reason: string): void {
    const dst = src.peer;
    if (!dst) return;
    const now = this.#clock.monotonic();
    const at = Math.max(src.lastAt, now + this.#delay(src.local, dst.local));
    this.#clock.setTimeout(() => {
      dst._closed(code, reason);
      this.#sockets.get(dst.local)?.delete(dst);
    }, at - now);
    this.#sockets.get(src.local)?.delete(src);
  }
}
