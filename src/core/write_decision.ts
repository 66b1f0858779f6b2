/**
 * The write decision of a coordinating replica, as a pure function (after riak_kv's `put_core` beside its put
 * FSM): from what this replica stores for a key and one put or delete, the new stored state or the error the
 * client gets. The coordinator reads the local copy, calls `decideWrite` under the key's lock, writes the
 * result and replicates it; everything it decides on (the clock reading, the last stamp, the members, the
 * limits) comes in as arguments, so every rule here is tested without a node, a disk or a network.
 *
 * The rules, in the order they apply:
 * - create-only (`ifNoneMatch`) fails with `KEY_EXISTS` when a reader would see a value (every live sibling;
 *   with last-writer-wins only the latest write's, so a key whose latest write is a delete can be created);
 * - the write supersedes what its context covers (`update`, `version.ts`): a put without a context (an empty
 *   one) supersedes nothing, a delete without one (null) everything stored here; `strict` fails with
 *   `STALE_CONTEXT` unless the context covers everything stored here (compare-and-set);
 * - siblings-mode writes also supersede stored siblings with the very bytes they store (`coverSame`), so a
 *   retried write does not leave two copies of one value;
 * - a delete is a write of the format's tombstone record, so it keeps the causal history (Riak's tombstones);
 * - last-writer-wins stamps the record with a hybrid logical clock later than this replica's last stamp, the
 *   wall clock and every stamp stored (`hlc.ts`), and supersedes everything stored;
 * - the new set is pruned (`prune`), keeping the version entries of every member (they may still coordinate);
 * - it fails with `LIMIT_EXCEEDED` when it would hold more live siblings than `siblingsMax`, or take more
 *   encoded bytes than `setBytesMax` (a set must fit one mesh frame);
 * - a put's expiry is `nowMs + ttlMs` (none without a ttl); a delete keeps the stored expiry.
 *
 * The record format (value, tombstone, stamp) belongs to the cluster (`cluster/records.ts`); core may
 * import nothing from there, so the caller passes the few operations the decision needs as `RecordFormat`.
 */
import { encodeSet } from "./context.ts";
import { MeshkvError } from "../errors.ts";
import { compareHlc, type Hlc, hlcNow } from "./hlc.ts";
import type { Stored } from "./stored.ts";
import { equalBytes } from "./_bytes.ts";
import {
  contextOf,
  descends,
  type DvvSet,
  mergeVectors,
  prune,
  update,
  values,
  type VersionVector,
  type VvEntry,
} from "./version.ts";

/** One write as the coordinating replica makes it. `record` is the put's value already in the record format. */
export type Write =
  | {
    readonly kind: "put";
    readonly key: string;
    readonly record: Uint8Array;
    readonly context: VersionVector;
    readonly ifNoneMatch: boolean;
    readonly strict: boolean;
    readonly ttlMs: number | null;
  }
  | { readonly kind: "delete"; readonly key: string; readonly context: VersionVector | null; readonly strict: boolean };

/** The coordinating replica's side of a write, read by the caller so the decision stays pure. */
export interface WriteSite {
  /** The id this replica writes its dots with (`ReplicaStore.versionId`: node id and incarnation). */
  readonly versionId: string;
  /** Node ids of the ring's members: their version entries are never pruned (see `prune`). */
  readonly members: readonly string[];
  /** The wall clock (ms since the epoch), read once by the caller. */
  readonly nowMs: number;
  /** The last stamp this replica gave a last-writer-wins write (`HLC_ZERO` before the first). */
  readonly lastStamp: Hlc;
}

/** The few operations on value records the decision needs (the format itself lives in the cluster). */
export interface RecordFormat {
  /** The record of a delete. */
  readonly tombstone: Uint8Array;
  /** How many values a reader sees among `records`: every live one, or with `lww` at most the latest write's. */
  visibleCount(records: readonly Uint8Array[], lww: boolean): number;
  /** How many of `records` are values, not deletes. */
  liveCount(records: readonly Uint8Array[]): number;
  /** `record` with the last-writer-wins stamp `hlc` in front. */
  stamp(hlc: Hlc, record: Uint8Array): Uint8Array;
  /** The stamp of `record` (the zero stamp when it has none). */
  stampOf(record: Uint8Array): Hlc;
}

/** The keyspace's conflict mode, the data limits and the record format. */
export interface WriteRules {
  readonly conflicts: "siblings" | "lww";
  /** Most live siblings a key may hold. */
  readonly siblingsMax: number;
  /** Most bytes the encoded set of one key may take (every sibling with its versions). */
  readonly setBytesMax: number;
  readonly format: RecordFormat;
}

/**
 * The decision: the new stored state with what the client is told (`created`, `siblings`), or the error it
 * gets. Either way `lastStamp` is this replica's last stamp afterwards (a refused last-writer-wins write may
 * have used one), for the caller to keep.
 */
export type WriteDecision =
  | {
    readonly ok: true;
    readonly after: Stored;
    readonly created: boolean;
    readonly siblings: number;
    readonly lastStamp: Hlc;
  }
  | { readonly ok: false; readonly error: MeshkvError; readonly lastStamp: Hlc };

