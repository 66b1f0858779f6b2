/**
 * Hybrid logical clock (Kulkarni, Demirbas, Madappa, Avva and Leone, "Logical Physical Clocks", OPODIS 2014).
 *
 * A timestamp is (wall milliseconds, logical counter). It never goes backwards, stays close to physical
 * time, and respects causality: anything sent with a timestamp is received into a clock that ends up ahead
 * of it. meshkv uses it for last-writer-wins keyspaces (the larger timestamp wins, the writer's node id breaks
 * exact ties) and for ordering events such as watch streams. The caller passes the physical time in; this
 * module never reads a clock.
 *
 * Encoded as 8 bytes big-endian: 48 bits of wall milliseconds (good until the year 10889) then 16 bits of
 * logical counter, so comparing encodings byte by byte orders them like `compareHlc`. When the counter would
 * overflow, the clock moves its wall part one millisecond ahead instead, which keeps every property but
 * "close to physical time" by at most that millisecond. A peer whose wall time is ahead of ours by more than
 * `maxDriftMs` is refused with `CLOCK_SKEW` rather than dragging every clock in the cluster forward.
 */
import { MeshkvError } from "../errors.ts";

export interface Hlc {
  readonly wallMs: number;
  readonly logical: number;
}

export const HLC_LOGICAL_MAX = 0xffff;
export const HLC_WALL_MAX = 2 ** 48 - 1;
export const HLC_BYTES = 8;
export const DEFAULT_MAX_DRIFT_MS = 60_000;

export const HLC_ZERO: Hlc = { wallMs: 0, logical: 0 };

function physical(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0 || ms > HLC_WALL_MAX) throw new RangeError(`Physical time out of range: ${ms}`);
  return Math.floor(ms);
}

function tick(wallMs: number, logical: number): Hlc {
  return logical > HLC_LOGICAL_MAX ? { wallMs: wallMs + 1, logical: 0 } : { wallMs, logical };
}

/** The timestamp for a local or send event at physical time `physicalMs`, after `last`. */
export function hlcNow(last: Hlc, physicalMs: number): Hlc {
  const pt = physical(physicalMs);
  if (pt > last.wallMs) return { wallMs: pt, logical: 0 };
  return tick(last.wallMs, last.logical + 1);
}

/**
 * The timestamp for receiving `remote` at physical time `physicalMs`, after `last`. Throws `CLOCK_SKEW` when
 * `remote` is more than `maxDriftMs` ahead of `physicalMs`.
 */
export function hlcReceive(last: Hlc, remote: Hlc, physicalMs: number, maxDriftMs = DEFAULT_MAX_DRIFT_MS): Hlc {
  const pt = physical(physicalMs);
  validateHlc(remote);
  if (remote.wallMs - pt > maxDriftMs) {
    throw new MeshkvError("CLOCK_SKEW", `Peer clock ahead by more than the allowed drift: ${remote.wallMs - pt} ms`, {
      details: { aheadMs: remote.wallMs - pt, maxDriftMs },
    });
  }
  const wallMs = Math.max(last.wallMs, remote.wallMs, pt);
  if (wallMs === last.wallMs && wallMs === remote.wallMs) {
    return tick(wallMs, Math.max(last.logical, remote.logical) + 1);
  }
  if (wallMs === last.wallMs) return tick(wallMs, last.logical + 1);
  if (wallMs === remote.wallMs) return tick(wallMs, remote.logical + 1);
  return { wallMs, logical: 0 };
}

/** Orders timestamps: negative when `a` is earlier, positive when later, 0 when equal. */
export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wallMs - b.wallMs || a.logical - b.logical;
}

/** Throws INVALID_ARGUMENT unless `h` is a well-formed timestamp. */
export function validateHlc(h: Hlc): void {
  const ok = Number.isInteger(h.wallMs) && h.wallMs >= 0 && h.wallMs <= HLC_WALL_MAX &&
    Number.isInteger(h.logical) && h.logical >= 0 && h.logical <= HLC_LOGICAL_MAX;
  if (!ok) {
    throw new MeshkvError("INVALID_ARGUMENT", `Malformed hybrid logical clock timestamp: ${h.wallMs}.${h.logical}`);
  }
}

/** 8 bytes, big-endian, ordered like `compareHlc`. */
export function encodeHlc(h: Hlc): Uint8Array {
  validateHlc(h);
  const out = new Uint8Array(HLC_BYTES);
  const view = new DataView(out.buffer);
  view.setUint16(0, Math.floor(h.wallMs / 2 ** 32));
  view.setUint32(2, h.wallMs >>> 0);
  view.setUint16(6, h.logical);
  return out;
}

/** Reads `encodeHlc` output; INVALID_ARGUMENT unless it is exactly 8 bytes. */
export function decodeHlc(bytes: Uint8Array): Hlc {
  if (bytes.length !== HLC_BYTES) {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Hybrid logical clock timestamp must be ${HLC_BYTES} bytes: ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HLC_BYTES);
  return { wallMs: view.getUint16(0) * 2 ** 32 + view.getUint32(2), logical: view.getUint16(6) };
}
