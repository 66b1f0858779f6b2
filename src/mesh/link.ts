/**
 * One authenticated connection to one peer: request/response with ids and per-request deadlines, one-way
 * messages, and the bounds that keep a slow or hostile peer from growing memory without limit.
 *
 * Outgoing requests are bounded by `inFlightMax`; bytes queued in the socket by `queuedBytesMax`; requests
 * the peer sends us and that are still being handled by `incomingInFlightMax`. Going over a bound is an
 * immediate `OVERLOADED` error (back-pressure the caller can act on), never a growing buffer. A frame that does
 * not decode closes the connection with a logged reason; the node itself carries on.
 */
import { isErrorCode, isMeshkvError, MeshkvError } from "../errors.ts";
import type { Clock, PeerSocket, TimerHandle } from "../runtime/types.ts";
import { decodeFrame, encodeFrame, type Frame } from "./codec.ts";
import { CLOSE, type PeerIdentity } from "./handshake.ts";
import { kindOf, MESSAGE_KINDS, type MessageKind, type Role } from "./kinds.ts";

export interface LinkLimits {
  /** Outgoing requests awaiting a reply on one link. */
  inFlightMax: number;
  /** Bytes queued in the socket, not yet sent, above which sends fail with `OVERLOADED`. */
  queuedBytesMax: number;
  /** Peer requests being handled at once on one link; more are answered `OVERLOADED`. */
  incomingInFlightMax: number;
}

