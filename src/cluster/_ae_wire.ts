/**
 * The anti-entropy exchange's bounds and wire shapes (`aeLevel`, `aeKeys`, `aeFetch`; `anti_entropy.ts`): every
 * list a peer sends is checked against its bound before use (a malformed one is a PROTOCOL_ERROR), hashes travel
 * as big-endian u32 pairs, and pushes are cut into batches bounded in items and bytes.
 */
import { segmentOf } from "../core/hash_tree.ts";
import { protocolError } from "./_wire.ts";
import type { WireItem } from "./replica.ts";

/** Tree nodes asked for in one `aeLevel` request (8 bytes of hash each). */
export const INDICES_PER_LEVEL_MAX = 4096;
/** Segments asked for in one `aeKeys` request. */
export const SEGMENTS_PER_REQUEST_MAX = 1024;
/** Keys in one `aeKeys` reply (whole segments; at least one segment is always sent). */
export const KEYS_PER_REPLY_MAX = 20_000;
/** Keys asked for in one `aeFetch` request, and items in one `kvMergeBatch` push. */
export const KEYS_PER_REQUEST_MAX = 1000;
/** Set bytes in one `aeFetch` reply or `kvMergeBatch` push, and key bytes in one `aeKeys` reply (at least one item or segment is always sent). */
export const BATCH_BYTES_MAX = 1024 * 1024;
/** Bytes of one version digest on the wire. */
export const DIGEST_BYTES_MAX = 64;
/** Exchanges one interval may run back to back while each finds the partition empty on both sides. */
export const EQUAL_CHAIN_MAX = 16;

export type KeyList = Array<[string, Uint8Array]>;

export function groupBySegment(keys: KeyList, segments: number): Map<number, KeyList> {
  const out = new Map<number, KeyList>();
  for (const entry of keys) {
    const s = segmentOf(entry[0], segments);
    let list = out.get(s);
    if (!list) out.set(s, list = []);
    list.push(entry);
  }
  return out;
}

/** Splits items into batches of at most `KEYS_PER_REQUEST_MAX` items and about `BATCH_BYTES_MAX` bytes. */
export function byBytes(items: WireItem[]): WireItem[][] {
  const out: WireItem[][] = [];
  let batch: WireItem[] = [];
  let size = 0;
  for (const it of items) {
    if (batch.length > 0 && (size + it.set.byteLength > BATCH_BYTES_MAX || batch.length === KEYS_PER_REQUEST_MAX)) {
      out.push(batch);
      batch = [];
      size = 0;
    }
    batch.push(it);
    size += it.set.byteLength + it.key.length;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/** Hashes as (high, low) u32 pairs, big-endian, so the bytes mean the same on every platform. */
export function hashesToWire(h: Uint32Array): Uint8Array {
  const out = new Uint8Array(4 * h.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < h.length; i++) view.setUint32(4 * i, h[i]!);
  return out;
}

export function hashesFromWire(b: Uint8Array, count: number): Uint32Array {
  if (b.byteLength !== 8 * count) throw protocolError(`hashes hold ${b.byteLength} bytes, not ${8 * count}`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Uint32Array(2 * count);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(4 * i);
  return out;
}

export function intList(o: Record<string, unknown>, field: string, max: number, below: number): number[] {
  const v = o[field];
  if (!Array.isArray(v) || v.length > max) throw protocolError(`${field} is not a list of at most ${max}`);
  for (const x of v) {
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x >= below) {
      throw protocolError(`${field} holds something not an integer from 0 to ${below - 1}`);
    }
  }
  return v as number[];
}

export function strList(o: Record<string, unknown>, field: string, max: number): string[] {
  const v = o[field];
  if (!Array.isArray(v) || v.length > max) throw protocolError(`${field} is not a list of at most ${max}`);
  for (const x of v) if (typeof x !== "string") throw protocolError(`${field} holds something not a string`);
  return v as string[];
}

export function keyList(o: Record<string, unknown>, field: string, max: number): KeyList {
  const v = o[field];
  if (!Array.isArray(v) || v.length > max) throw protocolError(`${field} is not a list of at most ${max}`);
  for (const e of v) {
    if (
      !Array.isArray(e) || e.length !== 2 || typeof e[0] !== "string" || !(e[1] instanceof Uint8Array) ||
      e[1].byteLength > DIGEST_BYTES_MAX
    ) {
      throw protocolError(`${field} entry is not [key, digest]`);
    }
  }
  return v as KeyList;
}
