/**
 * Merging cursors: the N-way merge that reads, scans and compactions use to see many sorted sources as one.
 *
 * `MergeCursor` takes sources that each yield at most one record per key and, for every key, returns the
 * record with the highest sequence number (the newest write wins, whichever component holds it). `LevelCursor`
 * concatenates the tables of one sorted level, opening only the table it is in. Sources step synchronously
 * while their data is in memory; only block reads return promises.
 */
import type { MeshkvError } from "../errors.ts";
import { compareRange, keyPrefix } from "./_bytes.ts";
import type { Rec } from "./_record.ts";
import type { Source } from "./_source.ts";
import type { TableReader } from "./table_reader.ts";

export class MergeCursor implements Source {
  #sources: Source[];
  #reverse: boolean;
  /** The sources at the current key (`#atCount` of them): a typed array, as resetting an array's length per record was a tenth of compaction's time. */
  #at: Int32Array;
  #atCount = 0;
  /**
   * Each source's current key's first six bytes as a number (`keyPrefix`), taken when the source moves: the
   * pick compares these, and bytes only when two are equal. With random keys and many sources (a level-0
   * compaction merges up to a dozen) that turns most of a pick's comparisons into subtractions.
   */
  #prefixes: number[];
  rec: Rec | null = null;

  constructor(sources: Source[], reverse: boolean) {
    this.#sources = sources;
    this.#reverse = reverse;
    this.#prefixes = sources.map(() => 0);
    this.#at = new Int32Array(sources.length);
  }

  async seek(target: Uint8Array | null): Promise<void> {
    for (const s of this.#sources) {
      const p = s.seek(target);
      if (p) await p;
    }
    for (let i = 0; i < this.#sources.length; i++) this.#load(i);
    this.#pick();
  }

  #load(i: number): void {
    const r = this.#sources[i]!.rec;
    if (r !== null) this.#prefixes[i] = keyPrefix(r.buf, r.keyStart, r.keyEnd);
  }

  /** Chooses the smallest (or, in reverse, largest) key; among equal keys, the newest record. */
  #pick(): void {
    const at = this.#at;
    let n = 0;
    let best: Rec | null = null;
    let bestPrefix = 0;
    const sign = this.#reverse ? -1 : 1;
    const sources = this.#sources;
    const prefixes = this.#prefixes;
    for (let i = 0; i < sources.length; i++) {
      const r = sources[i]!.rec;
      if (r === null) continue;
      const p = prefixes[i]!;
      if (best === null) {
        best = r;
        bestPrefix = p;
        at[n++] = i;
        continue;
      }
      let c = p - bestPrefix;
      if (c === 0) c = compareRange(r.buf, r.keyStart, r.keyEnd, best.buf, best.keyStart, best.keyEnd);
      c *= sign;
      if (c < 0) {
        best = r;
        bestPrefix = p;
        n = 0;
        at[n++] = i;
      } else if (c === 0) {
        at[n++] = i;
        if (r.seq > best.seq) best = r;
      }
    }
    this.#atCount = n;
    this.rec = best;
  }

  next(): void | Promise<void> {
    if (this.rec === null) return;
    const at = this.#at;
    const n = this.#atCount;
    for (let k = 0; k < n; k++) {
      const i = at[k]!;
      const p = this.#sources[i]!.next();
      if (p) return this.#finish(p, k);
      this.#load(i);
    }
    this.#pick();
  }

  async #finish(pending: Promise<void>, k0: number): Promise<void> {
    await pending;
    const at = this.#at;
    const n = this.#atCount;
    this.#load(at[k0]!);
    for (let k = k0 + 1; k < n; k++) {
      const p = this.#sources[at[k]!]!.next();
      if (p) await p;
      this.#load(at[k]!);
    }
    this.#pick();
  }

  close(): void {
    for (const s of this.#sources) s.close?.();
  }
}

/** The tables of one sorted, non-overlapping level, walked as one source. */
export class LevelCursor implements Source {
  #tables: readonly TableReader[];
  #reverse: boolean;
  #ti = -1;
  #cur: Source | null = null;
  #onCorrupt: ((e: MeshkvError) => void) | undefined;
  #readahead: number;
  rec: Rec | null = null;

  constructor(
    tables: readonly TableReader[],
    reverse: boolean,
    onCorrupt?: (e: MeshkvError) => void,
    readaheadBytes = 0,
  ) {
    this.#tables = tables;
    this.#reverse = reverse;
    this.#onCorrupt = onCorrupt;
    this.#readahead = readaheadBytes;
  }

  /** The first table whose largest key is at or after `key`. */
  #find(key: Uint8Array): number {
    let lo = 0;
    let hi = this.#tables.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const l = this.#tables[mid]!.meta.largest;
      if (compareRange(l, 0, l.length, key, 0, key.length) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  seek(target: Uint8Array | null): void | Promise<void> {
    const n = this.#tables.length;
    let ti: number;
    if (!this.#reverse) ti = target === null ? 0 : this.#find(target);
    else ti = target === null ? n - 1 : Math.min(this.#find(target), n - 1);
    return this.#open(ti, target);
  }

  #open(ti: number, target: Uint8Array | null): void | Promise<void> {
    if (ti < 0 || ti >= this.#tables.length) {
      this.#ti = ti;
      this.#cur = null;
      this.rec = null;
      return;
    }
    this.#ti = ti;
    const cur = this.#tables[ti]!.cursor(this.#reverse, this.#onCorrupt, this.#readahead);
    this.#cur = cur;
    const p = cur.seek(target);
    if (p) return p.then(() => this.#settle());
    return this.#settle();
  }

  #settle(): void | Promise<void> {
    const cur = this.#cur!;
    if (cur.rec !== null) {
      this.rec = cur.rec;
      return;
    }
    return this.#open(this.#ti + (this.#reverse ? -1 : 1), null);
  }

  next(): void | Promise<void> {
    const cur = this.#cur;
    if (cur === null || this.rec === null) return;
    const p = cur.next();
    if (p) return p.then(() => this.#settle());
    return this.#settle();
  }
}
