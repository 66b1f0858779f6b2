/**
 * The single-node backend (N = 1): the whole client API on one storage engine, with real causal versions.
 * It is what `meshkv start` serves until the node joins a cluster, and what the API tests run against; the
 * cluster coordinator implements the same `KvBackend` for many nodes.
 *
 * Each key holds one DVVSet (`core/version.ts`, Almeida et al. 2014) whose values are records from
 * `local_records.ts`: a write is `update(stored, context, record, nodeId, now)`, so a write whose context does
 * not cover what is stored keeps the stored values as siblings, and a delete is a tombstone record that
 * races like any write. The encoded set is the engine value; when every live value is gone the set moves into
 * an engine tombstone's `meta`, so compaction can purge it (there are no other replicas to wait for) while
 * reads in the meantime still know the history. Read-modify-write of one key runs under a per-key lock, so
 * concurrent writers through this node never lose each other's values.
 *
 * All keys live in engine partition 0: one node owns the whole ring, and one ordered range serves listing.
 */
import { Quorum, type ConsistencyLevel } from "../core/quorum.ts";
import { contextOf, descends, emptySet, prune, update, values, type DvvSet, type VersionVector } from "../core/version.ts";
import { decodeSet, encodeSet } from "../core/context.ts";
import { MeshkvError } from "../errors.ts";
import type {
  BatchOp, BatchResult, ChangeEvent, DeleteOptions, KvBackend, ListOptions, ListPage, MemberInfo, MetricSample,
  ReadOptions, ReadResult, StoredValue, WatchOptions, WriteOptions, WriteResult,
} from "../kv/backend.ts";
import { DATA_LIMITS as LIMITS } from "../kv/limits.ts";
import type { Clock, FileSystem } from "../runtime/types.ts";
import { decodeKey, openEngine, type Engine, type EngineOptions } from "../storage/mod.ts";
import { ChangeFeed, eventValues, type FeedLimits } from "./change_feed.ts";
import { KeyLocks } from "./key_locks.ts";
import { compareUtf8 } from "./replica.ts";
import { counter, gauge, storageMetrics } from "./_metrics.ts";
import { encodeValue, liveCount, liveValues, TOMBSTONE } from "./records.ts";

const PARTITION = 0;

export interface LocalBackendOptions {
  fs: FileSystem;
  /** The engine's directory. */
  dir: string;
  clock: Clock;
  /** This node's id: the coordinator id in every version it writes. */
  nodeId: string;
  datacenter?: string;
  rack?: string;
  /** Storage engine options (the clock is the one above). */
  engine?: Omit<EngineOptions, "clock">;
  feed?: Partial<FeedLimits>;
}

/** Opens the store in `options.dir` and returns a backend serving it. */
export async function openLocalBackend(options: LocalBackendOptions): Promise<LocalBackend> {
  if (typeof options.nodeId !== "string" || options.nodeId.length === 0) throw new TypeError("nodeId must be a non-empty string");
  // Every sibling of a key is one engine value, so the engine must take siblingsMax values of the largest size.
  const valueBytesMax = LIMITS.siblingsMax * LIMITS.valueBytesMax + 1024 * 1024;
  const engine = await openEngine(options.fs, options.dir, { valueBytesMax, ...options.engine, clock: options.clock });
  return new LocalBackend(engine, options);
}

interface Stored {
  set: DvvSet<Uint8Array>;
  expiresAt: number | null;
}

export class LocalBackend implements KvBackend {
  readonly nodeId: string;
  readonly #engine: Engine;
  readonly #clock: Clock;
  readonly #datacenter: string;
  readonly #rack: string;
  readonly #feed: ChangeFeed;
  readonly #locks = new KeyLocks();
  readonly #active: ReadonlySet<string>;
  readonly #startedMs: number;
  #closed = false;

  /** @internal use `openLocalBackend`. */
  constructor(engine: Engine, options: LocalBackendOptions) {
    this.nodeId = options.nodeId;
    this.#engine = engine;
    this.#clock = options.clock;
    this.#datacenter = options.datacenter ?? "local";
    this.#rack = options.rack ?? "local";
    this.#startedMs = options.clock.monotonic();
    this.#feed = new ChangeFeed(options.clock.now(), options.feed);
    this.#active = new Set([options.nodeId]);
  }