export type Logger = (level: "debug" | "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

export interface LinkCallbacks {
  request(link: PeerLink, kind: MessageKind, body: unknown): unknown;
  oneway(link: PeerLink, kind: MessageKind, body: unknown): void;
  closed(link: PeerLink, code: number, reason: string): void;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: TimerHandle;
}

export class PeerLink {
  readonly peer: PeerIdentity;
  /** Our role on this connection. */
  readonly role: Role;
  #socket: PeerSocket;
  #clock: Clock;
  #limits: LinkLimits;
  #cb: LinkCallbacks;
  #log: Logger;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #incoming = 0;
  #retiring = false;
  #closed = false;
  /** Counters for status and benchmarks. */
  framesIn = 0;
  framesOut = 0;

  constructor(socket: PeerSocket, peer: PeerIdentity, role: Role, clock: Clock, limits: LinkLimits, cb: LinkCallbacks, log: Logger, early: Uint8Array[] = []) {
    this.#socket = socket;
    this.peer = peer;
    this.role = role;
    this.#clock = clock;
    this.#limits = limits;
    this.#cb = cb;
    this.#log = log;
    socket.setHandlers({ message: (m) => this.#onMessage(m), close: (code, reason) => this.#onClose(code, reason) });
    for (const m of early) this.#onMessage(m);
  }

  get isOpen(): boolean {
    return !this.#closed && this.#socket.isOpen;
  }
  /** A retiring link lost a duplicate tie-break: it answers what is in flight, then closes. */
  get retiring(): boolean {
    return this.#retiring;
  }
  get inFlight(): number {
    return this.#pending.size;
  }
  get remote(): string {
    return this.#socket.remote;
  }
  get queuedBytes(): number {
    return this.#socket.bufferedAmount;
  }

  /** Sends a request and resolves with the peer's reply, or rejects with its error, `TIMEOUT` or `CONNECTION_CLOSED`. */
  request(kind: MessageKind, body: unknown, timeoutMs: number): Promise<unknown> {
    if (this.#pending.size >= this.#limits.inFlightMax) {
      return Promise.reject(new MeshkvError("OVERLOADED", `Link to ${this.peer.nodeId} has ${this.#pending.size} requests in flight: over inFlightMax ${this.#limits.inFlightMax}`, { details: { peer: this.peer.nodeId } }));
    }
    const id = this.#nextId++;
    try {
      this.#write({ type: "request", id, kind: MESSAGE_KINDS[kind], body });
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.#pending.delete(id);
        reject(new MeshkvError("TIMEOUT", `Request ${kind} to ${this.peer.nodeId} timed out after ${timeoutMs} ms`, { details: { peer: this.peer.nodeId, kind } }));
        this.#maybeFinishRetiring();
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
    });
  }

  /** Sends a one-way message; throws `OVERLOADED` or `CONNECTION_CLOSED` when it cannot be queued. */
  send(kind: MessageKind, body: unknown): void {
    this.#write({ type: "oneway", kind: MESSAGE_KINDS[kind], body });
  }

  retire(): void {
    this.#retiring = true;
    this.#maybeFinishRetiring();
  }

  close(code: number = CLOSE.normal, reason = ""): void {
    this.#socket.close(code, reason);
    this.#onClose(code, reason);
  }

  #write(frame: Frame): void {
    if (this.#closed || !this.#socket.isOpen) {
      throw new MeshkvError("CONNECTION_CLOSED", `Link to ${this.peer.nodeId} is closed`, { details: { peer: this.peer.nodeId } });
    }
    const bytes = encodeFrame(frame);
    const queued = this.#socket.bufferedAmount;
    if (queued + bytes.length > this.#limits.queuedBytesMax) {
      throw new MeshkvError("OVERLOADED", `Link to ${this.peer.nodeId} has ${queued} bytes queued: over queuedBytesMax ${this.#limits.queuedBytesMax}`, { details: { peer: this.peer.nodeId } });
    }
    this.#socket.send(bytes);
    this.framesOut++;
  }

  #maybeFinishRetiring(): void {
    if (this.#retiring && this.#pending.size === 0 && this.#incoming === 0 && !this.#closed) this.close(CLOSE.duplicate, "Duplicate link");
  }

  #onMessage(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.framesIn++;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.#log("warn", `Closing mesh link to ${this.peer.nodeId}: ${(err as Error).message}`, { remote: this.remote });
      this.close(CLOSE.protocol, "Malformed frame");
      return;
    }
    switch (frame.type) {
      case "response":
      case "error": {
        const p = this.#pending.get(frame.id);
        if (!p) return; // late (after its timeout) or duplicated: nobody waits for it any more
        this.#pending.delete(frame.id);
        this.#clock.clearTimeout(p.timer);
        if (frame.type === "response") p.resolve(frame.body);
        else p.reject(new MeshkvError(isErrorCode(frame.code) ? frame.code : "INTERNAL", frame.message, { details: { peer: this.peer.nodeId, remoteCode: frame.code } }));
        this.#maybeFinishRetiring();
        return;
      }
      case "request":
        return this.#onRequest(frame.id, frame.kind, frame.body);
      case "oneway": {
        const kind = kindOf(frame.kind);
        if (kind === undefined) return; // a newer peer's message kind: ignore, the table is append only
        try {
          this.#cb.oneway(this, kind, frame.body);
        } catch (err) {
          this.#log("warn", `Mesh ${kind} message from ${this.peer.nodeId} failed: ${(err as Error).message}`);
        }
        return;
      }
      case "hello":
      case "auth":
        return; // a duplicate of a handshake frame (networks may repeat messages); the link is already proven
    }
  }

  #reply(frame: Frame): void {
    try {
      this.#write(frame);
    } catch (err) {
      if (!isMeshkvError(err, "CONNECTION_CLOSED")) this.#log("warn", `Cannot reply to ${this.peer.nodeId}: ${(err as Error).message}`);
    }
  }

  #onRequest(id: number, kindNumber: number, body: unknown): void {
    const kind = kindOf(kindNumber);
    if (kind === undefined) {
      return this.#reply({ type: "error", id, code: "UNSUPPORTED", message: `Unknown message kind ${kindNumber}: this node speaks an older protocol` });
    }
    if (this.#incoming >= this.#limits.incomingInFlightMax) {
      return this.#reply({ type: "error", id, code: "OVERLOADED", message: `Node busy: over incomingInFlightMax ${this.#limits.incomingInFlightMax}` });
    }
    this.#incoming++;
    const done = (frame: Frame) => {
      this.#incoming--;
      this.#reply(frame);
      this.#maybeFinishRetiring();
    };
    new Promise((resolve) => resolve(this.#cb.request(this, kind, body))).then(
      (result) => done({ type: "response", id, body: result }),
      (err: unknown) => {
        const code = isMeshkvError(err) ? err.code : "INTERNAL";
        done({ type: "error", id, code, message: err instanceof Error ? err.message : String(err) });
      },
    );
  }

  #onClose(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, p] of this.#pending) {
      this.#clock.clearTimeout(p.timer);
      p.reject(new MeshkvError("CONNECTION_CLOSED", `Link to ${this.peer.nodeId} closed (${code}${reason ? ` ${reason}` : ""}) before the reply`, { details: { peer: this.peer.nodeId, code } }));
      this.#pending.delete(id);
    }
    this.#cb.closed(this, code, reason);
  }
}
