/**
 * The hint store's record format and checks (`hints.ts` keeps the store): what a hint is, its limits, the
 * engine key `target + "\u0000" + key` and the fixed header in the entry's `meta`.
 *
 * Header format, version 1 (append only: the numbers are on disk), big-endian:
 *   u8 version, u16 partition, u8 flags (bit 0: has expiresAt), f64 storedAtMs, f64 expiresAt (0 when none)
 */
import { NODE_ID_BYTES_MAX } from "../core/ring.ts";
import { MeshkvError } from "../errors.ts";
import { decodeKey, type Entry } from "../storage/mod.ts";

export interface Hint {
  /** The node the copy is for. */
  target: string;
  /** The key's partition (carried to the target; the hint store itself keys by target and key). */
  partition: number;
  key: string;
  /** An encoded DVVSet (`encodeSet`). */
  set: Uint8Array;
  /** When the value expires (ms since the epoch), or null. */
  expiresAt: number | null;
  /** When this hint was first stored (ms since the epoch, wall clock). */
  storedAtMs: number;
}

export interface HintLimits {
  /** Bytes (keys, sets and headers) pending for one target. Default 64 MiB. */
  hintBytesMaxPerTarget: number;
  /** A hint older than this is dropped instead of delivered. Default 3 h (Cassandra's `max_hint_window`). */
  hintAgeMaxMs: number;
  /** Hints pending for one target. Default 1,000,000. */
  hintsPerTargetMax: number;
}

export interface HintTargetStats {
  pending: number;
  bytes: number;
  /** storedAtMs of the oldest pending hint (exact to within a second after deletions), or null. */
  oldestMs: number | null;
}

export interface HintStats {
  pending: number;
  bytes: number;
  /** Hints dropped for age or because their value expired. */
  expired: number;
  /** Hints acknowledged and deleted. */
  delivered: number;
  /** Adds refused by a limit. */
  rejected: number;
  perTarget: Record<string, HintTargetStats>;
}

export const HINT_LIMITS_DEFAULT: HintLimits = {
  hintBytesMaxPerTarget: 64 * 1024 * 1024,
  hintAgeMaxMs: 3 * 60 * 60 * 1000,
  hintsPerTargetMax: 1_000_000,
};

/** append only: the numbers are on disk. */
export const HINT_FORMATS = {
  HEADER_V1: 1,
} as const;

export const HEADER_BYTES = 20;
/** The one engine partition hints live in. */
export const PARTITION = 0;
/** Between target and key in the engine key (node ids hold no NUL). */
export const SEP = "\u0000";

const encoder = new TextEncoder();

export interface StoredHint {
  hint: Hint;
  size: number;
}

export function invalid(message: string): MeshkvError {
  return new MeshkvError("INVALID_ARGUMENT", message);
}

export function checkLimits(given: Partial<HintLimits>): HintLimits {
  const out = { ...HINT_LIMITS_DEFAULT };
  for (const name of Object.keys(HINT_LIMITS_DEFAULT) as (keyof HintLimits)[]) {
    const v = given[name];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 1) throw invalid(`Invalid option ${name}: ${String(v)} (a positive integer)`);
    out[name] = v;
  }
  return out;
}

export function checkTarget(target: unknown): asserts target is string {
  if (typeof target !== "string" || target.length === 0 || target.length > NODE_ID_BYTES_MAX || target.includes(SEP)) {
    throw invalid(
      `Invalid hint target: ${String(target)} (a node id of 1 to ${NODE_ID_BYTES_MAX} characters without NUL)`,
    );
  }
}

/** Validates a hint from the coordinator or a peer (it may have come off the wire). */
export function checkHint<H extends Omit<Hint, "storedAtMs">>(h: H): H {
  if (h === null || typeof h !== "object") throw invalid("Invalid hint: not an object");
  checkTarget(h.target);
  if (!Number.isInteger(h.partition) || h.partition < 0 || h.partition > 0xffff) {
    throw invalid(`Invalid hint partition: ${String(h.partition)} (an integer from 0 to 65535)`);
  }
  if (typeof h.key !== "string") throw invalid("Invalid hint key: not a string");
  if (!(h.set instanceof Uint8Array)) throw invalid("Invalid hint set: not a Uint8Array");
  if (h.expiresAt !== null && (!Number.isSafeInteger(h.expiresAt) || h.expiresAt < 0)) {
    throw invalid(`Invalid hint expiresAt: ${String(h.expiresAt)} (null or ms since the epoch)`);
  }
  return h;
}

export function engineKey(target: string, key: string): Uint8Array {
  return encoder.encode(target + SEP + key);
}

export function encodeHeader(partition: number, storedAtMs: number, expiresAt: number | null): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, HINT_FORMATS.HEADER_V1);
  v.setUint16(1, partition);
  v.setUint8(3, expiresAt === null ? 0 : 1);
  v.setFloat64(4, storedAtMs);
  v.setFloat64(12, expiresAt ?? 0);
  return out;
}

/** The hint an engine entry holds, or null when its key or header is not a hint's. */
export function parseEntry(e: Entry): StoredHint | null {
  const m = e.meta;
  if (m.length !== HEADER_BYTES || m[0] !== HINT_FORMATS.HEADER_V1) return null;
  const v = new DataView(m.buffer, m.byteOffset, m.length);
  const flags = v.getUint8(3);
  const storedAtMs = v.getFloat64(4);
  const expiresAt = v.getFloat64(12);
  if (flags > 1 || !Number.isSafeInteger(storedAtMs) || storedAtMs < 0 || !Number.isSafeInteger(expiresAt)) return null;
  const full = decodeKey(e.key);
  const at = full.indexOf(SEP);
  if (at < 1) return null;
  const hint: Hint = {
    target: full.slice(0, at),
    partition: v.getUint16(1),
    key: full.slice(at + 1),
    set: e.value,
    expiresAt: flags === 1 ? expiresAt : null,
    storedAtMs,
  };
  return { hint, size: e.key.length + e.value.length + HEADER_BYTES };
}

/** The bytes a hint counts for in the store's limits and the delivery throttle (key, set and header). */
export function hintBytes(h: Hint): number {
  return engineKey(h.target, h.key).length + h.set.length + HEADER_BYTES;
}
