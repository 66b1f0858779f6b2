/**
 * The record format of stored values: what every replica keeps inside each DVVSet value of a key (`replica.ts`),
 * a value with its content type, or the marker of a delete, and the helpers that read records back as the
 * values a client sees. A delete is a write like any other (Riak's tombstone object), so a delete that races a
 * write becomes a sibling of it instead of silently winning, and the causal history survives the delete.
 *
 * Format, version 1 (append only: the numbers are on disk):
 *   u8 kind (1 value, 2 tombstone); for a value: u8 content-type byte length, content type (UTF-8), data;
 *   kind 3 (stamped, for last-writer-wins keyspaces): 8-byte hybrid logical clock (`core/hlc.ts`), then a
 *   kind 1 or 2 record. Readers of a last-writer-wins keyspace show only the sibling with the latest stamp.
 */
import { MeshkvError } from "../errors.ts";
import type { ReadResult, StoredValue } from "../kv/backend.ts";
import type { Stored } from "../core/stored.ts";
import { contextOf, values } from "../core/version.ts";
import { compareHlc, decodeHlc, encodeHlc, type Hlc, HLC_ZERO } from "../core/hlc.ts";
import { allocBytes, compareBytes, copyBytes, equalBytes } from "../core/_bytes.ts";
import type { RecordFormat } from "../core/write_decision.ts";

/** append only: the numbers are on disk. */
export const RECORD_KIND = {
  VALUE: 1,
  TOMBSTONE: 2,
  STAMPED: 3,
} as const;

const STAMP_BYTES = 9;

/** A record with its write's hybrid logical clock in front (last-writer-wins keyspaces). */
export function stamp(hlc: Hlc, record: Uint8Array): Uint8Array {
  const out = allocBytes(STAMP_BYTES + record.length);
  out[0] = RECORD_KIND.STAMPED;
  out.set(encodeHlc(hlc), 1);
  out.set(record, STAMP_BYTES);
  return out;
}

/** The stamp of a record (the zero stamp for unstamped records, so they lose to any stamped write). */
export function stampOf(record: Uint8Array): Hlc {
  if (record[0] !== RECORD_KIND.STAMPED || record.length < STAMP_BYTES) return HLC_ZERO;
  return decodeHlc(record.subarray(1, STAMP_BYTES));
}

/** The record without its stamp. */
function unstamped(record: Uint8Array): Uint8Array {
  return record[0] === RECORD_KIND.STAMPED ? record.subarray(STAMP_BYTES) : record;
}

/**
 * Last-writer-wins: of all siblings, only the one with the latest stamp (ties broken by the bytes, so every
 * replica picks the same one). Returns an empty list when that latest write is a delete.
 */
export function latestRecord(records: readonly Uint8Array[]): Uint8Array[] {
  let best: Uint8Array | null = null;
  for (const r of records) {
    if (best === null) best = r;
    else {
      const c = compareHlc(stampOf(r), stampOf(best)) || compareBytes(r, best);
      if (c > 0) best = r;
    }
  }
  return best === null || isTombstone(best) ? [] : [best];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export const TOMBSTONE: Uint8Array = Uint8Array.of(RECORD_KIND.TOMBSTONE);

export function encodeValue(value: StoredValue): Uint8Array {
  const type = encoder.encode(value.contentType);
  if (type.length > 255) throw new RangeError(`Content type longer than 255 bytes: ${type.length}`);
  const out = allocBytes(2 + type.length + value.data.length);
  out[0] = RECORD_KIND.VALUE;
  out[1] = type.length;
  out.set(type, 2);
  out.set(value.data, 2 + type.length);
  return out;
}

export function isTombstone(record: Uint8Array): boolean {
  return unstamped(record)[0] === RECORD_KIND.TOMBSTONE;
}

/** Decodes a value record; throws CORRUPTION for bytes that are not one. */
export function decodeValue(stored: Uint8Array): StoredValue {
  const record = unstamped(stored);
  const typeBytes = record[1];
  if (record[0] !== RECORD_KIND.VALUE || typeBytes === undefined || record.length < 2 + typeBytes) {
    throw new MeshkvError("CORRUPTION", `Invalid value record: kind ${String(record[0])}, ${record.length} bytes`);
  }
  let contentType: string;
  try {
    contentType = decoder.decode(record.subarray(2, 2 + typeBytes));
  } catch (cause) {
    throw new MeshkvError("CORRUPTION", "Invalid value record: content type is not UTF-8", { cause });
  }
  return { contentType, data: copyBytes(record, 2 + typeBytes) };
}

/**
 * The live records, each distinct record once, in set order. Two siblings with the same bytes (the same value
 * and content type, written twice concurrently: a write retried after a timeout that had in fact been applied,
 * by the SDK or by a forward to the next replica) are one value to a reader; the context still covers both
 * dots, so the next write that carries it supersedes both.
 */
export function distinctLive(records: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const r of records) {
    if (!isTombstone(r) && !out.some((o) => equalBytes(o, r))) out.push(r);
  }
  return out;
}

/**
 * The values a reader sees: every distinct live sibling (`distinctLive`), or with last-writer-wins only the
 * latest write's value.
 */
export function visibleValues(records: readonly Uint8Array[], lww: boolean): StoredValue[] {
  return (lww ? latestRecord(records) : distinctLive(records)).map(decodeValue);
}

export function liveCount(records: readonly Uint8Array[]): number {
  let n = 0;
  for (const r of records) if (!isTombstone(r)) n++;
  return n;
}

/** What a client reads of a stored set: the visible values (the newest only with last-writer-wins), the context. */
export function toReadResult(s: Stored, lww: boolean): ReadResult {
  const live = visibleValues(values(s.set), lww);
  return { values: live, context: contextOf(s.set), expiresAt: live.length > 0 ? s.expiresAt : null };
}

/** These records as the write decision (`core/write_decision.ts`) sees them. */
export const RECORD_FORMAT: RecordFormat = {
  tombstone: TOMBSTONE,
  visibleCount: (records, lww) => (lww ? latestRecord(records) : distinctLive(records)).length,
  liveCount,
  stamp,
  stampOf,
};
