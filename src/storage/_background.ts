/**
 * The engine's mutable state and its background work: the memtables, the current version, the counters, and
 * two lanes of work, one flushing frozen memtables and one running compactions, each a promise chain that
 * ends when it runs out of work and is restarted by `kick()`.
 *
 * Every change to the table set goes through `install`, one at a time: it builds the new level lists from the
 * current version (so a flush and a compaction that finish in either order both keep their results), writes
 * the manifest, and only then swaps versions. Tables that leave the tree are deleted when no version holds them.
 * An error in the background stops writes (they fail with it) while reads go on; a CORRUPTION error in a
 * compaction input is reported, and the damaged block's records are left out of the output.
 */
import type { MeshkvError } from "../errors.ts";
import type { FileSystem } from "../runtime/types.ts";
import { compareBytes } from "../core/_bytes.ts";
import { partitionStart } from "./_bytes.ts";
import type { Recovered } from "./_recover.ts";
import { Version } from "./_version.ts";
import type { BlockCache } from "./block_cache.ts";
import { flushMemtable, type JobContext, runCompaction } from "./compaction.ts";
import { type CompactionPlan, overlapping, pickCompaction } from "./compaction_policy.ts";
import { writeManifest } from "./manifest.ts";
import { Memtable, MemtablePool } from "./memtable.ts";
import type { Settings } from "./options.ts";
import { TableReader } from "./table_reader.ts";
import type { WalWriter } from "./wal.ts";

/**
 * Point reads that miss the cache read their block synchronously, but one in this many (plus one) goes through
 * the event loop instead, so that I/O completing there (the flush and compaction lanes' writes, sockets) is
 * not starved by a caller that reads in a loop: while a flush or compaction runs, and when nothing does.
 */
const SYNC_READS_BUSY = 8;
const SYNC_READS_IDLE = 64;

export class Background {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly s: Settings;
  readonly cache: BlockCache;
  wal: WalWriter | null = null;
  mem: Memtable;
  /** Arena chunks and records of flushed memtables, for the next ones. */
  readonly pool: MemtablePool;
  /** Frozen memtables, newest first. */
  imm: Memtable[];
  version: Version;
  lastSeq: number;
  flushedSeq: number;
  drops: Map<number, number>;
  #nextNumber: number;
  #pointers: (Uint8Array | null)[] = [];
  #manifest: Promise<unknown> = Promise.resolve();
  #flushing: Promise<void> | null = null;
  #compacting: Promise<void> | null = null;
  #manual = false;
  #waiters: (() => void)[] = [];
  #removals = new Set<Promise<void>>();
  #stopped = false;
  /** Synchronous block reads since the last asynchronous one. */
  #syncReads = 0;
  error: unknown = null;
  // counters for stats()
  userBytesWritten = 0;
  flushBytesWritten = 0;
  compactionBytesRead = 0;
  compactionBytesWritten = 0;
  flushes = 0;
  compactions = 0;
  trivialMoves = 0;
  corruptions = 0;
  writeStalls = 0;
  bloomChecks = 0;
  bloomNegatives = 0;

