/**
 * `KvBackend`: the contract between the client API and whatever stores the data. The HTTP layer parses and
 * checks every request (keys, sizes, consistency levels, context tokens, limits) and then calls exactly one
 * of these methods; the backend decides and stores. `src/cluster/cluster_backend.ts` implements it: the
 * request coordinator of a cluster node (Dynamo's coordinator, with N/R/W quorums, sloppy quorums and hinted
 * handoff), on one node or many. The contract lives here, in `src/kv/`, so that both sides import it and
 * neither imports the other: src/http speaks it to clients, src/cluster implements it (DESIGN.md section 1).
 *
 * The contract speaks in domain values, not wire formats: causal contexts are `VersionVector`s (the HTTP
 * layer turns them into opaque tokens with `encodeContext`/`decodeContext`), values are bytes plus a content
 * type, levels are parsed `ConsistencyLevel`s. Failures are `MeshkvError`s whose codes map to statuses in
 * `src/http/errors.ts`: `KEY_EXISTS` (create-only found a value), `STALE_CONTEXT` (strict write lost a race),
 * `LIMIT_EXCEEDED` (too many siblings, `DATA_LIMITS` in `limits.ts`), `QUORUM_UNMET`, `TIMEOUT`,
 * `NODE_LEAVING`, `UNSUPPORTED`.
 */
import type { ConsistencyLevel } from "../core/quorum.ts";
import type { MemberInfo } from "../core/membership.ts";
import type { VersionVector } from "../core/version.ts";

/**
 * One member, as `members()` and the admin API show it: the record gossip carries (`core/membership.ts`, the one
 * definition). A backend may add fields of its own view (the cluster adds `self`, `lastHeartbeatAgoMs`,
 * `statusAgeMs`).
 */
export type { MemberInfo };

/** One value as stored: the bytes and the content type they were written with. */
export interface StoredValue {
  readonly contentType: string;
  readonly data: Uint8Array;
}

export interface ReadOptions {
  /** null: the backend's default level. */
  readonly consistency: ConsistencyLevel | null;
  readonly signal?: AbortSignal;
}

export interface ReadResult {
  /** Live siblings (deleted ones left out); empty when the key is absent, deleted or expired. */
  readonly values: readonly StoredValue[];
  /** What a write must carry to supersede these values; empty when the key was never written. */
  readonly context: VersionVector;
  /** When the key expires (ms since the epoch), or null. */
  readonly expiresAt: number | null;
}

export interface WriteOptions {
  /**
   * The context of the read this write supersedes; empty for a blind write, which supersedes nothing, so
   * whatever is stored stays beside it as a sibling.
   */
  readonly context: VersionVector;
  /** Create only: fail with `KEY_EXISTS` when a live value is stored (HTTP `If-None-Match: *`). */
  readonly ifNoneMatch: boolean;
  /** Fail with `STALE_CONTEXT` instead of making a sibling when `context` does not cover what is stored. */
  readonly strict: boolean;
  readonly consistency: ConsistencyLevel | null;
  /** Expire the key this long after the write; null: never. The latest write sets the key's expiry. */
  readonly ttlMs: number | null;
  readonly signal?: AbortSignal;
}

export interface DeleteOptions {
  /**
   * The context of the read this delete supersedes. null deletes whatever the node holds now (the backend
   * reads the context itself, as Riak does for a delete without a vector clock).
   */
  readonly context: VersionVector | null;
  readonly strict: boolean;
  readonly consistency: ConsistencyLevel | null;
  readonly signal?: AbortSignal;
}

export interface WriteResult {
  /** The context of the key after the write: a read-your-write token for the next write. */
  readonly context: VersionVector;
  /** True when no live value was stored before (HTTP 201 rather than 204). */
  readonly created: boolean;
  /** Live siblings after the write (1 when this write superseded everything; 0 after a full delete). */
  readonly siblings: number;
}

export interface ListOptions {
  /** Only keys that start with this (empty: every key). */
  readonly prefix: string;
  /** First key, inclusive (null: from the start of the prefix). */
  readonly start: string | null;
  /** Last key, exclusive (null: to the end of the prefix). */
  readonly end: string | null;
  /** Resume strictly after this key (from the previous page's `next`). */
  readonly after: string | null;
  /** Most items in the page, at least 1. */
  readonly limit: number;
  /** Leave out values and contexts. */
  readonly keysOnly: boolean;
  readonly consistency: ConsistencyLevel | null;
  readonly signal?: AbortSignal;
}

export interface ListItem {
  readonly key: string;
  /** Live siblings; empty in keys-only mode. */
  readonly values: readonly StoredValue[];
  /** Empty in keys-only mode. */
  readonly context: VersionVector;
  readonly expiresAt: number | null;
}

export interface ListPage {
  /** Keys in ascending order of their UTF-8 bytes. */
  readonly items: readonly ListItem[];
  /** The key to resume after, or null when the range is exhausted. */
  readonly next: string | null;
}

export type BatchOp =
  | { readonly type: "get"; readonly key: string; readonly options: ReadOptions }
  | { readonly type: "put"; readonly key: string; readonly value: StoredValue; readonly options: WriteOptions }
  | { readonly type: "delete"; readonly key: string; readonly options: DeleteOptions };