/** Decides `write` on a key whose stored state here is `before`. Pure: no I/O, no clock, no randomness. */
export function decideWrite(before: Stored, write: Write, site: WriteSite, rules: WriteRules): WriteDecision {
  const { format } = rules;
  const lww = rules.conflicts === "lww";
  const now = site.nowMs;
  const stored = values(before.set);
  const visibleBefore = format.visibleCount(stored, lww);
  let lastStamp = site.lastStamp;
  const refuse = (error: MeshkvError): WriteDecision => ({ ok: false, error, lastStamp });

  if (write.kind === "put" && write.ifNoneMatch && visibleBefore > 0) {
    return refuse(new MeshkvError("KEY_EXISTS", `Key exists: ${write.key}`, { details: { key: write.key } }));
  }
  const storedContext = contextOf(before.set);
  let context = write.context ?? storedContext;
  if (write.strict && !descends(context, storedContext)) {
    return refuse(
      new MeshkvError(
        "STALE_CONTEXT",
        `Stale context for ${write.key}: a newer write arrived since the read; read again and retry`,
        {
          details: { key: write.key },
        },
      ),
    );
  }
  let record = write.kind === "put" ? write.record : format.tombstone;
  if (lww) {
    // Last-writer-wins: the write is stamped later than anything stored here and supersedes all of it.
    lastStamp = stampAfter(lastStamp, stored, now, format);
    record = format.stamp(lastStamp, record);
    context = mergeVectors(context, storedContext);
  } else {
    context = coverSame(context, before.set, record);
  }
  const set = prune(update(before.set, context, record, site.versionId, now), now, activeIds(before, site.members));
  const live = format.liveCount(values(set));
  if (live > rules.siblingsMax) {
    return refuse(
      new MeshkvError(
        "LIMIT_EXCEEDED",
        `Over the siblingsMax limit: ${live} > ${rules.siblingsMax}: resolve the siblings of ${write.key} with a write that carries their context`,
        {
          details: { limit: "siblingsMax", max: rules.siblingsMax, actual: live, key: write.key },
        },
      ),
    );
  }
  const setBytes = encodeSet(set).length;
  if (setBytes > rules.setBytesMax) {
    return refuse(
      new MeshkvError(
        "LIMIT_EXCEEDED",
        `Over the setBytesMax limit: the versions of ${write.key} would take ${setBytes} bytes > ${rules.setBytesMax}: resolve its siblings with a write that carries their context`,
        {
          details: { limit: "setBytesMax", max: rules.setBytesMax, actual: setBytes, key: write.key },
        },
      ),
    );
  }
  const expiresAt = write.kind === "put" ? (write.ttlMs === null ? null : now + write.ttlMs) : before.expiresAt;
  return {
    ok: true,
    after: { set, expiresAt },
    created: write.kind === "put" && visibleBefore === 0,
    siblings: format.visibleCount(values(set), lww),
    lastStamp,
  };
}

/**
 * `context` extended to cover the stored siblings whose record is the very bytes this write stores, so writing a
 * value that is already a sibling replaces it instead of adding a copy (a blind write retried after a timeout
 * that had in fact been applied, by the SDK or by a forward to the next replica): readers would see one value
 * either way (`records.ts` shows each distinct record once), but copies would count toward `siblingsMax`. A
 * context entry covers every older dot of its node too, so only a run of identical records at the old end of an
 * entry is covered, never a different value older than an identical one.
 */
function coverSame(context: VersionVector, set: DvvSet<Uint8Array>, record: Uint8Array): VersionVector {
  let extra: VvEntry[] | null = null;
  for (const e of set.entries) {
    let j = e.values.length - 1;
    while (j >= 0 && equalBytes(e.values[j]!, record)) j--;
    if (j < e.values.length - 1) (extra ??= []).push({ node: e.node, counter: e.counter - (j + 1) });
  }
  return extra === null ? context : mergeVectors(context, extra);
}

/** A stamp later than `last`, the wall clock `nowMs`, and every stamp in `records`. */
function stampAfter(last: Hlc, records: readonly Uint8Array[], nowMs: number, format: RecordFormat): Hlc {
  let next = hlcNow(last, nowMs);
  for (const r of records) {
    const s = format.stampOf(r);
    if (compareHlc(next, s) <= 0) next = { wallMs: s.wallMs, logical: s.logical + 1 };
  }
  return next;
}

/**
 * Version ids of the stored entries whose node is still a member (a version id is `nodeId.incarnation`):
 * `prune` never drops them, since that node may still coordinate a write with its next dot.
 */
function activeIds(before: Stored, members: readonly string[]): Set<string> {
  const owners = new Set(members);
  const ids = before.set.entries.map((e) => e.node);
  return new Set(
    ids.filter((id) => owners.has(id.slice(0, id.lastIndexOf(".") < 0 ? id.length : id.lastIndexOf(".")))),
  );
}
