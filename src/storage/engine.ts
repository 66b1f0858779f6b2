/**
 * The storage engine: a log-structured merge tree (O'Neil, Cheng, Gawlick and O'Neil 1996) in the shape of
 * LevelDB and RocksDB, written on the `FileSystem` and `Clock` interfaces so it runs the same on Deno, Bun,
 * Node and the in-memory simulation.
 *
 * Write path: a batch becomes one log record (`wal.ts`), then enters the memtable; a full memtable is frozen
 * and flushed to a level-0 table in the background while writes go on in a new one. Read path: memtables, then
 * tables newest first, skipping tables through bloom filters, reading blocks through a byte-bounded cache.
 * Iterators pin the memtables and the current `Version`, and read at a sequence number, so they see one
 * consistent snapshot however long they run. Background work (flushes and compactions, one lane each) runs as
 * promise chains started by writes: no timers, so the memory runtime replays it deterministically.
 *
 * This file holds the engine's state and its public methods; argument checks live in `_validate.ts`,
 * recovery in `_recover.ts`, merging in `merge.ts`, flush and compaction in `compaction.ts`.
 */
import { MeshkvError } from "../errors.ts";
import type { Clock, FileSystem } from "../runtime/types.ts";
import { encodeBatch, encodeDrop, stampBatch } from "./_batch.ts";
import { compareRange, partitionStart, prefixEnd } from "./_bytes.ts";
import type { Rec, RecFields } from "./_record.ts";
import { checkBatch, checkDelete, checkKey, checkPartition, checkPut, invalid, optionalKey } from "./_validate.ts";
import type { RecoveryReport } from "./_recover.ts";
import { recover } from "./_recover.ts";
import { BlockCache } from "./block_cache.ts";
import { Background } from "./_background.ts";
import { lookupTables, toEntry, visible } from "./_read.ts";
import { LevelCursor, MergeCursor } from "./merge.ts";
import { type EngineOptions, normalizeOptions, type Settings } from "./options.ts";
import type { Source } from "./_source.ts";
import type {
  BatchOp,
  DeleteOptions,
  EngineStats,
  Entry,
  GetOptions,
  IterateOptions,
  Key,
  PutOptions,
} from "./types.ts";
import { WalWriter } from "./wal.ts";
import { engineStats } from "./_stats.ts";
import { acquireLock, type StoreLock } from "./_lock.ts";

const MAX_SEQ = Number.MAX_SAFE_INTEGER;
const RESOLVED: Promise<void> = Promise.resolve();

/** Opens (creating when needed) the engine whose files live in `dir`, recovering from the log. */
export async function openEngine(fs: FileSystem, dir: string, options: EngineOptions): Promise<Engine> {
  if (!fs || typeof fs.open !== "function") throw invalid("Invalid file system: not a FileSystem");
  if (typeof dir !== "string" || dir.length === 0) throw invalid("Invalid directory: a non-empty string");
  const settings = normalizeOptions(options);
  await fs.mkdir(dir, { recursive: true });
  // The lock comes first: recovery deletes files, which must never happen under another engine's feet.
  const { lock, broken } = await acquireLock(fs, dir, settings.clock, {
    owner: settings.lockOwner,
    ownerAlive: settings.lockOwnerAlive,
    breakLock: settings.breakLock,
  });
  try {
    const cache = new BlockCache(settings.cacheBytes);
    const rec = await recover(fs, dir, settings, cache);
    rec.report.brokenLock = broken;
    const bg = new Background(fs, dir, settings, cache, rec);
    const wal = new WalWriter({
      fs,
      dir,
      clock: settings.clock,
      durability: settings.durability,
      syncIntervalMs: settings.syncIntervalMs,
      segmentBytes: settings.walSegmentBytes,
      newNumber: () => bg.newNumber(),
      segments: rec.segments,
    });
    bg.wal = wal;
    await wal.open();
    await bg.installNothing();
    for (const e of rec.report.corruption) bg.reportCorruption(e);
    bg.kick();
    return new Engine(settings, bg, wal, rec.report, lock);
  } catch (e) {
    await lock.release();
    throw e;
  }
}

export class Engine {
  /** What recovery found when this engine was opened (torn log tails, damaged records and tables). */
  readonly recovery: RecoveryReport;
  #s: Settings;
  #clock: Clock;
  #bg: Background;
  #wal: WalWriter;
  #closed = false;
  #closing: Promise<void> | null = null;
  #lock: StoreLock;

  /** @internal use `openEngine`. */
  constructor(settings: Settings, bg: Background, wal: WalWriter, report: RecoveryReport, lock: StoreLock) {
    this.#lock = lock;
    this.#s = settings;
    this.#clock = settings.clock;
    this.#bg = bg;
    this.#wal = wal;
    this.recovery = report;
  }

  #checkOpen(): void {
    if (this.#closed) throw new MeshkvError("CLOSED", "The storage engine is closed");
  }

