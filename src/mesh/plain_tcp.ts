/**
 * What the mesh knows about plain TCP (docs/mesh.md, "Plain TCP between nodes"): this node's own mesh port, the
 * port each peer announced, which links are carried by TCP, and which ports failed.
 *
 * A node that listens for mesh traffic on a plain-TCP port too (`Mesh.setTcpPort`, the runtime's `listenTcp`)
 * announces the port in its `linkFeatures` message. The end that dialed a WebSocket link to it then dials that
 * port and runs the same handshake there; the new link replaces the WebSocket one through the mesh's usual
 * tie-break (same direction, newer wins: the old link answers what is in flight, then closes, see
 * `PeerLink.retire`). Later dials to the peer go straight to the port; one that is refused or whose handshake
 * fails falls back to the WebSocket at once (one that times out does not: the peer is likely unreachable, and the
 * caller has waited long enough), and that port is not tried again for `backoffMaxMs` (a port the peer announces
 * anew, after a restart, is). A node without the port (an older version, a runtime without `listenTcp`, TLS)
 * stays on WebSockets, so mixed clusters keep working. The frames are the same on both; only the framing differs.
 */
import type { Clock, Runtime } from "../runtime/types.ts";
import type { Logger, PeerLink } from "./link.ts";

interface PeerPorts {
  /** The port to dial: announced, and not failed since. */
  port: number | undefined;
  /** A port that failed, and the `clock.monotonic()` before which it is not tried again. */
  failedPort: number | undefined;
  retryAt: number;
  /** A move to `port` is under way. */
  moving: boolean;
}

export class PlainTcp {
  /** The runtime's `dialTcp`; undefined where links never move (no plain TCP in this runtime, or TLS). */
  readonly dial: Runtime["dialTcp"];
  /** This node's own plain-TCP port, announced on every link opened from now on. */
  port: number | undefined;
  #clock: Clock;
  #retryMs: number;
  #log: Logger;
  #links = new WeakSet<PeerLink>();
  /** The port each link's peer announced on it. */
  #announced = new WeakMap<PeerLink, number>();
  #peers = new Map<string, PeerPorts>();

  constructor(dial: Runtime["dialTcp"], clock: Clock, retryMs: number, log: Logger) {
    this.dial = dial;
    this.#clock = clock;
    this.#retryMs = retryMs;
    this.#log = log;
  }

  /** What this node adds to its `linkFeatures`. */
  announcement(): Record<string, unknown> {
    return this.port === undefined ? {} : { tcp: this.port };
  }

  /** Notes that `link` is carried by plain TCP. */
  mark(link: PeerLink): void {
    this.#links.add(link);
  }

  isTcp(link: PeerLink): boolean {
    return this.#links.has(link);
  }

  /** Records the port a peer announced in its `linkFeatures` on `link`; false when it announced none. */
  announced(link: PeerLink, features: Record<string, unknown>): boolean {
    const port = features.tcp;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) return false;
    this.#announced.set(link, port);
    return true;
  }

  /**
   * The port to move `link` to now, or undefined: only a WebSocket link this end dialed moves, to a port its
   * peer announced on it, one move per peer at a time, and not to a port that failed less than `retryMs` ago.
   * The caller dials it and reports `moved`, then `failed` when it did not work.
   */
  moveTarget(link: PeerLink): number | undefined {
    const port = this.#announced.get(link);
    if (port === undefined || !this.dial || link.role !== "dial" || link.retiring || this.#links.has(link)) return;
    const p = this.#state(link.peer.nodeId);
    if (p.moving || (port === p.failedPort && this.#clock.monotonic() < p.retryAt)) return;
    p.port = port;
    p.moving = true;
    return port;
  }

  /** A move ended, whichever way. */
  moved(peerId: string): void {
    this.#state(peerId).moving = false;
  }

  /** The peer's port to dial first, if it has one that worked. */
  portOf(peerId: string): number | undefined {
    return this.dial ? this.#peers.get(peerId)?.port : undefined;
  }

  /** The peer's port did not work: links stay on WebSockets, and that port waits `retryMs`. */
  failed(peerId: string, err: unknown): void {
    const p = this.#state(peerId);
    this.#log("info", `Mesh link to ${peerId} stays on WebSocket: plain TCP port ${p.port} failed`, {
      error: (err as Error).message,
    });
    p.failedPort = p.port;
    p.port = undefined;
    p.retryAt = this.#clock.monotonic() + this.#retryMs;
  }

  forget(peerId: string): void {
    this.#peers.delete(peerId);
  }

  #state(peerId: string): PeerPorts {
    let p = this.#peers.get(peerId);
    if (!p) this.#peers.set(peerId, p = { port: undefined, failedPort: undefined, retryAt: 0, moving: false });
    return p;
  }
}

/** The host of a `host:port` address, without the brackets of an IPv6 literal. */
export function hostOf(address: string): string {
  const host = address.slice(0, address.lastIndexOf(":"));
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
