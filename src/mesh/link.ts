/**
 * One authenticated connection to one peer: request/response with ids and per-request deadlines, one-way
 * messages, and the bounds that keep a slow or hostile peer from growing memory without limit.
 *
 * Outgoing requests are bounded by `inFlightMax`; bytes queued in the socket by `queuedBytesMax`; requests
 * the peer sends us and that are still being handled by `incomingInFlightMax`. Going over a bound is an
 * immediate `OVERLOADED` error (back-pressure the caller can act on), never a growing buffer. A frame that does
 * not decode closes the connection with a logged reason; the node itself carries on.
 *
 * Fewer writes per message: frames written in one turn of the event loop leave together, as one batch frame
 * (one WebSocket message, one system call), sent at the end of the turn (`Clock.defer`, `setImmediate` on real
 * runtimes: microseconds when idle, so a quiet link keeps its latency). The batch grows with load, since a busy
 * node produces more frames per turn, and is bounded by `batchMessagesMax` and `batchBytesMax`: a frame that
 * would overflow it sends the batch first, and a frame bigger than `batchBytesMax` goes alone. Frames keep their
 * order on the link either way. Batches go only to a peer that announced it reads them (`linkFeatures`, see
 * `kinds.ts`); to an older peer each frame is written at once, as before.
 *
 * No timer per request: a link keeps one deadline timer, armed for the earliest deadline of its pending
 * requests and none when nothing is pending. A request whose deadline is at most `timeoutLatenessMaxMs` earlier
 * than the armed timer leaves it alone, so a request fails with `TIMEOUT` no earlier than its deadline and at
 * most `timeoutLatenessMaxMs` (plus the event loop's own timer lag) after it.
 */
import { copyBytes } from "../core/_bytes.ts";
import { isErrorCode, isMeshkvError, MeshkvError } from "../errors.ts";
import type { Clock, PeerSocket, TimerHandle } from "../runtime/types.ts";
import {
  BATCH_HEADER_BYTES,
  decodeFrame,
  encodeFrameShared,
  type Frame,
  FrameBatch,
  type MessageFrame,
} from "./codec.ts";
import { CLOSE, type PeerIdentity } from "./handshake.ts";
import { kindOf, MESSAGE_KINDS, type MessageKind, type Role } from "./kinds.ts";

export interface LinkLimits {
  /** Outgoing requests awaiting a reply on one link. */
  inFlightMax: number;
  /** Bytes queued in the socket, not yet sent, above which sends fail with `OVERLOADED`. */
  queuedBytesMax: number;
  /** Peer requests being handled at once on one link; more are answered `OVERLOADED`. */
  incomingInFlightMax: number;
  /** Largest frame the peer accepts; caps `batchBytesMax`. */
  frameBytesMax: number;
  /** Bytes of frames in one batch frame; a bigger frame goes alone. */
  batchBytesMax: number;
  /** Frames in one batch frame; 1 writes every frame at once, unbatched. */
  batchMessagesMax: number;
  /** How late after its deadline a request may fail with `TIMEOUT`. */
  timeoutLatenessMaxMs: number;
  /** How long a retiring link waits for the peer's `linkRetire` before it closes once idle anyway. */
  retireWaitMs: number;
}

export type Logger = (
  level: "debug" | "info" | "warn" | "error",
  message: string,
  fields?: Record<string, unknown>,
) => void;

export interface LinkCallbacks {
  request(link: PeerLink, kind: MessageKind, body: unknown): unknown;
  oneway(link: PeerLink, kind: MessageKind, body: unknown): void;
  closed(link: PeerLink, code: number, reason: string): void;
  /** The peer's `linkFeatures` message (after the link has taken what it needs from it). */
  features?(link: PeerLink, features: Record<string, unknown>): void;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  /** `clock.monotonic()` at which the request fails with `TIMEOUT`. */
  deadline: number;
  kind: MessageKind;
  timeoutMs: number;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof (v as { then?: unknown } | null)?.then === "function";

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
  /** The deadline timer (one per link, see the module doc) and the time it is armed for. */
  #sweepTimer: TimerHandle | undefined;
  #sweepAt = Infinity;
  /** Encoded frames waiting for the end of the turn. */
  #out = new FrameBatch();
  #flushDeferred = false;
  /** Whether the peer announced that it reads batch frames. */
  #peerBatches = false;
  /** Whether the peer's `linkFeatures` came, whether it announced `linkRetire`, and whether it sent it (see `retire`). */
  #featuresSeen = false;
  #peerRetires = false;
  #retireSent = false;
  #peerRetired = false;
  #retireWaitOver = false;
  #retireTimer: TimerHandle | undefined;
  #batchBytesMax: number;
  /** Counters for status and benchmarks: frames (a batch counts its frames) and WebSocket messages. */
  framesIn = 0;
  framesOut = 0;
  socketMessagesIn = 0;
  socketMessagesOut = 0;