  /** Stores `value` under (partition, key). */
  put(partition: number, key: Key, value: Uint8Array, options?: PutOptions): Promise<void> {
    try {
      this.#checkOpen();
      return this.#write([checkPut(partition, key, value, options, this.#s, this.#clock.now())]);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Writes a tombstone for (partition, key), carrying `options.meta`. */
  delete(partition: number, key: Key, options?: DeleteOptions): Promise<void> {
    try {
      this.#checkOpen();
      return this.#write([checkDelete(partition, key, options, this.#s)]);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * `put` (`value` given) or `delete` (`value` null; the tombstone carries `options.meta`) in two steps: resolves
   * once the write is in the memtable, where every later `get` sees it, with `durable`, which settles when `put`
   * or `delete` would. A caller that orders writes of a key under its own lock can let the next writer in at the
   * first step: that writer reads this write, and its own record comes later in the same log, so it cannot be
   * durable before this one. (Only a stall for background work, which is rare, makes the first step wait.)
   */
  stage(
    partition: number,
    key: Key,
    value: Uint8Array | null,
    options?: PutOptions & DeleteOptions,
  ): Promise<{ durable: Promise<void> }> {
    try {
      this.#checkOpen();
      const op = value === null
        ? checkDelete(partition, key, options, this.#s)
        : checkPut(partition, key, value, options, this.#s, this.#clock.now());
      const recs: Rec[] = [];
      const bg = this.#bg;
      const frame = encodeBatch([op], recs, bg.pool);
      if (bg.mustStall()) return bg.stall().then(() => ({ durable: this.#commit(frame, recs) }));
      return Promise.resolve({ durable: this.#commit(frame, recs) });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Applies puts and deletes atomically: one log record, so after a crash all of them or none are there. */
  batch(ops: readonly BatchOp[]): Promise<void> {
    try {
      this.#checkOpen();
      const checked = checkBatch(ops, this.#s, this.#clock.now());
      return checked.length === 0 ? Promise.resolve() : this.#write(checked);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #write(ops: RecFields[]): Promise<void> {
    const recs: Rec[] = [];
    const bg = this.#bg;
    const frame = encodeBatch(ops, recs, bg.pool);
    if (bg.mustStall()) return bg.stall().then(() => this.#commit(frame, recs));
    return this.#commit(frame, recs);
  }

  #commit(frame: Uint8Array, recs: Rec[]): Promise<void> {
    this.#checkOpen();
    const bg = this.#bg;
    const err = this.#wal.error ?? bg.error;
    if (err) return Promise.reject(err);
    const seq = bg.lastSeq + 1;
    bg.lastSeq += recs.length;
    stampBatch(frame, seq, recs);
    const mem = bg.mem;
    let bytes = 0;
    for (const r of recs) {
      const size = r.valueEnd - r.keyStart;
      bytes += size;
      mem.add(r, size);
    }
    bg.userBytesWritten += bytes;
    const wal = this.#wal;
    if (this.#s.durability === "none" && wal.queuedBytes + frame.length <= this.#s.walQueueBytesMax) {
      // Nobody waits for this frame: no promise per write (the log keeps an error; the next write reports it).
      wal.enqueue(frame, bg.lastSeq);
      if (mem.bytes >= this.#s.memtableBytes) bg.freeze();
      return RESOLVED;
    }
    const done = wal.submit(frame, bg.lastSeq);
    if (mem.bytes >= this.#s.memtableBytes) bg.freeze();
    return done;
  }

  /**
   * The entry for (partition, key), or undefined when absent, deleted or expired. Memtable hits and cached
   * blocks answer without awaiting anything; only a block read from the file waits.
   */
  get(partition: number, key: Key, options?: GetOptions): Promise<Entry | undefined> {
    try {
      this.#checkOpen();
      const ikey = checkKey(partition, key, this.#s);
      const tombstones = options?.includeTombstones === true;
      const bg = this.#bg;
      let r: Rec | null = bg.mem.get(ikey, MAX_SEQ);
      for (let i = 0; r === null && i < bg.imm.length; i++) r = bg.imm[i]!.get(ikey, MAX_SEQ);
      if (r !== null) return Promise.resolve(this.#entry(r, tombstones));
      const v = bg.version.ref();
      let found: Rec | null | Promise<Rec | null>;
      try {
        found = lookupTables(v, ikey, bg);
      } catch (e) {
        v.unref();
        throw e;
      }
      if (!(found instanceof Promise)) {
        v.unref();
        return Promise.resolve(this.#entry(found, tombstones));
      }
      return found.then(
        (x) => {
          v.unref();
          return this.#entry(x, tombstones);
        },
        (e: unknown) => {
          v.unref();
          throw e;
        },
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #entry(r: Rec | null, tombstones: boolean): Entry | undefined {
    if (r === null || !visible(r, this.#clock.now(), this.#bg.drops, tombstones)) return undefined;
    return toEntry(r, false);
  }

  /**
   * Entries in key order (or reverse) over a snapshot taken when the iterator starts: writes made while it
   * runs are not seen, and tables it reads are kept until it finishes.
   */
  async *iterate(options: IterateOptions = {}): AsyncGenerator<Entry, void, undefined> {
    this.#checkOpen();
    const [lo, hi] = bounds(options);
    const limit = options.limit ?? Infinity;
    if (limit !== Infinity && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw invalid(`Invalid limit: ${String(limit)}`);
    }
    const reverse = options.reverse === true;
    const keysOnly = options.keysOnly === true;
    const tombstones = options.includeTombstones === true;
    const bg = this.#bg;
    const snapshot = bg.lastSeq;
    const drops = new Map(bg.drops);
    const v = bg.version.ref();
    // Pinned, so a memtable flushed meanwhile keeps its memory (rather than go back to the pool) until we finish.
    const mems = [bg.mem, ...bg.imm];
    for (const m of mems) m.pin();
    const sources: Source[] = mems.map((m) => m.cursor(snapshot, reverse));
    for (const t of v.levels[0]!) sources.push(t.cursor(reverse));
    for (let l = 1; l < v.levels.length; l++) {
      if (v.levels[l]!.length > 0) sources.push(new LevelCursor(v.levels[l]!, reverse));
    }
    const merge = new MergeCursor(sources, reverse);
    try {
      let n = 0;
      if (n >= limit) return;
      await merge.seek(reverse ? hi : lo);
      const now = this.#clock.now();
      for (let r = merge.rec; r !== null; r = merge.rec) {
        if (!reverse && hi !== null && compareRange(r.buf, r.keyStart, r.keyEnd, hi, 0, hi.length) >= 0) break;
        if (reverse && compareRange(r.buf, r.keyStart, r.keyEnd, lo, 0, lo.length) < 0) break;
        if (visible(r, now, drops, tombstones)) {
          yield toEntry(r, keysOnly);
          if (++n >= limit) break;
        }
        const p = merge.next();
        if (p) await p;
      }
    } finally {
      merge.close();
      v.unref();
      for (const m of mems) m.unpin();
    }
  }

  /** Deletes every entry of a partition at once (a drop marker, honoured by reads and removed by compaction). */
  async dropPartition(partition: number): Promise<void> {
    this.#checkOpen();
    const p = checkPartition(partition);
    const bg = this.#bg;
    const seq = ++bg.lastSeq;
    bg.drops.set(p, seq);
    await this.#wal.submit(encodeDrop(p, seq), seq);
    await bg.dropTables(p, seq);
  }

  /** Freezes the memtable and waits until every frozen memtable is in a table that a durable manifest names. */
  async flush(): Promise<void> {
    this.#checkOpen();
    this.#bg.freeze();
    await this.#bg.waitFor(() => this.#bg.isFlushed());
  }

  /**
   * Flushes, then merges every level down into one sorted run, dropping overwritten values, dropped partitions
   * and (where `tombstonePurgeable` agrees) tombstones and expired values. Costs a rewrite of all data.
   */
  async compact(): Promise<void> {
    await this.flush();
    await this.#bg.compactAll();
  }

  /** Waits until no flush or compaction is pending (for tests and benchmarks). */
  async idle(): Promise<void> {
    this.#checkOpen();
    await this.#bg.waitFor(() => this.#bg.isIdle());
  }

  stats(): EngineStats {
    this.#checkOpen();
    return engineStats(this.#bg, this.#wal, this.#s);
  }

  /** Writes out the log, waits for the running flush or compaction step, and closes every file. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      await this.#bg.stop();
      try {
        await this.#wal.close();
        await this.#bg.close();
      } finally {
        await this.#lock.release();
      }
    })();
    return this.#closing;
  }
}

/** The internal key range [lo, hi) an iteration covers (hi null: to the end). */
function bounds(o: IterateOptions): [Uint8Array, Uint8Array | null] {
  if (o === null || typeof o !== "object") throw invalid("Invalid iterate options: not an object");
  if (o.partition === undefined) {
    if (o.prefix !== undefined || o.start !== undefined || o.end !== undefined) {
      throw invalid("prefix, start and end need a partition");
    }
    return [new Uint8Array(0), null];
  }
  const p = checkPartition(o.partition);
  const base = partitionStart(p);
  const join = (k: Uint8Array): Uint8Array => {
    const out = new Uint8Array(2 + k.length);
    out.set(base);
    out.set(k, 2);
    return out;
  };
  let lo = base;
  let hi: Uint8Array | null = p < 0xffff ? partitionStart(p + 1) : null;
  const prefix = optionalKey(o.prefix, "prefix");
  if (prefix !== null) {
    lo = join(prefix);
    hi = prefixEnd(lo);
  }
  const start = optionalKey(o.start, "start");
  if (start !== null) {
    const s = join(start);
    if (compareRange(s, 0, s.length, lo, 0, lo.length) > 0) lo = s;
  }
  const end = optionalKey(o.end, "end");
  if (end !== null) {
    const e = join(end);
    if (hi === null || compareRange(e, 0, e.length, hi, 0, hi.length) < 0) hi = e;
  }
  return [lo, hi];
}
