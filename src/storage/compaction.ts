/**
 * Carrying out flushes and compactions: the effectful half of compaction (the choice is `compaction_policy.ts`).
 *
 * A flush writes a frozen memtable as one level-0 table, keeping only the newest version of each key. A
 * compaction merges its input tables and writes the result as tables of about `tableBytes` each. On the way it
 * drops what no reader can see any more: versions overwritten by newer ones (the merge yields one record per
 * key), records of dropped partitions, and, at the base level for their key (no deeper table could hold an
 * older version that they hide), tombstones and expired values that the `tombstonePurgeable` hook releases.
 * An expired value that cannot be dropped yet becomes a tombstone, so it still hides what lies below it.
 * A block that fails its checksum is reported through `onCorrupt` and its records are left out (they were
 * unreadable already; the cluster's anti-entropy restores them from replicas) so one bad block cannot stop
 * compaction for good. Output is written in appends of at most `ioStepBytes` (the bounded I/O of one step) and every table is
 * synced, and the directory too, before the manifest may name it.
 */
import { compareRange, partitionOf } from "./_bytes.ts";
import { ENTRY_FLAG } from "./_format.ts";
import { compareRecKeys, Rec } from "./_record.ts";
import type { Source } from "./_source.ts";
import type { CompactionPlan } from "./compaction_policy.ts";
import { LevelCursor, MergeCursor } from "./merge.ts";
import type { Memtable } from "./memtable.ts";
import type { Settings } from "./options.ts";
import type { TableReader } from "./table_reader.ts";
import { type TableMeta, TableWriter } from "./table_writer.ts";
import type { MeshkvError } from "../errors.ts";
import type { FileSystem } from "../runtime/types.ts";

/**
 * Compaction reads its inputs in runs of this many bytes, each input reading its next run while the current one
 * is merged. An asynchronous read costs the process some 45 µs of CPU however small it is (the hand-off to the
 * runtime's thread pool and back; a synchronous read of 32 KiB from the page cache costs 5), so runs are not
 * tiny; compaction still yields to the event loop at every output step (`ioStepBytes`), where it waits for its
 * previous append, so a run's size does not lengthen its stretches without a break. Two buffers of this size
 * per input: 20 level-0 tables and a level make about 2.7 MiB.
 */
const COMPACTION_READAHEAD_BYTES = 64 * 1024;

export interface JobContext {
  fs: FileSystem;
  dir: string;
  settings: Settings;
  newNumber: () => number;
  drops: ReadonlyMap<number, number>;
}

function isDropped(drops: ReadonlyMap<number, number>, r: Rec): boolean {
  if (drops.size === 0) return false;
  const d = drops.get(partitionOf(r.buf.subarray(r.keyStart, r.keyStart + 2)));
  return d !== undefined && r.seq <= d;
}

function writerOptions(s: Settings) {
  return {
    blockBytes: s.blockBytes,
    bloomBitsPerKey: s.bloomBitsPerKey,
    compression: s.compression,
    ioStepBytes: s.ioStepBytes,
  };
}

/** Writes a frozen memtable as one table; null when nothing in it survives (all dropped). */
export async function flushMemtable(ctx: JobContext, mem: Memtable): Promise<TableMeta | null> {
  let writer: TableWriter | null = null;
  let prev: Rec | null = null;
  try {
    for (const run of mem.runs()) {
      for (let i = 0; i < run.length; i++) {
        const r = run[i]!;
        // Records are key ascending, newest first: the first of each key is the one to keep.
        if (prev !== null && compareRecKeys(prev, r) === 0) continue;
        prev = r;
        if (isDropped(ctx.drops, r)) continue;
        writer ??= await TableWriter.create(ctx.fs, ctx.dir, ctx.newNumber(), writerOptions(ctx.settings));
        const p = writer.add(r);
        if (p) await p;
      }
    }
    if (writer === null) return null;
    const meta = await writer.finish();
    await ctx.fs.syncDir(ctx.dir);
    return meta;
  } catch (e) {
    await writer?.abort(ctx.fs);
    throw e;
  }
}

export interface CompactionResult {
  outputs: TableMeta[];
  bytesRead: number;
  bytesWritten: number;
  dropped: number;
}

/**
 * Merges the plan's tables. `inputs` and `overlaps` are the open tables the plan names; `deeper` are the
 * levels below the output level (to decide whether a tombstone hides anything); `now` is the expiry clock.
 */
