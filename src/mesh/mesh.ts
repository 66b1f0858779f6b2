/**
 * The mesh: every authenticated link this node has, one per peer, and the API the cluster layer uses to talk
 * to peers by node id (`request`, `send`, `onRequest`, `onMessage`).
 *
 * Links open on demand (the first message to a peer dials it) and by accepting on the server's `/mesh` path.
 * When both ends dial at once, both links may finish the handshake; the tie-break keeps the connection
 * dialed by the lower node id on both ends, so they agree without talking, and the loser retires (answers
 * what is in flight, then closes). A dropped link is redialed by the lower id with jittered exponential
 * backoff; failed dials gate further on-demand dials for the backoff time, so a dead peer costs one attempt
 * per backoff window, not one per message.
 *
 * A link dialed as a WebSocket moves to the peer's plain-TCP port when the peer announces one (`plain_tcp.ts`).
 */
import { isMeshkvError, MeshkvError } from "../errors.ts";
import type {
  Clock,
  PeerSocket,
  Random,
  Runtime,
  TcpListenOptions,
  TimerHandle,
  WebSocketOptions,
} from "../runtime/types.ts";
import { type Authenticator, webCryptoAuthenticator } from "./auth.ts";
import { CLOSE, handshake, type LocalIdentity } from "./handshake.ts";
import type { MessageKind, Role } from "./kinds.ts";
import { type Logger, PeerLink } from "./link.ts";
import { hostOf, PlainTcp } from "./plain_tcp.ts";
import { delayedSocket, regionDelayMs, type RegionDelays } from "./regions.ts";
import type { LinkEvent, LinkStatus, MeshOptions, MessageHandler, RequestHandler, Sender } from "./mesh_api.ts";
import { backoffMs, type MeshSettings, meshSettings } from "./settings.ts";

export type { LinkEvent, LinkStatus, MeshOptions, MessageHandler, RequestHandler, Sender } from "./mesh_api.ts";

interface Peer {
  id: string;
  address: string | undefined;
  datacenter: string | undefined;
  link: PeerLink | undefined;
  dialing: Promise<PeerLink> | undefined;
  failures: number;
  nextAttemptAt: number;
  reconnect: TimerHandle | undefined;
  reconnects: number;
}

/** Dial failures a requester gets as they are; any other (a broken handshake) becomes CONNECT_FAILED. */
const DIAL_ERRORS_AS_IS: ReadonlySet<string> = new Set(["CONNECT_FAILED", "CONNECTION_CLOSED", "TIMEOUT", "CLOSED"]);

export class Mesh {
  readonly nodeId: string;
  readonly settings: MeshSettings;
  #self: LocalIdentity;
  #auth: Authenticator;
  #clock: Clock;
  #dial: Runtime["dial"];
  #tcp: PlainTcp;
  #random: Random;
  #tls: boolean;
  #ca: string | undefined;
  #delays: RegionDelays;
  #log: Logger;
  #peers = new Map<string, Peer>();
  #byAddress = new Map<string, Promise<PeerLink>>();
  #requestHandlers = new Map<MessageKind, RequestHandler>();
  #messageHandlers = new Map<MessageKind, MessageHandler>();
  #linkListeners = new Set<(e: LinkEvent) => void>();
  #handshaking = new Set<PeerSocket>();
  #all = new Set<PeerLink>();
  #closed = false;

  constructor(o: MeshOptions) {
    if (!o.auth && !o.secret) throw new TypeError("Mesh needs a cluster secret or an authenticator");
    this.nodeId = o.nodeId;
    this.settings = meshSettings(o.settings);
    this.#self = { nodeId: o.nodeId, cluster: o.cluster, address: o.address ?? "", datacenter: o.datacenter };
    this.#auth = o.auth ?? webCryptoAuthenticator(o.secret!);
    this.#clock = o.runtime.clock;
    this.#dial = o.runtime.dial;
    this.#random = o.random;
    this.#tls = o.tls ?? false;
    this.#ca = o.ca;
    this.#delays = o.regionDelays ?? {};
    this.#log = o.log ?? (() => {});
    // Plain TCP carries no TLS: a TLS cluster keeps its mesh on wss://.
    this.#tcp = new PlainTcp(o.tls ? undefined : o.runtime.dialTcp, this.#clock, this.settings.backoffMaxMs, this.#log);
  }

