/**
 * The replication protocol's messages (kinds `kvGet`, `kvMerge`, `kvMergeBatch`, `kvScan`, `kvCoordinate` in
 * `mesh/kinds.ts`): one place that says what each body holds, with the encoder the sender uses and the checked
 * decoder the receiver uses. A peer is authenticated, but a newer or buggy one may still send something
 * unexpected: every body is checked before use and a bad one is answered with `PROTOCOL_ERROR`, never a crash.
 * Anti-entropy's messages (`ae*`) are in `_ae_wire.ts`; the field readers both use are in `_wire.ts`.
 */
import { decodeSet, encodeSet } from "../core/context.ts";
import { type ConsistencyLevel, levelToString, parseConsistency } from "../core/quorum.ts";
import type { Stored } from "../core/stored.ts";
import { emptySet, type VersionVector } from "../core/version.ts";
import { MeshkvError } from "../errors.ts";
import type { DeleteOptions, StoredValue, WriteOptions, WriteResult } from "../kv/backend.ts";
import { bool, bytes, int, item, items, obj, optNum, optStr, partition, str, vvFromWire, vvToWire } from "./_wire.ts";
import type { WireItem } from "./replica.ts";

/** A client write as the coordinator runs it, and as a forward (`kvCoordinate`) carries it. */
export type WriteOp =
  | {
    kind: "put";
    key: string;
    value: StoredValue;
    context: VersionVector;
    ifNoneMatch: boolean;
    strict: boolean;
    ttlMs: number | null;
    level: ConsistencyLevel | null;
  }
  | { kind: "delete"; key: string; context: VersionVector | null; strict: boolean; level: ConsistencyLevel | null };

/** A client's put as the coordinator runs it. */
export function putOp(key: string, value: StoredValue, o: WriteOptions): WriteOp {
  const { context, ifNoneMatch, strict, ttlMs } = o;
  return { kind: "put", key, value, context, ifNoneMatch, strict, ttlMs, level: o.consistency };
}

/** A client's delete as the coordinator runs it. */
export function deleteOp(key: string, o: DeleteOptions): WriteOp {
  return { kind: "delete", key, context: o.context, strict: o.strict, level: o.consistency };
}

// kvCoordinate: a write forwarded to a replica that coordinates it, and the write's result.

export function opToWire(op: WriteOp): Record<string, unknown> {
  const level = op.level === null ? null : levelToString(op.level);
  if (op.kind === "put") {
    return {
      op: "put",
      key: op.key,
      ct: op.value.contentType,
      data: op.value.data,
      ctx: vvToWire(op.context),
      ifNoneMatch: op.ifNoneMatch,
      strict: op.strict,
      ttl: op.ttlMs,
      level,
    };
  }
  return {
    op: "delete",
    key: op.key,
    ctx: op.context === null ? null : vvToWire(op.context),
    strict: op.strict,
    level,
  };
}

export function opFromWire(body: unknown): WriteOp {
  const o = obj(body, "kvCoordinate");
  const levelText = optStr(o, "level");
  const level = levelText === null ? null : parseConsistency(levelText);
  const kind = str(o, "op");
  const key = str(o, "key");
  if (kind === "put") {
    const ttl = o.ttl === null || o.ttl === undefined ? null : int(o, "ttl", 1);
    return {
      kind,
      key,
      value: { contentType: str(o, "ct"), data: bytes(o, "data") },
      context: vvFromWire(o.ctx),
      ifNoneMatch: bool(o, "ifNoneMatch"),
      strict: bool(o, "strict"),
      ttlMs: ttl,
      level,
    };
  }
  if (kind === "delete") {
    return {
      kind,
      key,
      context: o.ctx === null || o.ctx === undefined ? null : vvFromWire(o.ctx),
      strict: bool(o, "strict"),
      level,
    };
  }
  throw new MeshkvError("PROTOCOL_ERROR", `Malformed replication message: unknown op ${kind}`);
}

export function resultToWire(r: WriteResult): Record<string, unknown> {
  return { ctx: vvToWire(r.context), created: r.created, siblings: r.siblings };
}

export function resultFromWire(body: unknown): WriteResult {
  const o = obj(body, "kvCoordinate reply");
  return { context: vvFromWire(o.ctx), created: bool(o, "created"), siblings: int(o, "siblings") };
}

// kvGet: one key of one partition; the replica's copy and whether it is still acquiring the partition.

export interface GetRequest {
  p: number;
  key: string;
}

export function getRequestFromWire(body: unknown, partitions: number): GetRequest {
  const o = obj(body, "kvGet");
  return { p: partition(o, partitions), key: str(o, "key") };
}

export function getReplyToWire(s: Stored, acquiring: boolean): Record<string, unknown> {
  return { set: s.set.entries.length === 0 ? null : encodeSet(s.set), exp: s.expiresAt, acquiring };
}

export function getReplyFromWire(body: unknown): { stored: Stored; acquiring: boolean } {
  const reply = obj(body, "kvGet reply");
  const set = reply.set === null || reply.set === undefined ? emptySet<Uint8Array>() : decodeSet(bytes(reply, "set"));
  return { stored: { set, expiresAt: optNum(reply, "exp") }, acquiring: bool(reply, "acquiring") };
}

// kvMerge: versions made elsewhere, for the replica's copy or, with `hintFor`, as a hint for a down replica.

export function mergeToWire(p: number, key: string, s: Stored, hintFor: string | null): Record<string, unknown> {
  return { p, key, set: encodeSet(s.set), exp: s.expiresAt, hintFor };
}

export function mergeFromWire(body: unknown, partitions: number): { item: WireItem; hintFor: string | null } {
  const o = obj(body, "kvMerge");
  return { item: item(o, partitions), hintFor: optStr(o, "hintFor") };
}

// kvMergeBatch: several merges in one message (hint delivery, partition moves).

export function mergeBatchToWire(list: readonly WireItem[]): Record<string, unknown> {
  return { items: list };
}

export function mergeBatchFromWire(body: unknown, partitions: number, itemsMax: number): WireItem[] {
  return items(obj(body, "kvMergeBatch"), "items", partitions, itemsMax);
}

// kvScan: one page of a partition in key order (partition moves, listing).

/** The most keys one `kvScan` page may ask for (also the most items of one `kvMergeBatch`). */
export const SCAN_PAGE_KEYS_MAX = 10_000;

/** Checks a `kvScan` request body. */
export function scanRequest(
  body: unknown,
  partitions: number,
): {
  p: number;
  after: string | null;
  limit: number;
  keysOnly: boolean;
  tombstones: boolean;
  prefix: string;
  start: string | null;
  end: string | null;
} {
  const o = obj(body, "kvScan");
  const p = int(o, "p", 0, partitions - 1);
  const limit = int(o, "limit", 1, SCAN_PAGE_KEYS_MAX);
  return {
    p,
    after: optStr(o, "after"),
    limit,
    keysOnly: o.keysOnly === true,
    tombstones: o.tombstones === true,
    prefix: optStr(o, "prefix") ?? "",
    start: optStr(o, "start"),
    end: optStr(o, "end"),
  };
}
