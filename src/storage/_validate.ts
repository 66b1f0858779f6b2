/**
 * Argument checks for the engine's public methods (convention 5: bad input is a MeshkvError INVALID_ARGUMENT
 * or LIMIT_EXCEEDED naming the argument or limit; internals receive only normalised values).
 */
import { MeshkvError } from "../errors.ts";
import { EMPTY, internalKey, utf8 } from "./_bytes.ts";
import { ENTRY_FLAG } from "./_format.ts";
import type { RecFields } from "./_record.ts";
import type { Settings } from "./options.ts";
import type { BatchOp, DeleteOptions, Key, PutOptions } from "./types.ts";

export function invalid(message: string, details: Record<string, unknown> = {}): MeshkvError {
  return new MeshkvError("INVALID_ARGUMENT", message, { details });
}

function limit(name: string, max: number, actual: number): MeshkvError {
  return new MeshkvError("LIMIT_EXCEEDED", `Over the ${name} limit: ${actual} > ${max}`, {
    details: { limit: name, max, actual },
  });
}

export function checkPartition(partition: unknown): number {
  if (typeof partition !== "number" || !Number.isInteger(partition) || partition < 0 || partition > 0xffff) {
    throw invalid(`Invalid partition: ${String(partition)} (an integer from 0 to 65535)`, {
      partition: String(partition),
    });
  }
  return partition;
}

export function keyBytes(key: unknown, name = "key"): Uint8Array {
  if (typeof key === "string") return utf8(key);
  if (key instanceof Uint8Array) return key;
  throw invalid(`Invalid ${name}: ${typeof key} (a string or a Uint8Array)`);
}

/** The internal key for (partition, key), after checking both. */
export function checkKey(partition: unknown, key: unknown, s: Settings): Uint8Array {
  const p = checkPartition(partition);
  if (typeof key === "string" && key.length > 0 && key.length <= s.keyBytesMax) {
    const ikey = asciiInternalKey(p, key);
    if (ikey !== null) return ikey;
  }
  const k = keyBytes(key);
  if (k.length === 0) throw invalid("Invalid key: empty");
  if (k.length > s.keyBytesMax) throw limit("keyBytesMax", s.keyBytesMax, k.length);
  return internalKey(p, k);
}

/**
 * The internal key of an all-ASCII string key, written directly (its UTF-8 is its char codes), or null when the
 * key has another character: one allocation instead of `TextEncoder.encode`'s array and a second copy.
 */
function asciiInternalKey(p: number, key: string): Uint8Array | null {
  const out = new Uint8Array(2 + key.length);
  out[0] = p >>> 8;
  out[1] = p & 0xff;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) return null;
    out[2 + i] = c;
  }
  return out;
}

function checkMeta(meta: unknown, s: Settings): Uint8Array {
  if (meta === undefined) return EMPTY;
  if (!(meta instanceof Uint8Array)) throw invalid("Invalid meta: not a Uint8Array");
  if (meta.length > s.metaBytesMax) throw limit("metaBytesMax", s.metaBytesMax, meta.length);
  return meta;
}

export function checkPut(
  partition: unknown,
  key: unknown,
  value: unknown,
  o: PutOptions | undefined,
  s: Settings,
  now: number,
): RecFields {
  const ikey = checkKey(partition, key, s);
  if (!(value instanceof Uint8Array)) throw invalid("Invalid value: not a Uint8Array");
  if (value.length > s.valueBytesMax) throw limit("valueBytesMax", s.valueBytesMax, value.length);
  if (o !== undefined && (o === null || typeof o !== "object")) throw invalid("Invalid options: not an object");
  const meta = checkMeta(o?.meta, s);
  let expiresAt = 0;
  if (o?.expiresAt !== undefined && o.ttlMs !== undefined) throw invalid("Give expiresAt or ttlMs, not both");
  if (o?.expiresAt !== undefined) {
    if (!Number.isSafeInteger(o.expiresAt) || o.expiresAt <= 0) {
      throw invalid(`Invalid expiresAt: ${String(o.expiresAt)}`);
    }
    expiresAt = o.expiresAt;
  }
  if (o?.ttlMs !== undefined) {
    if (!Number.isSafeInteger(o.ttlMs) || o.ttlMs <= 0) throw invalid(`Invalid ttlMs: ${String(o.ttlMs)}`);
    expiresAt = now + o.ttlMs;
  }
  let flags = 0;
  if (expiresAt !== 0) flags |= ENTRY_FLAG.expires;
  if (meta.length > 0) flags |= ENTRY_FLAG.meta;
  return { ikey, flags, expiresAt, meta, value };
}

export function checkDelete(partition: unknown, key: unknown, o: DeleteOptions | undefined, s: Settings): RecFields {
  const ikey = checkKey(partition, key, s);
  if (o !== undefined && (o === null || typeof o !== "object")) throw invalid("Invalid options: not an object");
  const meta = checkMeta(o?.meta, s);
  const flags = ENTRY_FLAG.tombstone | (meta.length > 0 ? ENTRY_FLAG.meta : 0);
  return { ikey, flags, expiresAt: 0, meta, value: EMPTY };
}

export function checkBatch(ops: unknown, s: Settings, now: number): RecFields[] {
  if (!Array.isArray(ops)) throw invalid("Invalid batch: not an array");
  if (ops.length > s.batchOpsMax) throw limit("batchOpsMax", s.batchOpsMax, ops.length);
  const out: RecFields[] = [];
  let bytes = 0;
  for (const op of ops as BatchOp[]) {
    if (op === null || typeof op !== "object") throw invalid("Invalid batch operation: not an object");
    let f: RecFields;
    if (op.type === "put") f = checkPut(op.partition, op.key, op.value, op, s, now);
    else if (op.type === "delete") f = checkDelete(op.partition, op.key, op, s);
    else throw invalid(`Invalid batch operation type: ${String((op as { type: unknown }).type)}`);
    bytes += f.ikey.length + f.meta.length + f.value.length;
    out.push(f);
  }
  if (bytes > s.batchBytesMax) throw limit("batchBytesMax", s.batchBytesMax, bytes);
  return out;
}

export function optionalKey(v: Key | undefined, name: string): Uint8Array | null {
  return v === undefined ? null : keyBytes(v, name);
}
