/**
 * The replica store: this node's copy of the partitions it replicates, on one storage engine.
 *
 * Each key's engine record holds one DVVSet (Almeida et al. 2014, `core/version.ts`) of value records
 * (`records.ts`); engine partition = ring partition, so one partition is one ordered range that can be
 * listed, streamed to another node and dropped. Two kinds of change reach a replica, as in Riak KV:
 * - `readModifyWrite`: this node is the write's coordinating replica and makes the new version itself
 *   (`core/write_decision.ts`: `update(stored, context, value, versionId, now)`), so the new dot carries this
 *   node's version id;
 * - `merge`: versions made elsewhere arrive (replication, read repair, anti-entropy, hints, handoff) and are
 *   merged (`merge(stored, incoming)`), which is commutative, associative and idempotent, so replicas that
 *   receive the same versions in any order and any number of times end up equal.
 * Both run under a per-key lock so concurrent changes of one key never lose each other's versions; the lock
 * covers read, decide and memtable, and the log sync is awaited after it. A read finds the state the last write
 * of the key left when the write cache still holds it (`write_cache.ts`), else reads the engine.
 *
 * When every value of a set is a delete marker, the set moves into an engine tombstone's `meta`: reads still
 * know the history, and compaction may purge it only when `tombstonePurgeable` says every replica holds it.
 *
 * Every change also updates its partition's tictac hash tree (`core/hash_tree.ts`) with the old and new version
 * digests, so anti-entropy compares replicas without reading data; trees live in memory, rebuilt by a scan at open.
 *
 * The version id: a node that lost its disk must not reuse its old version entries (it would hand out dots that
 * exist elsewhere), so dots carry `nodeId.<4 random hex>`, drawn at creation and kept in its `VERSION_ID` file.
 */
import { loadVersionId, makeDurableDir } from "./_files.ts";
import { compareUtf8, equalBytes } from "../core/_bytes.ts";
import { decodeSet, encodeSet, versionDigest, wireVersionDigest } from "../core/context.ts";
import { HashTree, segmentOf } from "../core/hash_tree.ts";
import { entrySet, mergedExpiry, type Stored } from "../core/stored.ts";
import { type DvvSet, emptySet, merge, sameVersion, values } from "../core/version.ts";
import type { Clock, FileSystem, Random } from "../runtime/types.ts";
import { decodeKey, type Engine, type EngineOptions, openEngine } from "../storage/mod.ts";
import type { TombstoneInfo } from "../storage/options.ts";
import { liveCount } from "./records.ts";
import { KeyLocks } from "./key_locks.ts";
import { WriteCache } from "./write_cache.ts";

/** Re-exported where the cluster used to define it; the one definition is `core/stored.ts`. */
export type { Stored };
export { makeDurableDir } from "./_files.ts";
export { mergedExpiry } from "../core/stored.ts";

export interface ReplicaStoreOptions {
  fs: FileSystem;
  /** The engine's directory. */
  dir: string;
  clock: Clock;
  random: Random;
  nodeId: string;
  /** Hash tree segments per partition (a power of the fanout, 32). Default 1024: 8 KiB of tree per partition. */
  treeSegments?: number;
  engine?: Omit<EngineOptions, "clock" | "tombstonePurgeable">;
  /** Whether compaction may drop a deleted key's history (every replica is known to hold the delete). */
  tombstonePurgeable?: (partition: number, key: string, deletedAtMs: number) => boolean;
  /** The engine's `valueBytesMax`, above `DATA_LIMITS.setBytesMax`: merges are never refused for their size. */
  engineValueBytesMax: number;
  /** Bound of the states kept for the next write of a hot key (`write_cache.ts`); 0 keeps none. */
  writeCacheBytes?: number;
}

/** One key as a peer sends or receives it: its partition, the encoded set and its expiry. */
export interface WireItem {
  readonly p: number;
  readonly key: string;
  readonly set: Uint8Array;
  readonly exp: number | null;
}

export type ChangeListener = (key: string, stored: Stored) => void;

/** Bytes of keys and sets in one `scan` page (listing, partition moves): a quarter of a 4 MiB mesh frame. */
export const SCAN_PAGE_BYTES_MAX = 1024 * 1024;

/** Opens (or creates) the store in `o.dir` and rebuilds its hash trees. */
export async function openReplicaStore(o: ReplicaStoreOptions): Promise<ReplicaStore> {
  await makeDurableDir(o.fs, o.dir);
  const versionId = await loadVersionId(o.fs, o.dir, o.nodeId, o.random);
  let store: ReplicaStore | null = null;
  const engine = await openEngine(o.fs, `${o.dir}/data`, {
    valueBytesMax: o.engineValueBytesMax,
    ...o.engine,
    clock: o.clock,
    tombstonePurgeable: (info: TombstoneInfo) => store?.purgeable(info) ?? false,
  });
  store = new ReplicaStore(engine, versionId, o);
  await store.rebuildTrees();
  return store;
}