  /** Checks the level against one replica (an explicit r or w above 1 cannot be met: INVALID_ARGUMENT). */
  #checkLevel(level: ConsistencyLevel | null): void {
    if (level === null) return;
    const q = new Quorum({ level, replicas: [{ node: this.nodeId, datacenter: this.#datacenter }], localDatacenter: this.#datacenter });
    q.add({ node: this.nodeId, ok: true });
    if (q.outcome().status !== "succeeded") throw q.error();
  }

  #checkOpen(signal: AbortSignal | undefined): void {
    if (this.#closed) throw new MeshkvError("CLOSED", "The node is shutting down");
    if (signal?.aborted) throw new MeshkvError("TIMEOUT", "The request was cancelled before it ran");
  }

  async #read(key: string): Promise<Stored> {
    const entry = await this.#engine.get(PARTITION, key, { includeTombstones: true });
    if (!entry) return { set: emptySet(), expiresAt: null };
    if (entry.tombstone) return { set: entry.meta.length > 0 ? decodeSet(entry.meta) : emptySet(), expiresAt: null };
    return { set: decodeSet(entry.value), expiresAt: entry.expiresAt };
  }

  async get(key: string, options: ReadOptions): Promise<ReadResult> {
    this.#checkOpen(options.signal);
    this.#checkLevel(options.consistency);
    const { set, expiresAt } = await this.#read(key);
    const live = liveValues(values(set));
    return { values: live, context: contextOf(set), expiresAt: live.length > 0 ? expiresAt : null };
  }

  async put(key: string, value: StoredValue, options: WriteOptions): Promise<WriteResult> {
    this.#checkOpen(options.signal);
    this.#checkLevel(options.consistency);
    return this.#locks.run(key, async () => {
      const before = await this.#read(key);
      const liveBefore = liveCount(values(before.set));
      if (options.ifNoneMatch && liveBefore > 0) {
        throw new MeshkvError("KEY_EXISTS", `Key exists: ${key}`, { details: { key } });
      }
      this.#checkStrict(key, options.strict, options.context, before.set);
      const next = this.#apply(before.set, options.context, encodeValue(value));
      const live = liveCount(values(next));
      if (live > LIMITS.siblingsMax) {
        throw new MeshkvError("LIMIT_EXCEEDED", `Over the siblingsMax limit: ${live} > ${LIMITS.siblingsMax}: resolve the siblings of ${key} with a write that carries their context`, {
          details: { limit: "siblingsMax", max: LIMITS.siblingsMax, actual: live, key },
        });
      }
      const ttl = options.ttlMs === null ? {} : { ttlMs: options.ttlMs };
      await this.#engine.put(PARTITION, key, encodeSet(next), ttl);
      this.#publish(key, next);
      return { context: contextOf(next), created: liveBefore === 0, siblings: live };
    });
  }