  constructor(
    socket: PeerSocket,
    peer: PeerIdentity,
    role: Role,
    clock: Clock,
    limits: LinkLimits,
    cb: LinkCallbacks,
    log: Logger,
    early: Uint8Array[] = [],
    /** What this end announces besides `batch` (the mesh's plain-TCP port). */
    announce: Record<string, unknown> = {},
  ) {
    this.#socket = socket;
    this.peer = peer;
    this.role = role;
    this.#clock = clock;
    this.#limits = limits;
    this.#cb = cb;
    this.#log = log;
    this.#batchBytesMax = Math.min(limits.batchBytesMax, limits.frameBytesMax - BATCH_HEADER_BYTES);
    socket.setHandlers({ message: (m) => this.#onMessage(m), close: (code, reason) => this.#onClose(code, reason) });
    try {
      this.#write({
        type: "oneway",
        kind: MESSAGE_KINDS.linkFeatures,
        body: { ...announce, batch: true, retire: true },
      });
    } catch {
      // closed already: the close handler has run or will
    }
    for (const m of early) this.#onMessage(m);
  }

  get isOpen(): boolean {
    return !this.#closed && this.#socket.isOpen;
  }
  /**
   * A retiring link was replaced by another link to the same peer (a duplicate tie-break, a move to plain TCP):
   * it answers what is in flight, then closes.
   */
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
    return this.#socket.bufferedAmount + this.#out.bytes;
  }
  /** Whether frames to this peer are gathered into batch frames. */
  get batching(): boolean {
    return this.#peerBatches && this.#limits.batchMessagesMax > 1;
  }

  /** Sends a request and resolves with the peer's reply, or rejects with its error, `TIMEOUT` or `CONNECTION_CLOSED`. */
  request(kind: MessageKind, body: unknown, timeoutMs: number): Promise<unknown> {
    if (this.#pending.size >= this.#limits.inFlightMax) {
      return Promise.reject(
        new MeshkvError(
          "OVERLOADED",
          `Link to ${this.peer.nodeId} has ${this.#pending.size} requests in flight: over inFlightMax ${this.#limits.inFlightMax}`,
          { details: { peer: this.peer.nodeId } },
        ),
      );
    }
    const id = this.#nextId++;
    try {
      this.#write({ type: "request", id, kind: MESSAGE_KINDS[kind], body });
    } catch (err) {
      return Promise.reject(err);
    }
    const deadline = this.#clock.monotonic() + timeoutMs;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline, kind, timeoutMs });
      this.#armSweep(deadline);
    });
  }

  /** Sends a one-way message; throws `OVERLOADED` or `CONNECTION_CLOSED` when it cannot be queued. */
  send(kind: MessageKind, body: unknown): void {
    this.#write({ type: "oneway", kind: MESSAGE_KINDS[kind], body });
  }

  /**
   * Stops using this link for new requests and closes it once nothing is in flight either way. With a peer that
   * announced `retire`, it first tells the peer (`linkRetire`) and waits for the peer's own (up to
   * `retireWaitMs`): the peer may have sent a request that is still on its way, and closing before it arrives would
   * fail it with `CONNECTION_CLOSED`. Until the peer's `linkFeatures` came (it is the first thing a peer sends), it
   * is not known whether the peer retires too, so the link waits for them as well.
   */
  retire(): void {
    if (this.#retiring || this.#closed) return;
    this.#retiring = true;
    this.#retireTimer = this.#clock.setTimeout(() => {
      this.#retireTimer = undefined;
      this.#retireWaitOver = true;
      this.#maybeFinishRetiring();
    }, this.#limits.retireWaitMs);
    this.#sendRetire();
    this.#maybeFinishRetiring();
  }

  #sendRetire(): void {
    if (!this.#retiring || !this.#peerRetires || this.#retireSent) return;
    this.#retireSent = true;
    try {
      this.#write({ type: "oneway", kind: MESSAGE_KINDS.linkRetire, body: null });
    } catch {
      // closed already: the close handler has run or will
    }
  }

  /** Closes the connection; frames already queued (a retiring link's last replies) are sent first. */
  close(code: number = CLOSE.normal, reason = ""): void {
    if (!this.#closed) this.#flush();
    this.#socket.close(code, reason);
    this.#onClose(code, reason);
  }

  #write(frame: MessageFrame): void {
    if (this.#closed || !this.#socket.isOpen) {
      throw new MeshkvError("CONNECTION_CLOSED", `Link to ${this.peer.nodeId} is closed`, {
        details: { peer: this.peer.nodeId },
      });
    }
    const bytes = encodeFrameShared(frame); // valid until the next encode: copied or sent below
    const queued = this.queuedBytes;
    if (queued + bytes.length > this.#limits.queuedBytesMax) {
      throw new MeshkvError(
        "OVERLOADED",
        `Link to ${this.peer.nodeId} has ${queued} bytes queued: over queuedBytesMax ${this.#limits.queuedBytesMax}`,
        { details: { peer: this.peer.nodeId } },
      );
    }
    this.framesOut++;
    if (!this.batching) return this.#sendNow(copyBytes(bytes));
    let own: Uint8Array | undefined;
    if (this.#out.count >= this.#limits.batchMessagesMax || this.#out.bytes + bytes.length > this.#batchBytesMax) {
      own = copyBytes(bytes); // sending may run code that encodes other frames over the shared bytes
      this.#flush();
    }
    if (bytes.length > this.#batchBytesMax) return this.#sendNow(own ?? copyBytes(bytes));
    this.#out.push(own ?? bytes);
    if (!this.#flushDeferred) {
      this.#flushDeferred = true;
      this.#clock.defer(this.#onTurnEnd);
    }
  }

  #sendNow(bytes: Uint8Array): void {
    this.#socket.send(bytes);
    this.socketMessagesOut++;
  }

  #onTurnEnd = (): void => {
    this.#flushDeferred = false;
    this.#flush();
  };

  /** Sends the queued frames: one alone, several as one batch frame. */
  #flush(): void {
    const message = this.#out.take();
    if (message === null) return;
    if (this.#closed || !this.#socket.isOpen) return; // the close fails what is pending
    try {
      this.#sendNow(message);
    } catch (err) {
      // Usually at the end of a turn, with no caller to tell: a socket that cannot send ends the link, and
      // the close fails what is pending.
      if (isMeshkvError(err, "CONNECTION_CLOSED")) return;
      this.#log("warn", `Closing mesh link to ${this.peer.nodeId}: sending failed: ${(err as Error).message}`, {
        remote: this.remote,
      });
      this.close(CLOSE.goingAway, "Send failed");
    }
  }

  /** Makes sure the deadline timer fires no later than `timeoutLatenessMaxMs` after `deadline`. */
  #armSweep(deadline: number): void {
    if (this.#sweepAt <= deadline + this.#limits.timeoutLatenessMaxMs) return;
    if (this.#sweepTimer !== undefined) this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweepAt = deadline;
    this.#sweepTimer = this.#clock.setTimeout(this.#sweep, Math.max(0, deadline - this.#clock.monotonic()));
  }

  /** Fails every request past its deadline with `TIMEOUT`, then arms the timer for the earliest one left. */
  #sweep = (): void => {
    this.#sweepTimer = undefined;
    this.#sweepAt = Infinity;
    const now = this.#clock.monotonic();
    let next = Infinity;
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) {
        if (p.deadline < next) next = p.deadline;
        continue;
      }
      this.#pending.delete(id);
      p.reject(
        new MeshkvError("TIMEOUT", `Request ${p.kind} to ${this.peer.nodeId} timed out after ${p.timeoutMs} ms`, {
          details: { peer: this.peer.nodeId, kind: p.kind },
        }),
      );
    }
    if (next !== Infinity) this.#armSweep(next);
    this.#maybeFinishRetiring();
  };

  #disarmSweep(): void {
    if (this.#sweepTimer !== undefined) this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#sweepAt = Infinity;
  }

  #maybeFinishRetiring(): void {
    if (!this.#retiring || this.#pending.size > 0 || this.#incoming > 0 || this.#closed) return;
    if (!this.#peerRetired && !this.#retireWaitOver && (this.#peerRetires || !this.#featuresSeen)) return;
    this.close(CLOSE.duplicate, "Duplicate link");
  }

  #onMessage(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.socketMessagesIn++;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.#log("warn", `Closing mesh link to ${this.peer.nodeId}: ${(err as Error).message}`, { remote: this.remote });
      this.close(CLOSE.protocol, "Malformed frame");
      return;
    }
    if (frame.type !== "batch") return this.#onFrame(frame);
    for (const f of frame.frames) {
      if (this.#closed) return;
      this.#onFrame(f);
    }
  }

  #onFrame(frame: Exclude<Frame, { type: "batch" }>): void {
    this.framesIn++;
    switch (frame.type) {
      case "response":
      case "error": {
        const p = this.#pending.get(frame.id);
        if (!p) return; // late (after its timeout) or duplicated: nobody waits for it any more
        this.#pending.delete(frame.id);
        if (this.#pending.size === 0) this.#disarmSweep();
        if (frame.type === "response") p.resolve(frame.body);
        else {p.reject(
            new MeshkvError(isErrorCode(frame.code) ? frame.code : "INTERNAL", frame.message, {
              details: { peer: this.peer.nodeId, remoteCode: frame.code },
            }),
          );}
        this.#maybeFinishRetiring();
        return;
      }
      case "request":
        return this.#onRequest(frame.id, frame.kind, frame.body);
      case "oneway": {
        if (frame.kind === MESSAGE_KINDS.linkFeatures) {
          const features = typeof frame.body === "object" && frame.body !== null ? frame.body : {};
          this.#peerBatches = (features as { batch?: unknown }).batch === true;
          this.#peerRetires = (features as { retire?: unknown }).retire === true;
          this.#featuresSeen = true;
          this.#sendRetire();
          this.#maybeFinishRetiring();
          this.#cb.features?.(this, features as Record<string, unknown>);
          return;
        }
        if (frame.kind === MESSAGE_KINDS.linkRetire) {
          this.#peerRetired = true;
          this.#maybeFinishRetiring();
          return;
        }
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

  #reply(frame: MessageFrame): void {
    try {
      this.#write(frame);
    } catch (err) {
      if (!isMeshkvError(err, "CONNECTION_CLOSED")) {
        this.#log("warn", `Cannot reply to ${this.peer.nodeId}: ${(err as Error).message}`);
      }
    }
  }

  #onRequest(id: number, kindNumber: number, body: unknown): void {
    const kind = kindOf(kindNumber);
    if (kind === undefined) {
      return this.#reply({
        type: "error",
        id,
        code: "UNSUPPORTED",
        message: `Unknown message kind ${kindNumber}: this node speaks an older protocol`,
      });
    }
    if (this.#incoming >= this.#limits.incomingInFlightMax) {
      return this.#reply({
        type: "error",
        id,
        code: "OVERLOADED",
        message: `Node busy: over incomingInFlightMax ${this.#limits.incomingInFlightMax}`,
      });
    }
    this.#incoming++;
    // A handler that answers at once is answered at once: no promise, closure or microtask hop per request.
    let result: unknown;
    try {
      result = this.#cb.request(this, kind, body);
    } catch (err) {
      return this.#answer(id, false, err);
    }
    if (isThenable(result)) {
      result.then((r) => this.#answer(id, true, r), (err: unknown) => this.#answer(id, false, err));
    } else this.#answer(id, true, result);
  }

  #answer(id: number, ok: boolean, value: unknown): void {
    this.#incoming--;
    if (ok) this.#reply({ type: "response", id, body: value });
    else {
      const code = isMeshkvError(value) ? value.code : "INTERNAL";
      this.#reply({ type: "error", id, code, message: value instanceof Error ? value.message : String(value) });
    }
    this.#maybeFinishRetiring();
  }

  #onClose(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disarmSweep();
    if (this.#retireTimer !== undefined) this.#clock.clearTimeout(this.#retireTimer);
    this.#out.clear();
    for (const [id, p] of this.#pending) {
      p.reject(
        new MeshkvError(
          "CONNECTION_CLOSED",
          `Link to ${this.peer.nodeId} closed (${code}${reason ? ` ${reason}` : ""}) before the reply`,
          { details: { peer: this.peer.nodeId, code } },
        ),
      );
      this.#pending.delete(id);
    }
    this.#cb.closed(this, code, reason);
  }
}
