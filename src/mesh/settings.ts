/**
 * Mesh settings with their defaults (convention 6: every bound is named, units last). Faster sets for local
 * clusters and slower ones for wide-area clusters are the timing presets in `src/cluster/presets.ts`.
 */
import { BATCH_FRAMES_MAX } from "./kinds.ts";

export interface MeshSettings {
  /** The HTTP path that accepts mesh WebSocket upgrades, on the same port as the client API. */
  path: string;
  /** Largest frame accepted or sent; bigger frames close the connection (WebSocket code 1009, sent as 4009). */
  frameBytesMax: number;
  /** A new connection must finish the handshake within this. */
  handshakeTimeoutMs: number;
  /** Dialing a peer gives up after this. */
  connectTimeoutMs: number;
  /** Default deadline of `request()`. */
  requestTimeoutMs: number;
  /** Outgoing requests awaiting replies, per link. */
  inFlightMax: number;
  /** Peer requests being handled at once, per link. */
  incomingInFlightMax: number;
  /** Bytes queued for sending, per link. */
  queuedBytesMax: number;
  /**
   * Bytes of frames gathered into one batch frame (one WebSocket message), capped by `frameBytesMax`; a frame
   * bigger than this goes alone. See `link.ts`. 64 KiB lets value-carrying frames batch too; it was 1000 bytes
   * while the Deno adapter dialed with Deno's WebSocket client, which stalls ~40 ms on messages over 1 KiB
   * (Nagle's algorithm on, docs/mesh.md); the adapter now dials with TCP_NODELAY set.
   */
  batchBytesMax: number;
  /** Frames gathered into one batch frame, at most `BATCH_FRAMES_MAX` (1024); 1 turns batching off. */
  batchMessagesMax: number;
  /**
   * How late a request may fail with `TIMEOUT` after its deadline: a link keeps one deadline timer, and a
   * request whose deadline is at most this much before the armed one does not move it.
   */
  timeoutLatenessMaxMs: number;
  /**
   * How long a retiring link (replaced by another to the same peer) waits for the peer's `linkRetire` before it
   * closes once idle anyway (a peer that never retires its end). See `link.ts` `retire`.
   */
  retireWaitMs: number;
  /** Inbound connections still in their handshake; more are refused (code 1013). */
  handshakesMax: number;
  /** First reconnect delay; doubles per failure up to `backoffMaxMs`, with jitter in [50%, 100%]. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Reconnect attempts after a link drops; after that, links open again on demand. */
  reconnectAttemptsMax: number;
}

export const MESH_DEFAULTS: MeshSettings = {
  path: "/mesh",
  frameBytesMax: 4 * 1024 * 1024,
  handshakeTimeoutMs: 5000,
  connectTimeoutMs: 3000,
  requestTimeoutMs: 5000,
  inFlightMax: 1024,
  incomingInFlightMax: 256,
  queuedBytesMax: 16 * 1024 * 1024,
  batchBytesMax: 64 * 1024,
  batchMessagesMax: 64,
  timeoutLatenessMaxMs: 10,
  retireWaitMs: 5000,
  handshakesMax: 64,
  backoffBaseMs: 200,
  backoffMaxMs: 10_000,
  reconnectAttemptsMax: 8,
};

/** The default settings with `over` applied; `RangeError` for values that make no sense. */
export function meshSettings(over: Partial<MeshSettings> = {}): MeshSettings {
  const s = { ...MESH_DEFAULTS, ...over };
  for (const [k, v] of Object.entries(s)) {
    if (k === "path") continue;
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
      throw new RangeError(`Mesh setting ${k} must be a positive number: got ${String(v)}`);
    }
  }
  if (!Number.isInteger(s.batchMessagesMax) || s.batchMessagesMax > BATCH_FRAMES_MAX) {
    throw new RangeError(
      `Mesh setting batchMessagesMax must be an integer from 1 to ${BATCH_FRAMES_MAX}: got ${s.batchMessagesMax}`,
    );
  }
  if (!s.path.startsWith("/")) throw new RangeError(`Mesh path must start with "/": got ${s.path}`);
  return s;
}

/** Reconnect delay after `failures` failed attempts, jittered by `draw` in [0, 1). */
export function backoffMs(s: MeshSettings, failures: number, draw: number): number {
  const cap = Math.min(s.backoffMaxMs, s.backoffBaseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(cap * (0.5 + draw / 2));
}