export async function runCompaction(
  ctx: JobContext,
  plan: CompactionPlan,
  inputs: TableReader[],
  overlaps: TableReader[],
  deeper: readonly (readonly TableReader[])[],
  now: number,
  onCorrupt: (e: MeshkvError) => void,
): Promise<CompactionResult> {
  const ahead = Math.min(ctx.settings.ioStepBytes, COMPACTION_READAHEAD_BYTES);
  const sources: Source[] = plan.level === 0
    ? inputs.map((t) => t.cursor(false, onCorrupt, ahead))
    : [new LevelCursor(inputs, false, onCorrupt, ahead)];
  sources.push(new LevelCursor(overlaps, false, onCorrupt, ahead));
  const merge = new MergeCursor(sources, false);
  const result: CompactionResult = { outputs: [], bytesRead: 0, bytesWritten: 0, dropped: 0 };
  for (const t of [...inputs, ...overlaps]) result.bytesRead += t.meta.bytes;
  const s = ctx.settings;
  const tomb = new Rec();
  let writer: TableWriter | null = null;
  try {
    await merge.seek(null);
    for (let r = merge.rec; r !== null; r = merge.rec) {
      const out = decide(ctx, r, tomb, deeper, now);
      if (out === null) {
        result.dropped++;
      } else {
        writer ??= await TableWriter.create(ctx.fs, ctx.dir, ctx.newNumber(), writerOptions(s));
        const p = writer.add(out);
        if (p) await p;
        if (writer.estimatedBytes >= s.tableBytes) {
          result.outputs.push(await writer.finish());
          writer = null;
        }
      }
      const p = merge.next();
      if (p) await p;
    }
    if (writer !== null) result.outputs.push(await writer.finish());
    writer = null;
    await ctx.fs.syncDir(ctx.dir);
  } catch (e) {
    await writer?.abort(ctx.fs);
    for (const m of result.outputs) {
      await ctx.fs.remove(`${ctx.dir}/${String(m.number).padStart(6, "0")}.sst`).catch(() => {});
    }
    throw e;
  }
  for (const m of result.outputs) result.bytesWritten += m.bytes;
  return result;
}

/** What to write for record `r`: itself, a tombstone in its place (`tomb`), or nothing (null). */
function decide(
  ctx: JobContext,
  r: Rec,
  tomb: Rec,
  deeper: readonly (readonly TableReader[])[],
  now: number,
): Rec | null {
  if (isDropped(ctx.drops, r)) return null;
  const expired = r.expiresAt !== 0 && r.expiresAt <= now && (r.flags & ENTRY_FLAG.tombstone) === 0;
  if ((r.flags & ENTRY_FLAG.tombstone) === 0 && !expired) return r;
  if (isBaseForKey(r, deeper)) {
    const key = r.buf.subarray(r.keyStart, r.keyEnd);
    const purge = ctx.settings.tombstonePurgeable({
      partition: partitionOf(key),
      key: key.subarray(2),
      meta: r.meta(),
      seq: r.seq,
      expiredAt: expired ? r.expiresAt : null,
    });
    if (purge) return null;
  }
  if (!expired) return r;
  // An expired value that must stay visible as a delete: keep its key, sequence and metadata, drop the value.
  tomb.copyFrom(r);
  tomb.entryStart = -1;
  tomb.flags = (r.flags | ENTRY_FLAG.tombstone) & ~ENTRY_FLAG.expires;
  tomb.expiresAt = 0;
  tomb.valueStart = tomb.valueEnd = r.valueEnd;
  return tomb;
}

/** True when no table below the output level covers the key, so dropping a delete cannot uncover anything. */
function isBaseForKey(r: Rec, deeper: readonly (readonly TableReader[])[]): boolean {
  for (const level of deeper) {
    let lo = 0;
    let hi = level.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const l = level[mid]!.meta.largest;
      if (compareRange(l, 0, l.length, r.buf, r.keyStart, r.keyEnd) < 0) lo = mid + 1;
      else hi = mid;
    }
    const t = level[lo];
    if (t !== undefined && compareRange(t.meta.smallest, 0, t.meta.smallest.length, r.buf, r.keyStart, r.keyEnd) <= 0) {
      return false;
    }
  }
  return true;
}
