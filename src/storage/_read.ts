/**
 * Point reads in tables, and turning records into the `Entry` objects callers get.
 *
 * A lookup searches level 0 newest first, then one table per deeper level (found by binary search on the
 * tables' key ranges), and asks each table's bloom filter first, so most tables that do not hold the key cost
 * no I/O at all. The first table that has the key has its newest version: newer data is always higher up.
 */
import { copyBytes } from "../core/_bytes.ts";
import { compareRange } from "./_bytes.ts";
import { ENTRY_FLAG } from "./_format.ts";
import { detachRec, type Rec } from "./_record.ts";
import type { Version } from "./_version.ts";
import { bloomHash } from "./bloom.ts";
import type { TableReader } from "./table_reader.ts";
import type { Entry } from "./types.ts";

export interface ReadCounters {
  bloomChecks: number;
  bloomNegatives: number;
  /** Whether a block read that missed the cache may read the file synchronously (see `Background.syncRead`). */
  syncRead(): boolean;
}

function inRange(t: TableReader, ikey: Uint8Array): boolean {
  const { smallest, largest } = t.meta;
  return compareRange(smallest, 0, smallest.length, ikey, 0, ikey.length) <= 0 &&
    compareRange(largest, 0, largest.length, ikey, 0, ikey.length) >= 0;
}

/** The table of a sorted level whose range may hold `ikey`, or null. */
function tableFor(level: readonly TableReader[], ikey: Uint8Array): TableReader | null {
  let lo = 0;
  let hi = level.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const l = level[mid]!.meta.largest;
    if (compareRange(l, 0, l.length, ikey, 0, ikey.length) < 0) lo = mid + 1;
    else hi = mid;
  }
  const t = level[lo];
  if (t === undefined) return null;
  const s = t.meta.smallest;
  return compareRange(s, 0, s.length, ikey, 0, ikey.length) <= 0 ? t : null;
}

/**
 * The newest record for `ikey` in the tables of `v`, or null. The answer is synchronous while every block it
 * needs is in the cache or is read with a synchronous read (when `counters.syncRead()` allows); only an
 * asynchronous file read turns it into a promise, so most reads cost no trip through the event loop.
 */
export function lookupTables(v: Version, ikey: Uint8Array, counters: ReadCounters): Rec | null | Promise<Rec | null> {
  return probe(v, ikey, bloomHash(ikey, 0, ikey.length), counters, 0, 0);
}

/** Searches from level `level` (and, in level 0, from table `from`) on. */
function probe(
  v: Version,
  ikey: Uint8Array,
  hash: number,
  counters: ReadCounters,
  level: number,
  from: number,
): Rec | null | Promise<Rec | null> {
  const levels = v.levels;
  for (let l = level; l < levels.length; l++) {
    const tables = levels[l]!;
    if (tables.length === 0) continue;
    if (l === 0) {
      for (let i = l === level ? from : 0; i < tables.length; i++) {
        const t = tables[i]!;
        if (!inRange(t, ikey)) continue;
        counters.bloomChecks++;
        if (!t.mayContain(hash)) {
          counters.bloomNegatives++;
          continue;
        }
        const r = t.get(ikey, counters);
        if (r === null) continue;
        if (r instanceof Promise) return r.then((x) => x ?? owned(probe(v, ikey, hash, counters, 0, i + 1)));
        return r;
      }
      continue;
    }
    const t = tableFor(tables, ikey);
    if (t === null) continue;
    counters.bloomChecks++;
    if (!t.mayContain(hash)) {
      counters.bloomNegatives++;
      continue;
    }
    const r = t.get(ikey, counters);
    if (r === null) continue;
    if (r instanceof Promise) return r.then((x) => x ?? owned(probe(v, ikey, hash, counters, l + 1, 0)));
    return r;
  }
  return null;
}

/**
 * A record found synchronously inside a promise chain, copied out: it points into the block cache (and may be
 * the object all synchronous reads share), and the chain hands it on a microtask later, when another read may
 * have changed both.
 */
function owned(r: Rec | null | Promise<Rec | null>): Rec | null | Promise<Rec | null> {
  return r === null || r instanceof Promise ? r : detachRec(r.clone());
}

/** Whether a reader sees `r`: not in a dropped partition, not expired, and a live value unless tombstones are asked for. */
export function visible(r: Rec, now: number, drops: ReadonlyMap<number, number>, tombstones: boolean): boolean {
  if (drops.size > 0) {
    const d = drops.get((r.buf[r.keyStart]! << 8) | r.buf[r.keyStart + 1]!);
    if (d !== undefined && r.seq <= d) return false;
  }
  if (r.flags & ENTRY_FLAG.tombstone) return tombstones;
  return r.expiresAt === 0 || r.expiresAt > now;
}

/** Copies a record out into an `Entry` the caller owns. */
export function toEntry(r: Rec, keysOnly: boolean): Entry {
  const b = r.buf;
  return {
    partition: (b[r.keyStart]! << 8) | b[r.keyStart + 1]!,
    key: copyBytes(b, r.keyStart + 2, r.keyEnd),
    value: keysOnly ? new Uint8Array(0) : copyBytes(b, r.valueStart, r.valueEnd),
    meta: copyBytes(b, r.metaStart, r.metaEnd),
    expiresAt: r.expiresAt === 0 ? null : r.expiresAt,
    tombstone: (r.flags & ENTRY_FLAG.tombstone) !== 0,
    seq: r.seq,
  };
}