  get address(): string {
    return this.#self.address;
  }

  setSelfAddress(address: string): void {
    this.#self = { ...this.#self, address };
  }

  /**
   * The options for `runtime.listenTcp` (without host and port). Once listening, `setTcpPort` announces the port.
   */
  tcpListener(): Pick<TcpListenOptions, "maxMessageBytes" | "onOpen"> {
    return { maxMessageBytes: this.settings.frameBytesMax, onOpen: (s) => this.accept(s, "tcp") };
  }

  /** The plain-TCP port this node announces, if it listens on one. */
  get tcpPort(): number | undefined {
    return this.#tcp.port;
  }

  /** The plain-TCP port this node listens on, announced to every link opened from now on. */
  setTcpPort(port: number): void {
    this.#tcp.port = port;
  }

  /** The `websocket` option for `runtime.serve`, so the mesh shares the HTTP port. */
  websocket(): WebSocketOptions {
    return { path: this.settings.path, maxMessageBytes: this.settings.frameBytesMax, onOpen: (s) => this.accept(s) };
  }

  /** Registers the handler for requests of `kind`; returns a function that removes it. */
  onRequest(kind: MessageKind, handler: RequestHandler): () => void {
    if (this.#requestHandlers.has(kind)) throw new TypeError(`A request handler for ${kind} is already registered`);
    this.#requestHandlers.set(kind, handler);
    return () => this.#requestHandlers.delete(kind);
  }

  /** Registers the handler for one-way messages of `kind`; returns a function that removes it. */
  onMessage(kind: MessageKind, handler: MessageHandler): () => void {
    if (this.#messageHandlers.has(kind)) throw new TypeError(`A message handler for ${kind} is already registered`);
    this.#messageHandlers.set(kind, handler);
    return () => this.#messageHandlers.delete(kind);
  }

  /** Observes links opening and closing. */
  onLink(listener: (e: LinkEvent) => void): () => void {
    this.#linkListeners.add(listener);
    return () => this.#linkListeners.delete(listener);
  }

  /** Tells the mesh where a peer listens (from gossip). */
  setAddress(peerId: string, address: string): void {
    const p = this.#peer(peerId);
    if (p.address !== address) {
      p.address = address;
      p.failures = 0;
      p.nextAttemptAt = 0;
    }
  }

  /** Closes the link to a peer and forgets it (a member that left). */
  forget(peerId: string): void {
    const p = this.#peers.get(peerId);
    if (!p) return;
    this.#peers.delete(peerId);
    this.#tcp.forget(peerId);
    if (p.reconnect) this.#clock.clearTimeout(p.reconnect);
    p.link?.close(CLOSE.normal, "Forgotten");
  }

  /** Sends a request to `peerId` and resolves with its reply. Rejects with the peer's error code, `TIMEOUT`, `CONNECT_FAILED`, `CONNECTION_CLOSED` or `OVERLOADED`. */
  request(peerId: string, kind: MessageKind, body: unknown, options?: { timeoutMs?: number }): Promise<unknown> {
    const timeoutMs = options?.timeoutMs ?? this.settings.requestTimeoutMs;
    // An open link takes the request in this turn, with no promise hop before it is queued.
    const open = this.#openLink(peerId);
    if (open) return open.request(kind, body, timeoutMs);
    return this.#linkTo(peerId).then((link) => link.request(kind, body, timeoutMs));
  }

  /** Sends a one-way message, dialing first when needed. Resolves once the frame is queued on the link. */
  send(peerId: string, kind: MessageKind, body: unknown): Promise<void> {
    const open = this.#openLink(peerId);
    if (!open) return this.#linkTo(peerId).then((link) => link.send(kind, body));
    try {
      open.send(kind, body);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Dials an address whose node id is not known yet (a seed); resolves with the peer's id. */
  async connect(address: string): Promise<string> {
    let pending = this.#byAddress.get(address);
    if (!pending) {
      pending = this.#open(address, undefined).finally(() => this.#byAddress.delete(address));
      this.#byAddress.set(address, pending);
    }
    return (await pending).peer.nodeId;
  }

  /** True when an open link to the peer exists. */
  isConnected(peerId: string): boolean {
    return this.#peers.get(peerId)?.link?.isOpen ?? false;
  }

  links(): LinkStatus[] {
    return [...this.#all].map((l) => ({
      peer: l.peer.nodeId,
      address: l.peer.address,
      datacenter: l.peer.datacenter,
      role: l.role,
      open: l.isOpen,
      inFlight: l.inFlight,
      queuedBytes: l.queuedBytes,
      framesIn: l.framesIn,
      framesOut: l.framesOut,
      socketMessagesIn: l.socketMessagesIn,
      socketMessagesOut: l.socketMessagesOut,
      batching: l.batching,
      transport: this.#tcp.isTcp(l) ? "tcp" as const : "websocket" as const,
    })).sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
  }

  /** Accepts an inbound connection (the server's or the plain-TCP listener's `onOpen`). */
  accept(socket: PeerSocket, transport: "websocket" | "tcp" = "websocket"): void {
    if (this.#closed) return socket.close(CLOSE.goingAway, "Node shutting down");
    if (this.#handshaking.size >= this.settings.handshakesMax) {
      this.#log(
        "warn",
        `Refusing mesh connection from ${socket.remote}: over handshakesMax ${this.settings.handshakesMax}`,
      );
      return socket.close(CLOSE.tryLater, "Too many handshakes");
    }
    this.#handshaking.add(socket);
    this.#handshake(socket, "accept", transport === "tcp").then(
      (link) => {
        this.#register(link);
      },
      (err: Error) =>
        this.#log("warn", `Mesh connection from ${socket.remote} closed: ${err.message}`, {
          code: (err as MeshkvError).code,
        }),
    ).finally(() => this.#handshaking.delete(socket));
  }