export class ReplicaStore {
  /** The coordinator id this node writes into versions. */
  readonly versionId: string;
  readonly engine: Engine;
  readonly #o: ReplicaStoreOptions;
  readonly #locks = new KeyLocks();
  readonly #written: WriteCache;
  readonly #trees = new Map<number, HashTree>();
  readonly #keys = new Map<number, number>();
  readonly #listeners = new Set<ChangeListener>();
  readonly #segments: number;

  /** @internal use `openReplicaStore`. */
  constructor(engine: Engine, versionId: string, o: ReplicaStoreOptions) {
    this.engine = engine;
    this.versionId = versionId;
    this.#o = o;
    this.#segments = o.treeSegments ?? 1024;
    this.#written = new WriteCache(o.writeCacheBytes);
  }

  /** Runs on every change of a stored set (the change feed). */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The hash tree of partition `p` (empty when nothing is stored there). */
  tree(p: number): HashTree {
    let t = this.#trees.get(p);
    if (!t) this.#trees.set(p, t = new HashTree({ segments: this.#segments, fanout: 32 }));
    return t;
  }

  get treeSegments(): number {
    return this.#segments;
  }

  /** Partitions holding at least one key (deleted keys' history included). */
  partitionsHeld(): number[] {
    return [...this.#keys.entries()].filter(([, n]) => n > 0).map(([p]) => p).sort((a, b) => a - b);
  }

  keyCount(p: number): number {
    return this.#keys.get(p) ?? 0;
  }

  /** Rebuilds every partition's hash tree and key count from storage. */
  async rebuildTrees(): Promise<void> {
    this.#trees.clear();
    this.#keys.clear();
    for await (const e of this.engine.iterate({ includeTombstones: true })) {
      const set = entrySet(e);
      if (set === null) continue;
      this.tree(e.partition).update(decodeKey(e.key), null, versionDigest(set));
      this.#keys.set(e.partition, (this.#keys.get(e.partition) ?? 0) + 1);
    }
  }

  /** What is stored for the key: the write cache's entry when it holds one (the same, see `write_cache.ts`). */
  async read(p: number, key: string): Promise<Stored> {
    const written = this.#written.get(p, key);
    if (written !== undefined) return written;
    const e = await this.engine.get(p, key, { includeTombstones: true });
    if (!e) return { set: emptySet(), expiresAt: null };
    return { set: entrySet(e) ?? emptySet(), expiresAt: e.tombstone ? null : e.expiresAt };
  }

  /**
   * Read-modify-write of one key under its lock: `fn` gets what is stored and returns the new state (or
   * throws to leave it unchanged). `decided` is told the new state as soon as it is known, before it is written,
   * so a coordinator can send it to the other replicas while this one writes (their log syncs overlap). Returns
   * both states once the write is durable here.
   */
  async readModifyWrite(
    p: number,
    key: string,
    fn: (before: Stored) => Stored,
    decided?: (after: Stored) => void,
  ): Promise<{ before: Stored; after: Stored }> {
    let durable!: Promise<void>;
    const done = await this.#locks.run(key, async () => {
      const before = await this.read(p, key);
      const after = fn(before);
      decided?.(after);
      ({ durable } = await this.#stage(p, key, before, after));
      return { before, after };
    });
    await this.#settle(key, done.after, durable);
    return done;
  }

