/**
 * Emulated regions: a socket wrapper that holds every outgoing message for a configured one-way delay between
 * datacenters, so a cluster on one machine behaves like us-east / eu-west / ap-south (there is no `tc netem`
 * here). The mesh wraps a link's socket once the handshake has told it the peer's datacenter; both ends wrap
 * their own sends, so a round trip costs the two one-way delays.
 *
 * Delays are keyed `"from|to"`; a key given in one direction only applies to both.
 */
import { MeshkvError } from "../errors.ts";
import type { Clock, PeerSocket, SocketHandlers } from "../runtime/types.ts";

/** One-way delays in ms keyed `"from|to"`, e.g. `{ "us-east|eu-west": 40 }`. */
export type RegionDelays = Readonly<Record<string, number>>;

/** Largest delay accepted, so a typo cannot stall a link for hours. */
export const REGION_DELAY_MAX_MS = 10_000;

/** The one-way delay from datacenter `from` to `to` (0 inside one datacenter or when not configured). */
export function regionDelayMs(delays: RegionDelays, from: string, to: string): number {
  if (from === to) return 0;
  return delays[`${from}|${to}`] ?? delays[`${to}|${from}`] ?? 0;
}

/**
 * Parses `us-east|eu-west=40,us-east|ap-south=90` or the same as JSON (`{"us-east|eu-west": 40}`).
 * Bad input is `INVALID_ARGUMENT` naming the entry.
 */
export function parseRegionDelays(text: string): RegionDelays {
  const out: Record<string, number> = {};
  const trimmed = text.trim();
  let entries: [string, unknown][];
  if (trimmed.startsWith("{")) {
    try {
      entries = Object.entries(JSON.parse(trimmed) as Record<string, unknown>);
    } catch (err) {
      throw new MeshkvError("INVALID_ARGUMENT", `Region delays are not valid JSON: ${(err as Error).message}`);
    }
  } else {
    entries = trimmed === "" ? [] : trimmed.split(",").map((part) => {
      const eq = part.lastIndexOf("=");
      return [part.slice(0, eq).trim(), eq === -1 ? NaN : Number(part.slice(eq + 1))];
    });
  }
  for (const [key, ms] of entries) {
    if (!/^[^|\s]+\|[^|\s]+$/.test(key)) {
      throw new MeshkvError("INVALID_ARGUMENT", `Region delay key must be "from|to": got ${JSON.stringify(key)}`);
    }
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0 || ms > REGION_DELAY_MAX_MS) {
      throw new MeshkvError(
        "INVALID_ARGUMENT",
        `Region delay for ${key} must be 0 to ${REGION_DELAY_MAX_MS} ms: got ${String(ms)}`,
      );
    }
    out[key] = ms;
  }
  return out;
}

/** Wraps `socket` so every send (and the close) leaves `delayMs` later, in order. */
export function delayedSocket(socket: PeerSocket, clock: Clock, delayMs: number): PeerSocket {
  if (delayMs <= 0) return socket;
  let held = 0;
  let closing = false;
  return {
    remote: socket.remote,
    get bufferedAmount() {
      return held + socket.bufferedAmount;
    },
    get isOpen() {
      return socket.isOpen && !closing;
    },
    send(data: Uint8Array) {
      if (!this.isOpen) socket.send(data); // throws CONNECTION_CLOSED like the real socket
      held += data.length;
      clock.setTimeout(() => {
        held -= data.length;
        if (socket.isOpen) socket.send(data);
      }, delayMs);
    },
    close(code?: number, reason?: string) {
      if (closing) return;
      closing = true;
      clock.setTimeout(() => socket.close(code, reason), delayMs);
    },
    setHandlers(h: SocketHandlers) {
      socket.setHandlers(h);
    },
  };
}