  constructor(fs: FileSystem, dir: string, s: Settings, cache: BlockCache, rec: Recovered) {
    this.fs = fs;
    this.dir = dir;
    this.s = s;
    this.cache = cache;
    this.pool = new MemtablePool(s.memtableBytes);
    this.mem = rec.memtables[0]!;
    this.imm = rec.memtables.slice(1);
    if (this.mem.count > 0) {
      // Replayed records go to level 0 soon after opening, so the old log segments can go.
      this.imm.unshift(this.mem);
      this.mem = new Memtable(0, this.pool);
    }
    this.lastSeq = rec.state.lastSeq;
    this.flushedSeq = rec.state.flushedSeq;
    this.drops = rec.state.drops;
    this.#nextNumber = rec.state.nextNumber;
    this.version = new Version(rec.tables, (t) => this.#release(t)).ref();
  }

  newNumber(): number {
    return this.#nextNumber++;
  }

  reportCorruption(e: MeshkvError): void {
    this.corruptions++;
    try {
      this.s.onCorruption?.(e);
    } catch {
      // A failing observer must not stop the engine.
    }
  }

  #release(t: TableReader): void {
    t.evict();
    const p = t.close().then(() => (t.obsolete ? this.fs.remove(t.path) : undefined)).catch(() => {});
    this.#removals.add(p);
    void p.finally(() => this.#removals.delete(p));
  }

  /**
   * Whether a point read that missed the cache may read its block synchronously now. Every few reads the
   * answer is no, and that read's trip through the event loop lets background I/O complete: a loop of
   * synchronous reads alone would leave compaction waiting for its writes' completions for as long as it
   * runs (tried: 5 compactions instead of 10 by the end of the benchmark). Counting reads, not time, keeps
   * the engine's behaviour independent of the clock.
   */
  syncRead(): boolean {
    const max = this.#flushing !== null || this.#compacting !== null ? SYNC_READS_BUSY : SYNC_READS_IDLE;
    if (this.#syncReads < max) {
      this.#syncReads++;
      return true;
    }
    this.#syncReads = 0;
    return false;
  }

  // --- waiting and stalls -------------------------------------------------------------------------------

  #notify(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async waitFor(done: () => boolean): Promise<void> {
    for (;;) {
      if (this.error) throw this.error;
      if (done()) return;
      this.kick();
      if (!this.#flushing && !this.#compacting && !done()) {
        if (this.error) throw this.error;
        if (done()) return;
      }
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  /** No memtable waits for a flush and no flush's manifest is still being written. */
  isFlushed(): boolean {
    return this.imm.length === 0 && this.#flushing === null;
  }

  isIdle(): boolean {
    return this.imm.length === 0 && !this.#flushing && !this.#compacting && !this.#manual && this.#plan() === null;
  }

  mustStall(): boolean {
    return this.imm.length >= this.s.immutableMemtablesMax || this.version.levels[0]!.length >= this.s.l0StopTables;
  }

  async stall(): Promise<void> {
    this.writeStalls++;
    await this.waitFor(() => !this.mustStall());
  }

  // --- memtables and flushes ----------------------------------------------------------------------------

  freeze(): void {
    if (this.mem.count === 0) return;
    this.imm.unshift(this.mem);
    this.mem = new Memtable(0, this.pool);
    this.wal?.requestRoll();
    this.kick();
  }

  kick(): void {
    if (this.#stopped || this.error) return;
    if (!this.#flushing && this.imm.length > 0) {
      this.#flushing = this.#lane(() => this.#flushOne(), () => this.imm.length > 0, true);
    }
    if (!this.#compacting && this.#plan() !== null) {
      this.#compacting = this.#lane(() => this.#compactOne(), () => this.#plan() !== null, false);
    }
  }

  async #lane(step: () => Promise<void>, more: () => boolean, flushing: boolean): Promise<void> {
    try {
      while (!this.#stopped && !this.error && more()) {
        await step();
        this.#notify();
      }
    } catch (e) {
      this.error ??= e;
    } finally {
      if (flushing) this.#flushing = null;
      else this.#compacting = null;
      this.#notify();
      this.kick();
    }
  }

  #ctx(): JobContext {
    return {
      fs: this.fs,
      dir: this.dir,
      settings: this.s,
      newNumber: () => this.newNumber(),
      drops: new Map(this.drops),
    };
  }

  async #flushOne(): Promise<void> {
    const imm = this.imm[this.imm.length - 1]!;
    const meta = await flushMemtable(this.#ctx(), imm);
    const reader = meta === null ? null : await TableReader.open(this.fs, this.dir, meta, this.cache);
    // The memtable leaves (and stalled writers go on) as soon as its table is in the version, while the
    // manifest that names the table is written: the table is synced already, and the log keeps the records
    // until that manifest is durable (`release` below), so a crash in between replays them.
    await this.#install(
      (levels) => {
        if (reader) levels[0]!.unshift(reader);
      },
      Math.max(this.flushedSeq, imm.maxSeq),
      () => {
        this.imm.pop();
        imm.retire(this.pool);
        this.flushes++;
        this.flushBytesWritten += meta?.bytes ?? 0;
        this.#notify();
      },
    );
    await this.wal?.release(this.flushedSeq);
  }

  // --- compactions --------------------------------------------------------------------------------------

  #plan(): CompactionPlan | null {
    if (this.#manual) return null;
    return pickCompaction(this.version.metas(), this.s, this.#pointers, new Set());
  }

  /**
   * Manual compaction: merges every level into the next, down to one level below the deepest that holds
   * data, so overwritten values, tombstones and expired values anywhere are dropped (subject to the hook).
   */
  async compactAll(): Promise<void> {
    this.#manual = true;
    try {
      while (this.#compacting) await this.#compacting;
      const levels = this.version.levels;
      let deepest = 0;
      for (let l = 0; l < levels.length; l++) if (levels[l]!.length > 0) deepest = l;
      const target = Math.min(levels.length - 1, deepest + 1);
      for (let l = 0; l < target; l++) {
        for (;;) {
          if (this.error) throw this.error;
          const metas = this.version.metas();
          const level = metas[l]!;
          if (level.length === 0) break;
          const inputs = l === 0 ? [...level].reverse() : [level[0]!];
          const lo = inputs.reduce((a, t) => (compareBytes(t.smallest, a) < 0 ? t.smallest : a), inputs[0]!.smallest);
          const hi = inputs.reduce((a, t) => (compareBytes(t.largest, a) > 0 ? t.largest : a), inputs[0]!.largest);
          await this.#compactOne({
            level: l,
            inputs,
            overlaps: overlapping(metas[l + 1]!, lo, hi),
            move: false,
            score: 0,
          });
          this.#notify();
        }
      }
    } finally {
      this.#manual = false;
      this.kick();
    }
  }