  /** Merges versions made elsewhere. Returns the merged state and whether anything changed. */
  async merge(
    p: number,
    key: string,
    incoming: DvvSet<Uint8Array>,
    expiresAt: number | null,
  ): Promise<{ changed: boolean; after: Stored }> {
    let durable: Promise<void> | null = null;
    const done = await this.#locks.run(key, async () => {
      const before = await this.read(p, key);
      const set = merge(before.set, incoming);
      const exp = mergedExpiry(before, { set: incoming, expiresAt });
      if (sameVersion(set, before.set) && exp === before.expiresAt) return { changed: false, after: before };
      const after = { set, expiresAt: exp };
      ({ durable } = await this.#stage(p, key, before, after));
      return { changed: true, after };
    });
    if (durable !== null) await this.#settle(key, done.after, durable);
    return done;
  }

  /**
   * Writes a key's new state up to the memtable (engine `stage`), under its lock: the next writer of the key reads
   * it once the lock is free, not one log sync later. Returns the durability (in an object, or `await` would
   * flatten it), which the caller awaits outside the lock.
   */
  async #stage(p: number, key: string, before: Stored, after: Stored): Promise<{ durable: Promise<void> }> {
    const bytes = encodeSet(after.set);
    const live = liveCount(values(after.set)) > 0;
    this.#written.delete(key); // a write that fails below leaves no entry
    const { durable } = !live
      ? await this.engine.stage(p, key, null, { meta: bytes })
      : await this.engine.stage(p, key, bytes, after.expiresAt === null ? {} : { expiresAt: after.expiresAt });
    this.#written.set(p, key, after, live);
    durable.catch(() => {}); // handled where it is awaited, after the lock (a failed log fails the engine)
    const had = before.set.entries.length > 0;
    this.tree(p).update(key, had ? versionDigest(before.set) : null, versionDigest(after.set));
    if (!had) this.#keys.set(p, (this.#keys.get(p) ?? 0) + 1);
    return { durable };
  }

  /** Waits for a staged write to be durable, then tells the change feed (a key's writes settle in log order). */
  async #settle(key: string, after: Stored, durable: Promise<void>): Promise<void> {
    await durable;
    for (const l of this.#listeners) l(key, after);
  }

  /**
   * Removes a key this node no longer replicates (after handing it off), only if it still holds the versions
   * that were handed off (`digest`): a write that arrived meanwhile stays, to be handed off next round.
   */
  async dropIfUnchanged(p: number, key: string, digest: Uint8Array): Promise<boolean> {
    return await this.#locks.run(key, async () => {
      const before = await this.read(p, key);
      if (before.set.entries.length === 0) return false;
      const current = versionDigest(before.set);
      if (!equalBytes(current, digest)) return false;
      // An engine tombstone without meta: the history goes too, as this node holds no replica any more.
      this.#written.delete(key);
      await this.engine.delete(p, key);
      this.tree(p).update(key, current, null);
      this.#keys.set(p, Math.max(0, (this.#keys.get(p) ?? 1) - 1));
      return true;
    });
  }

  /**
   * One page of partition `p` in key order, strictly after `after` (null: from the start): every key with its
   * encoded set, deleted keys' history included when `tombstones`. A page holds at most `limit` keys and about
   * `SCAN_PAGE_BYTES_MAX` of sets (at least one key), so it always fits one mesh frame (a write keeps a set within
   * `DATA_LIMITS.setBytesMax`, 3.5 MiB).
   */
  async scan(
    p: number,
    o: {
      after: string | null;
      limit: number;
      keysOnly: boolean;
      tombstones: boolean;
      prefix?: string;
      start?: string | null;
      end?: string | null;
    },
  ): Promise<{ items: WireItem[]; next: string | null }> {
    let start = o.start ?? null;
    if (o.after !== null) {
      const successor = o.after + "\u0000";
      if (start === null || compareUtf8(successor, start) > 0) start = successor;
    }
    const items: WireItem[] = [];
    let more = false;
    const iter = this.engine.iterate({
      partition: p,
      includeTombstones: o.tombstones,
      limit: o.limit + 1,
      keysOnly: false,
      ...(o.prefix ? { prefix: o.prefix } : {}),
      ...(start !== null ? { start } : {}),
      ...(o.end ? { end: o.end } : {}),
    });
    let bytes = 0;
    for await (const e of iter) {
      if (items.length === o.limit) {
        more = true;
        break;
      }
      const set = entrySet(e);
      if (set === null) continue;
      if (!o.tombstones && liveCount(values(set)) === 0) continue;
      const bytesHere = o.keysOnly ? e.key.length : e.key.length + (e.tombstone ? e.meta.length : e.value.length);
      if (items.length > 0 && bytes + bytesHere > SCAN_PAGE_BYTES_MAX) {
        more = true;
        break;
      }
      bytes += bytesHere;
      items.push({
        p,
        key: decodeKey(e.key),
        set: o.keysOnly ? new Uint8Array(0) : e.tombstone ? e.meta : e.value,
        exp: e.tombstone ? null : e.expiresAt,
      });
    }
    return { items, next: more ? items[items.length - 1]!.key : null };
  }

  /** Keys of partition `p` in the given tree segments, with their wire version digests (anti-entropy). */
  async keysInSegments(p: number, segments: ReadonlySet<number>): Promise<Array<[string, Uint8Array]>> {
    const out: Array<[string, Uint8Array]> = [];
    for await (const e of this.engine.iterate({ partition: p, includeTombstones: true })) {
      const key = decodeKey(e.key);
      if (!segments.has(segmentOf(key, this.#segments))) continue;
      const set = entrySet(e);
      if (set !== null) out.push([key, wireVersionDigest(set)]);
    }
    return out;
  }

  /** The stored sets of `keys` (absent keys left out), for anti-entropy and handoff. */
  async fetch(p: number, keys: readonly string[]): Promise<WireItem[]> {
    const out: WireItem[] = [];
    for (const key of keys) {
      const e = await this.engine.get(p, key, { includeTombstones: true });
      if (!e || entrySet(e) === null) continue;
      out.push({ p, key, set: e.tombstone ? e.meta : e.value, exp: e.tombstone ? null : e.expiresAt });
    }
    return out;
  }

  /** @internal the engine's purge hook: a deleted key's history goes only when every replica holds it. */
  purgeable(info: TombstoneInfo): boolean {
    if (info.expiredAt !== null) return true;
    if (info.meta.length === 0) return true;
    const hook = this.#o.tombstonePurgeable;
    if (!hook) return false;
    let deletedAt = 0;
    try {
      for (const e of decodeSet(info.meta).entries) deletedAt = Math.max(deletedAt, e.timeMs);
    } catch {
      return false;
    }
    return hook(info.partition, decodeKey(info.key), deletedAt);
  }

  async close(): Promise<void> {
    await this.#locks.idle();
    await this.engine.close();
  }
}