  /** Closes every link and stops reconnecting. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#peers.values()) if (p.reconnect) this.#clock.clearTimeout(p.reconnect);
    for (const s of this.#handshaking) s.close(CLOSE.goingAway, "Node shutting down");
    for (const l of [...this.#all]) l.close(CLOSE.goingAway, "Node shutting down");
  }

  #peer(id: string): Peer {
    let p = this.#peers.get(id);
    if (!p) {
      p = {
        id,
        address: undefined,
        datacenter: undefined,
        link: undefined,
        dialing: undefined,
        failures: 0,
        nextAttemptAt: 0,
        reconnect: undefined,
        reconnects: 0,
      };
      this.#peers.set(id, p);
    }
    return p;
  }

  /** The peer's usable link, if it has one now. */
  #openLink(peerId: string): PeerLink | undefined {
    if (this.#closed) return undefined;
    const link = this.#peers.get(peerId)?.link;
    return link?.isOpen && !link.retiring ? link : undefined;
  }

  #linkTo(peerId: string): Promise<PeerLink> {
    if (this.#closed) return Promise.reject(new MeshkvError("CLOSED", "Mesh is closed"));
    if (peerId === this.nodeId) return Promise.reject(new RangeError("A node cannot send mesh messages to itself"));
    const p = this.#peer(peerId);
    if (p.link?.isOpen && !p.link.retiring) return Promise.resolve(p.link);
    if (p.dialing) return p.dialing;
    if (!p.address) {
      return Promise.reject(
        new MeshkvError("CONNECT_FAILED", `No address known for peer ${peerId}`, { details: { peer: peerId } }),
      );
    }
    const wait = p.nextAttemptAt - this.#clock.monotonic();
    if (wait > 0) {
      return Promise.reject(
        new MeshkvError("CONNECT_FAILED", `Peer ${peerId} unreachable: next attempt in ${Math.ceil(wait)} ms`, {
          details: { peer: peerId },
        }),
      );
    }
    p.dialing = this.#open(p.address, peerId).then(
      (link) => {
        p.dialing = undefined;
        return link;
      },
      (err) => {
        p.dialing = undefined;
        p.failures++;
        p.nextAttemptAt = this.#clock.monotonic() + backoffMs(this.settings, p.failures, this.#random.next());
        // To whoever sent a request, a handshake the peer broke (a refused proof, an out-of-order frame) is a
        // peer it could not reach, like a refused dial: availability, not a fault of the request.
        if (isMeshkvError(err) && !DIAL_ERRORS_AS_IS.has(err.code)) {
          throw new MeshkvError("CONNECT_FAILED", `Could not connect to peer ${peerId}: ${err.message}`, {
            cause: err,
            details: { peer: peerId, code: err.code },
          });
        }
        throw err;
      },
    );
    return p.dialing;
  }

  async #open(address: string, expectedId: string | undefined): Promise<PeerLink> {
    const port = expectedId === undefined ? undefined : this.#tcp.portOf(expectedId);
    if (port !== undefined) {
      const started = this.#clock.monotonic();
      try {
        return await this.#openTcp(address, port, expectedId!);
      } catch (err) {
        this.#tcp.failed(expectedId!, err);
        if (this.#clock.monotonic() - started >= this.settings.connectTimeoutMs) throw err;
      }
    }
    const url = `${this.#tls ? "wss" : "ws"}://${address}${this.settings.path}`;
    const socket = await this.#dial(url, {
      maxMessageBytes: this.settings.frameBytesMax,
      timeoutMs: this.settings.connectTimeoutMs,
      ...(this.#ca === undefined ? {} : { ca: this.#ca }),
    });
    if (this.#closed) {
      socket.close(CLOSE.goingAway, "Node shutting down");
      throw new MeshkvError("CLOSED", "Mesh is closed");
    }
    return this.#dialed(await this.#handshake(socket, "dial", false), address, expectedId);
  }

  /** Dials the peer's plain-TCP port on the host of `address`. */
  async #openTcp(address: string, port: number, expectedId: string): Promise<PeerLink> {
    const socket = await this.#tcp.dial!(hostOf(address), port, {
      maxMessageBytes: this.settings.frameBytesMax,
      timeoutMs: this.settings.connectTimeoutMs,
    });
    if (this.#closed) {
      socket.close(CLOSE.goingAway, "Node shutting down");
      throw new MeshkvError("CLOSED", "Mesh is closed");
    }
    return this.#dialed(await this.#handshake(socket, "dial", true), address, expectedId);
  }

  #dialed(link: PeerLink, address: string, expectedId: string | undefined): PeerLink {
    if (expectedId !== undefined && link.peer.nodeId !== expectedId) {
      link.close(CLOSE.policy, "Unexpected node id");
      throw new MeshkvError("CONNECT_FAILED", `Address ${address} is node ${link.peer.nodeId}, not ${expectedId}`, {
        details: { address },
      });
    }
    return this.#register(link);
  }

  async #handshake(socket: PeerSocket, role: Role, tcp: boolean): Promise<PeerLink> {
    const { peer, early } = await handshake({
      socket,
      role,
      self: this.#self,
      auth: this.#auth,
      clock: this.#clock,
      random: this.#random,
      timeoutMs: this.settings.handshakeTimeoutMs,
    });
    const delay = regionDelayMs(this.#delays, this.#self.datacenter, peer.datacenter);
    const wrapped = delayedSocket(socket, this.#clock, delay);
    const from: Sender = Object.freeze({ nodeId: peer.nodeId, datacenter: peer.datacenter }); // one per link, not per message
    const callbacks = {
      request: (_: PeerLink, kind: MessageKind, body: unknown) => this.#handleRequest(from, kind, body),
      oneway: (_: PeerLink, kind: MessageKind, body: unknown) => this.#messageHandlers.get(kind)?.(body, from),
      closed: (l: PeerLink, code: number, reason: string) => this.#onClosed(l, code, reason),
      features: (l: PeerLink, f: Record<string, unknown>) => this.#onFeatures(l, f),
    };
    const announce = this.#tcp.announcement();
    const link = new PeerLink(wrapped, peer, role, this.#clock, this.settings, callbacks, this.#log, early, announce);
    if (tcp) this.#tcp.mark(link);
    this.#all.add(link);
    if (!link.isOpen) throw new MeshkvError("CONNECTION_CLOSED", `Link to ${peer.nodeId} closed during setup`);
    return link;
  }

  #handleRequest(from: Sender, kind: MessageKind, body: unknown): unknown {
    const h = this.#requestHandlers.get(kind);
    if (!h) throw new MeshkvError("UNSUPPORTED", `No handler for ${kind} requests on ${this.nodeId}`);
    return h(body, from);
  }

  /** Makes `link` the peer's link unless an existing one wins the tie-break; returns the one to use. */
  #register(link: PeerLink): PeerLink {
    if (this.#closed) {
      link.close(CLOSE.goingAway, "Node shutting down");
      throw new MeshkvError("CLOSED", "Mesh is closed");
    }
    const p = this.#peer(link.peer.nodeId);
    if (link.peer.address) p.address = link.peer.address;
    p.datacenter = link.peer.datacenter;
    p.failures = 0;
    p.nextAttemptAt = 0;
    p.reconnects = 0;
    if (p.reconnect) {
      this.#clock.clearTimeout(p.reconnect);
      p.reconnect = undefined;
    }
    const existing = p.link;
    if (existing === link) return link;
    if (existing?.isOpen && !existing.retiring) {
      // Both ends apply the same rule: keep the connection the lower id dialed; between two of the same
      // direction, the newer one (the older is likely half-dead).
      const preferred: Role = this.nodeId < p.id ? "dial" : "accept";
      if (link.role !== preferred && existing.role === preferred) {
        link.retire();
        return existing;
      }
      existing.retire();
    }
    const wasUp = existing?.isOpen ?? false;
    p.link = link;
    if (!wasUp) this.#emit({ type: "up", peer: p.id });
    this.#moveToTcp(link);
    return link;
  }

  #onClosed(link: PeerLink, code: number, reason: string): void {
    this.#all.delete(link);
    const p = this.#peers.get(link.peer.nodeId);
    if (!p || p.link !== link) return;
    p.link = undefined;
    this.#emit({ type: "down", peer: p.id });
    if (this.#closed || code === CLOSE.duplicate) return;
    this.#log("info", `Mesh link to ${p.id} closed (${code}${reason ? ` ${reason}` : ""})`);
    if (this.nodeId < p.id) this.#scheduleReconnect(p);
  }

  #scheduleReconnect(p: Peer): void {
    if (p.reconnect || p.reconnects >= this.settings.reconnectAttemptsMax || this.#peers.get(p.id) !== p) return;
    p.reconnects++;
    const delay = backoffMs(this.settings, p.reconnects, this.#random.next());
    p.reconnect = this.#clock.setTimeout(() => {
      p.reconnect = undefined;
      if (this.#closed || p.link?.isOpen) return;
      p.nextAttemptAt = 0;
      this.#linkTo(p.id).catch(() => this.#scheduleReconnect(p));
    }, delay);
  }

  /** A peer's `linkFeatures`: the port of its plain-TCP listener, if it has one. */
  #onFeatures(link: PeerLink, features: Record<string, unknown>): void {
    // The announcement can arrive with the handshake, before the link is registered; `#register` calls again.
    if (this.#tcp.announced(link, features) && this.#peers.get(link.peer.nodeId)?.link === link) {
      this.#moveToTcp(link);
    }
  }

  /** A WebSocket link this end dialed moves to the port its peer announced, if any. */
  #moveToTcp(link: PeerLink): void {
    const p = this.#peers.get(link.peer.nodeId);
    if (this.#closed || !p?.address) return;
    const port = this.#tcp.moveTarget(link);
    if (port === undefined) return;
    this.#openTcp(p.address, port, p.id).then(
      () => this.#log("debug", `Mesh link to ${p.id} moved to plain TCP port ${port}`),
      (err) => this.#tcp.failed(p.id, err),
    ).finally(() => this.#tcp.moved(p.id));
  }

  #emit(e: LinkEvent): void {
    for (const l of this.#linkListeners) l(e);
  }
}
