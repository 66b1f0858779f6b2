/**
 * The compaction policy: given the table layout, decide what to merge next. Pure: it reads its arguments and
 * returns a plan; `compaction.ts` carries the plan out (convention 1).
 *
 * Leveled compaction (LevelDB, after O'Neil 1996's multi-component LSM): level 0 holds flushed tables that may
 * overlap; every deeper level is one sorted run whose target size grows tenfold per level. We chose leveled
 * over size-tiered because a node's reads (point gets on the coordinator path, ordered range listing) matter
 * as much as its writes: leveled bounds space amplification near 1.1x and a point read to one table per level,
 * while tiered would cut write amplification at the price of several overlapping runs per level and up to 2x
 * space during merges. Bloom filters make the extra L0 tables cheap for point reads, and L0 triggers merge
 * several flushed tables at once, which recovers part of tiering's write savings.
 */
import { compareBytes } from "../core/_bytes.ts";
import type { TableMeta } from "./table_writer.ts";

export interface PolicyConfig {
  l0CompactionTables: number;
  levelBaseBytes: number;
  levelMultiplier: number;
  levelsMax: number;
  compactionBytesMax: number;
}

export interface CompactionPlan {
  /** The level the inputs come from; outputs go to `level + 1`. */
  level: number;
  inputs: TableMeta[];
  /** Tables of `level + 1` that overlap the inputs' key range. */
  overlaps: TableMeta[];
  /** Nothing to merge: the single input moves down a level unchanged (no I/O). */
  move: boolean;
  score: number;
}

export function levelTargetBytes(level: number, cfg: PolicyConfig): number {
  return cfg.levelBaseBytes * cfg.levelMultiplier ** Math.max(0, level - 1);
}

function totalBytes(tables: readonly TableMeta[]): number {
  let n = 0;
  for (const t of tables) n += t.bytes;
  return n;
}

/** Tables of a sorted level that overlap [smallest, largest]. */
export function overlapping(tables: readonly TableMeta[], smallest: Uint8Array, largest: Uint8Array): TableMeta[] {
  return tables.filter((t) => compareBytes(t.largest, smallest) >= 0 && compareBytes(t.smallest, largest) <= 0);
}

function range(tables: readonly TableMeta[]): [Uint8Array, Uint8Array] {
  let lo = tables[0]!.smallest;
  let hi = tables[0]!.largest;
  for (const t of tables) {
    if (compareBytes(t.smallest, lo) < 0) lo = t.smallest;
    if (compareBytes(t.largest, hi) > 0) hi = t.largest;
  }
  return [lo, hi];
}

/** How urgently each level needs compaction; a score of 1 or more means "now". */
export function levelScores(levels: readonly (readonly TableMeta[])[], cfg: PolicyConfig): number[] {
  const scores: number[] = [];
  for (let l = 0; l < levels.length - 1; l++) {
    const tables = levels[l]!;
    scores.push(l === 0 ? tables.length / cfg.l0CompactionTables : totalBytes(tables) / levelTargetBytes(l, cfg));
  }
  return scores;
}

/**
 * Picks the next compaction, or null when every level is within its target. `busy` holds table numbers that
 * a running compaction already owns; `pointers[level]` is where the last compaction of that level ended, so a
 * level is compacted round-robin across its key space (LevelDB's compact pointer).
 */
export function pickCompaction(
  levels: readonly (readonly TableMeta[])[],
  cfg: PolicyConfig,
  pointers: readonly (Uint8Array | null)[],
  busy: ReadonlySet<number>,
): CompactionPlan | null {
  const scores = levelScores(levels, cfg);
  const order = scores.map((s, l) => [s, l] as const).filter(([s]) => s >= 1).sort((a, b) => b[0] - a[0]);
  for (const [score, level] of order) {
    const plan = level === 0 ? pickL0(levels, cfg, busy) : pickLevel(levels, level, pointers[level] ?? null, busy);
    if (plan) return { ...plan, score };
  }
  return null;
}

function pickL0(
  levels: readonly (readonly TableMeta[])[],
  cfg: PolicyConfig,
  busy: ReadonlySet<number>,
): Omit<CompactionPlan, "score"> | null {
  const l0 = levels[0]!;
  if (l0.some((t) => busy.has(t.number))) return null;
  // Level 0 is newest first. Take the oldest tables, within the byte budget: every table left behind is newer
  // than every table merged, so reads that search level 0 before level 1 stay correct.
  const inputs: TableMeta[] = [];
  let bytes = 0;
  for (let i = l0.length - 1; i >= 0; i--) {
    const t = l0[i]!;
    if (inputs.length > 0 && bytes + t.bytes > cfg.compactionBytesMax) break;
    inputs.push(t);
    bytes += t.bytes;
  }
  const [lo, hi] = range(inputs);
  const overlaps = overlapping(levels[1] ?? [], lo, hi);
  if (overlaps.some((t) => busy.has(t.number))) return null;
  return { level: 0, inputs, overlaps, move: inputs.length === 1 && overlaps.length === 0 };
}

function pickLevel(
  levels: readonly (readonly TableMeta[])[],
  level: number,
  pointer: Uint8Array | null,
  busy: ReadonlySet<number>,
): Omit<CompactionPlan, "score"> | null {
  const tables = levels[level]!;
  if (tables.length === 0) return null;
  let start = pointer === null ? 0 : tables.findIndex((t) => compareBytes(t.smallest, pointer) > 0);
  if (start < 0) start = 0;
  for (let k = 0; k < tables.length; k++) {
    const t = tables[(start + k) % tables.length]!;
    if (busy.has(t.number)) continue;
    const overlaps = overlapping(levels[level + 1] ?? [], t.smallest, t.largest);
    if (overlaps.some((o) => busy.has(o.number))) continue;
    return { level, inputs: [t], overlaps, move: overlaps.length === 0 };
  }
  return null;
}
