/**
 * The records the single-node backend keeps inside each DVVSet value: a value with its content type, or the
 * marker of a delete. A delete is a write like any other (Riak's tombstone object), so a delete that races a
 * write becomes a sibling of it instead of silently winning, and the causal history survives the delete.
 *
 * Format, version 1 (append only: the numbers are on disk):
 *   u8 kind (1 value, 2 tombstone); for a value: u8 content-type byte length, content type (UTF-8), data.
 */
import { MeshkvError } from "../errors.ts";
import type { StoredValue } from "../http/backend.ts";

/** append only: the numbers are on disk. */
export const RECORD_KIND = {
  VALUE: 1,
  TOMBSTONE: 2,
} as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export const TOMBSTONE: Uint8Array = Uint8Array.of(RECORD_KIND.TOMBSTONE);

export function encodeValue(value: StoredValue): Uint8Array {
  const type = encoder.encode(value.contentType);
  if (type.length > 255) throw new RangeError(`Content type longer than 255 bytes: ${type.length}`);
  const out = new Uint8Array(2 + type.length + value.data.length);
  out[0] = RECORD_KIND.VALUE;
  out[1] = type.length;
  out.set(type, 2);
  out.set(value.data, 2 + type.length);
  return out;
}

export function isTombstone(record: Uint8Array): boolean {
  return record[0] === RECORD_KIND.TOMBSTONE;
}

/** Decodes a value record; throws CORRUPTION for bytes that are not one. */
export function decodeValue(record: Uint8Array): StoredValue {
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
  return { contentType, data: record.slice(2 + typeBytes) };
}

/** The live values among a set's records, in set order (tombstones left out). */
export function liveValues(records: readonly Uint8Array[]): StoredValue[] {
  const out: StoredValue[] = [];
  for (const r of records) if (!isTombstone(r)) out.push(decodeValue(r));
  return out;
}

export function liveCount(records: readonly Uint8Array[]): number {
  let n = 0;
  for (const r of records) if (!isTombstone(r)) n++;
  return n;
}