/**
 * One result per op, in order. The ops apply in order, each atomic on its key, so an op sees the effect of every
 * op before it in the batch; a failed op does not stop the others, and the batch as a whole is not atomic
 * across keys (not a transaction).
 */
export type BatchResult =
  | { readonly type: "get"; readonly ok: true; readonly result: ReadResult }
  | { readonly type: "put" | "delete"; readonly ok: true; readonly result: WriteResult }
  | { readonly type: BatchOp["type"]; readonly ok: false; readonly error: Error };

export type ChangeType = "put" | "delete" | "gap" | "ready";

/**
 * One entry of the change feed. A watch starts with `ready` (its id is the position the watch starts from)
 * or with `gap`, which says events were lost (the resume point is older than what the node keeps, the node
 * restarted, or the watcher fell behind): the watcher should re-read what it cares about. `gap` can also
 * come later, when a watcher reads too slowly.
 */
export interface ChangeEvent {
  /** Opaque, increasing within one feed; pass it back as `after` (SSE `Last-Event-ID`) to resume. */
  readonly id: string;
  readonly type: ChangeType;
  /** null for `gap` and `ready`. */
  readonly key: string | null;
  /** The live siblings after the change (empty for `delete`, `gap` and `ready`, and when `valuesOmitted`). */
  readonly values: readonly StoredValue[];
  /** True when the values were too large to carry in the event: read the key to get them. */
  readonly valuesOmitted: boolean;
  readonly context: VersionVector;
}

export interface WatchOptions {
  readonly prefix: string;
  /** Resume after this event id (null: only changes from now on). */
  readonly after: string | null;
  /** Ends the iteration. */
  readonly signal: AbortSignal;
}

/** One metric sample the backend adds to `/metrics` (a gauge or counter in Prometheus text format). */
export interface MetricSample {
  readonly name: string;
  readonly help: string;
  readonly type: "gauge" | "counter";
  readonly value: number;
  readonly labels?: Readonly<Record<string, string>>;
}

/** Where one key lives, for the dashboard's ring picture (`KvBackend.placement`). */
export interface KeyPlacement {
  /** The ring partition of the key (0 to partitions - 1). */
  readonly partition: number;
  /** The store partition (the ring partition within the key's replica class). */
  readonly storePartition: number;
  /** The replicas in preference order: the first is the natural coordinator. */
  readonly replicas: readonly string[];
}

export interface KvBackend {
  /** The id of the node serving the request. */
  readonly nodeId: string;
  get(key: string, options: ReadOptions): Promise<ReadResult>;
  put(key: string, value: StoredValue, options: WriteOptions): Promise<WriteResult>;
  delete(key: string, options: DeleteOptions): Promise<WriteResult>;
  list(options: ListOptions): Promise<ListPage>;
  /** Runs `ops` in order (see `BatchResult`). */
  batch(ops: readonly BatchOp[]): Promise<BatchResult[]>;
  /** The change feed: ends when `options.signal` aborts or the backend closes. */
  watch(options: WatchOptions): AsyncIterable<ChangeEvent>;
  /** Whether `after` is an event id this feed could have issued (the HTTP layer answers 400 otherwise). */
  isEventId(after: string): boolean;
  /** Cluster state for `/v1/admin/status`: members and health, hint backlog, anti-entropy progress. */
  status(): Promise<Record<string, unknown>>;
  /** Partitions and their owners, for `/v1/admin/ring`. */
  ring(): Promise<Record<string, unknown>>;
  /** The members this node knows, for `/v1/admin/status` (empty before the node has a member table). */
  members(): Promise<readonly MemberInfo[]>;
  /** Where `key` lives, for the dashboard; absent when the backend has no ring (`/ui/placement` answers 501). */
  placement?(key: string): Promise<KeyPlacement>;
  /** Joins the cluster through `seeds`; absent when the backend cannot (the route answers 501 UNSUPPORTED). */
  join?(seeds: readonly string[]): Promise<Record<string, unknown>>;
  /** Hands data off and leaves (giving up after `timeoutMs`, else the backend's own bound); absent when the backend cannot. */
  leave?(options?: { timeoutMs?: number }): Promise<Record<string, unknown>>;
  /**
   * Takes a dead member out of the ring for good (its partitions are rebuilt from the surviving replicas), or
   * with `dryRun` only returns the plan; absent when the backend cannot.
   */
  remove?(node: string, options: { dryRun: boolean }): Promise<Record<string, unknown>>;
  /**
   * The preview of a join, leave or removal of `node` (partitions that would move, where, keys and bytes);
   * changes nothing; absent when the backend cannot change membership. `joiner` describes a node not yet a member.
   */
  plan?(
    change: "join" | "leave" | "remove",
    node: string,
    joiner?: { capacity: number; datacenter: string; rack?: string },
  ): Promise<Record<string, unknown>>;
  /** False while the node starts or leaves: `/health` answers 503 so load balancers stop sending. */
  ready(): boolean;
  /** Extra samples for `/metrics`: storage stats, hint backlog, anti-entropy repairs, quorum failures. */
  metrics?(): readonly MetricSample[];
  close(): Promise<void>;
}