  async delete(key: string, options: DeleteOptions): Promise<WriteResult> {
    this.#checkOpen(options.signal);
    this.#checkLevel(options.consistency);
    return this.#locks.run(key, async () => {
      const before = await this.#read(key);
      const context = options.context ?? contextOf(before.set);
      this.#checkStrict(key, options.strict, context, before.set);
      if (before.set.entries.length === 0 && context.length === 0) return { context: [], created: false, siblings: 0 };
      const next = this.#apply(before.set, context, TOMBSTONE);
      const live = liveCount(values(next));
      if (live === 0) await this.#engine.delete(PARTITION, key, { meta: encodeSet(next) });
      else await this.#engine.put(PARTITION, key, encodeSet(next), before.expiresAt === null ? {} : { expiresAt: before.expiresAt });
      this.#publish(key, next);
      return { context: contextOf(next), created: false, siblings: live };
    });
  }

  #checkStrict(key: string, strict: boolean, context: VersionVector, stored: DvvSet<Uint8Array>): void {
    if (strict && !descends(context, contextOf(stored))) {
      throw new MeshkvError("STALE_CONTEXT", `Stale context for ${key}: a newer write arrived since the read; read again and retry`, {
        details: { key },
      });
    }
  }

  #apply(set: DvvSet<Uint8Array>, context: VersionVector, record: Uint8Array): DvvSet<Uint8Array> {
    const now = this.#clock.now();
    return prune(update(set, context, record, this.nodeId, now), now, this.#active);
  }

  #publish(key: string, set: DvvSet<Uint8Array>): void {
    const live = liveValues(values(set));
    const carried = eventValues(live, LIMITS.watchValueBytesMax);
    this.#feed.publish({ type: live.length > 0 ? "put" : "delete", key, context: contextOf(set), ...carried });
  }

  async list(options: ListOptions): Promise<ListPage> {
    this.#checkOpen(options.signal);
    this.#checkLevel(options.consistency);
    let start = options.start;
    if (options.after !== null) {
      const successor = options.after + "\u0000";
      if (start === null || compareUtf8(successor, start) > 0) start = successor;
    }
    const items: ListPage["items"][number][] = [];
    let more = false;
    const iter = this.#engine.iterate({
      partition: PARTITION,
      ...(options.prefix !== "" ? { prefix: options.prefix } : {}),
      ...(start !== null ? { start } : {}),
      ...(options.end !== null ? { end: options.end } : {}),
      limit: options.limit + 1,
      keysOnly: options.keysOnly,
    });
    for await (const e of iter) {
      if (items.length === options.limit) {
        more = true;
        break;
      }
      const key = decodeKey(e.key);
      if (options.keysOnly) {
        items.push({ key, values: [], context: [], expiresAt: e.expiresAt });
        continue;
      }
      const set = decodeSet(e.value);
      items.push({ key, values: liveValues(values(set)), context: contextOf(set), expiresAt: e.expiresAt });
    }
    return { items, next: more ? items[items.length - 1]!.key : null };
  }

  async batch(ops: readonly BatchOp[]): Promise<BatchResult[]> {
    const out: BatchResult[] = [];
    for (const op of ops) {
      try {
        if (op.type === "get") out.push({ type: "get", ok: true, result: await this.get(op.key, op.options) });
        else if (op.type === "put") out.push({ type: "put", ok: true, result: await this.put(op.key, op.value, op.options) });
        else out.push({ type: "delete", ok: true, result: await this.delete(op.key, op.options) });
      } catch (error) {
        if (!(error instanceof Error)) throw error;
        out.push({ type: op.type, ok: false, error });
      }
    }
    return out;
  }

  watch(options: WatchOptions): AsyncIterable<ChangeEvent> {
    this.#checkOpen(undefined);
    return this.#feed.watch(options.prefix, options.after, options.signal);
  }

  isEventId(after: string): boolean {
    return ChangeFeed.isId(after);
  }

  ready(): boolean {
    return !this.#closed;
  }

  async status(): Promise<Record<string, unknown>> {
    this.#checkOpen(undefined);
    return {
      nodeId: this.nodeId,
      mode: "single-node",
      datacenter: this.#datacenter,
      replicas: 1,
      uptimeMs: Math.round(this.#clock.monotonic() - this.#startedMs),
      members: await this.members(),
      hints: { pending: 0, bytes: 0 },
      antiEntropy: { repairs: 0, lastExchangeMs: null },
      watchers: this.#feed.watchers,
      lastEventId: this.#feed.lastId,
      storage: this.#engine.stats(),
      recovery: this.#engine.recovery,
    };
  }

  async ring(): Promise<Record<string, unknown>> {
    return { partitions: 1, replicas: 1, owners: [{ partition: 0, nodes: [this.nodeId] }] };
  }

  async members(): Promise<readonly MemberInfo[]> {
    return [{ id: this.nodeId, address: "local", datacenter: this.#datacenter, rack: this.#rack, capacity: 1, heartbeat: 0, incarnation: 0, status: this.#closed ? "left" : "alive" }];
  }

  metrics(): readonly MetricSample[] {
    if (this.#closed) return [];
    const s = this.#engine.stats();
    return [
      ...storageMetrics(s),
      gauge("meshkv_hints_pending", "Hinted-handoff hints waiting for delivery (always 0 on a single node)", 0),
      counter("meshkv_anti_entropy_repairs_total", "Keys repaired by anti-entropy (always 0 on a single node)", 0),
      gauge("meshkv_watchers", "Open watch streams", this.#feed.watchers),
    ];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#feed.close();
    await this.#locks.idle();
    await this.#engine.close();
  }
}