  async #compactOne(chosen?: CompactionPlan): Promise<void> {
    const plan = chosen ?? this.#plan();
    if (plan === null) return;
    const v = this.version.ref();
    try {
      const byNumber = new Map(v.tables().map((t) => [t.meta.number, t]));
      const inputs = plan.inputs.map((m) => byNumber.get(m.number)!);
      const overlaps = plan.overlaps.map((m) => byNumber.get(m.number)!);
      const gone = new Set([...inputs, ...overlaps]);
      this.#pointers[plan.level] = plan.inputs.reduce(
        (a, t) => (compareBytes(t.largest, a) > 0 ? t.largest : a),
        plan.inputs[0]!.largest,
      );
      if (plan.move) {
        await this.#install((levels) => this.#place(levels, plan.level, gone, inputs), this.flushedSeq);
        this.trivialMoves++;
        return;
      }
      const ctx = this.#ctx();
      const result = await runCompaction(
        ctx,
        plan,
        inputs,
        overlaps,
        v.levels.slice(plan.level + 2),
        this.s.clock.now(),
        (e) => this.reportCorruption(e),
      );
      const readers: TableReader[] = [];
      for (const m of result.outputs) readers.push(await TableReader.open(this.fs, this.dir, m, this.cache));
      await this.#install((levels) => this.#place(levels, plan.level, gone, readers), this.flushedSeq);
      this.compactions++;
      this.compactionBytesRead += result.bytesRead;
      this.compactionBytesWritten += result.bytesWritten;
    } finally {
      v.unref();
    }
  }

  /** Removes `gone` from `level` and `level + 1` and puts `add` into `level + 1`, kept sorted. */
  #place(levels: TableReader[][], level: number, gone: Set<TableReader>, add: TableReader[]): void {
    levels[level] = levels[level]!.filter((t) => !gone.has(t));
    const next = levels[level + 1]!.filter((t) => !gone.has(t)).concat(add);
    next.sort((a, b) => compareBytes(a.meta.smallest, b.meta.smallest));
    levels[level + 1] = next;
  }

  // --- the manifest ---------------------------------------------------------------------------------------

  /**
   * Applies `change` to a copy of the current levels, writes the manifest, then makes it the current version.
   * With `published` (flushes, which only add a table), the version changes first and `published` runs then,
   * before the manifest is written: nothing leaves the tree, so no file can be deleted before a durable
   * manifest stops naming it, and installs stay in order, so a later manifest never precedes this one.
   */
  #install(change: (levels: TableReader[][]) => void, flushedSeq: number, published?: () => void): Promise<void> {
    const run = async (): Promise<void> => {
      const old = this.version;
      const levels = old.levels.map((l) => [...l]);
      change(levels);
      this.flushedSeq = flushedSeq;
      this.#forgetDrops(levels);
      const swap = (): void => {
        const next = new Version(levels, (t) => this.#release(t)).ref();
        const kept = new Set(next.tables());
        for (const t of old.tables()) if (!kept.has(t)) t.obsolete = true;
        this.version = next;
        old.unref();
      };
      if (published !== undefined) {
        swap();
        published();
      }
      await writeManifest(this.fs, this.dir, {
        nextNumber: this.#nextNumber,
        lastSeq: this.lastSeq,
        flushedSeq,
        drops: new Map(this.drops),
        levels: levels.map((l) => l.map((t) => t.meta)),
      });
      if (published === undefined) swap();
    };
    const p = this.#manifest.then(run);
    this.#manifest = p.catch(() => {});
    return p;
  }

  /** Writes a manifest for the state as recovered (new file numbers, replayed sequence). */
  installNothing(): Promise<void> {
    return this.#install(() => {}, this.flushedSeq);
  }

  /** A drop marker can go once no table could hold records it hides and the log no longer replays them. */
  #forgetDrops(levels: TableReader[][]): void {
    for (const [p, seq] of this.drops) {
      if (this.flushedSeq < seq) continue;
      const lo = partitionStart(p);
      const hi = p < 0xffff ? partitionStart(p + 1) : null;
      const held = levels.some((l) =>
        l.some((t) =>
          t.meta.minSeq <= seq && compareBytes(t.meta.largest, lo) >= 0 &&
          (hi === null || compareBytes(t.meta.smallest, hi) < 0)
        )
      );
      if (!held) this.drops.delete(p);
    }
  }

  /** The cheap part of dropping a partition: tables wholly inside it and older than the drop simply leave. */
  async dropTables(partition: number, seq: number): Promise<void> {
    const lo = partitionStart(partition);
    const hi = partition < 0xffff ? partitionStart(partition + 1) : null;
    const inside = (t: TableReader): boolean =>
      t.meta.maxSeq <= seq && compareBytes(t.meta.smallest, lo) >= 0 &&
      (hi === null || compareBytes(t.meta.largest, hi) < 0);
    await this.#install((levels) => {
      for (let l = 0; l < levels.length; l++) levels[l] = levels[l]!.filter((t) => !inside(t));
    }, this.flushedSeq);
    this.kick();
  }

  // --- shutdown -------------------------------------------------------------------------------------------

  async stop(): Promise<void> {
    this.#stopped = true;
    while (this.#flushing || this.#compacting) await Promise.all([this.#flushing, this.#compacting]);
    await this.#manifest;
  }

  async close(): Promise<void> {
    this.version.unref();
    await Promise.all(this.#removals);
  }
}
