/**
 * Causal versions: version vectors, and the dotted version vector set that a replica stores for each key.
 *
 * Version vectors (Mattern 1988, after Lamport 1978's happened-before) order the contexts clients carry:
 * `descends`, `dominates`, `concurrent` and `mergeVectors`. What a replica stores is a DVVSet ("Dotted
 * Version Vector Sets", Almeida, Baquero, Gonçalves, Preguiça and Fonte, "Scalable and Accurate Causality
 * Tracking for Eventually Consistent Stores", DAIS 2014; the algorithms follow Riak's `dvvset.erl`). Each
 * entry is a node id, a counter `n` and a list of values newest first, where `values[i]` was written by
 * that node's event `n - i` (its "dot"). The whole set is all the live siblings of one key together with
 * the causal history that made the others obsolete. Because each value keeps its own dot, two writes
 * through the same coordinator are never confused (the sibling explosion of plain per-server vector
 * clocks), and the set grows with the number of coordinators, not of clients.
 *
 * - `update(set, context, value, coordinator, nowMs)` is a write: it drops every value whose dot the client's
 *   context covers (the client saw it and supersedes it) and adds the new value with a fresh dot of the
 *   coordinator. Values the client did not see stay: they are concurrent, that is, siblings.
 * - `merge(a, b)` (DVVSet `sync`) is what replicas do with each other's copies (replication, read repair,
 *   anti-entropy, handoff): a value survives unless the other side knows its dot and no longer has it. It is
 *   commutative, associative and idempotent, so replicas converge whatever order copies arrive in.
 * - `prune` bounds the entries by count and age, as riak_kv's vclock pruning does (`small_vclock`,
 *   `big_vclock`, `young_vclock`, `old_vclock`). It only drops entries that hold no values, never the entry
 *   of a node that may still coordinate writes (the caller passes the current members as `active`), and
 *   only old ones unless the set is too big. Keeping active nodes is required for correctness: a coordinator
 *   whose own entry was dropped would start again at counter 1 and hand out a dot that replicas already
 *   know, and its write would be lost. Members are bounded, so what pruning bounds is the entries of nodes
 *   that left. Dropping one forgets which of that node's dots were seen; that can make a stale copy
 *   elsewhere come back as a sibling, but only if a replica still holds a value that old after the age
 *   bound (replicas converge long before that through read repair and anti-entropy), which is why the bound
 *   is a day by default: the normal case never sees it.
 *
 * A coordinator id must belong to a replica that stores the result and never loses its own entry: a node
 * that comes back with an empty disk must use a new id (for example, id plus incarnation), or it would hand
 * out dots it already used.
 */

export interface VvEntry {
  readonly node: string;
  readonly counter: number;
}

/** A version vector: entries sorted by node id, counters at least 1. */
export type VersionVector = readonly VvEntry[];

export interface Dot {
  readonly node: string;
  readonly counter: number;
}

export interface DvvEntry<V> {
  readonly node: string;
  /** The latest event of this node that the set knows. */
  readonly counter: number;
  /** Live values of this node, newest first: `values[i]` has dot `(node, counter - i)`. */
  readonly values: readonly V[];
  /** When this entry last advanced (ms since the epoch, from the caller), for pruning by age. */
  readonly timeMs: number;
}

/** The versioned siblings of one key: entries sorted by node id. */
export interface DvvSet<V> {
  readonly entries: readonly DvvEntry<V>[];
}

export interface Sibling<V> {
  readonly dot: Dot;
  readonly value: V;
}

export interface PruneSettings {
  /** Never prune below this many entries. Default 10 (riak `small_vclock`). */
  entriesMin?: number;
  /** Above this many entries, prune even entries younger than `oldMs`. Default 50 (`big_vclock`). */
  entriesMax?: number;
  /** Never prune entries younger than this. Default 20 s (`young_vclock`). */
  youngMs?: number;
  /** Entries older than this may be pruned. Default one day (`old_vclock`). */
  oldMs?: number;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// ---------------------------------------------------------------------------------------------------------
// Version vectors

/** The counter of `node` in `vv` (0 when absent). */
export function counterOf(vv: VersionVector, node: string): number {
  for (const e of vv) if (e.node === node) return e.counter;
  return 0;
}

/** True when `a` has seen everything `b` has (a >= b). Reflexive. */
export function descends(a: VersionVector, b: VersionVector): boolean {
  let i = 0;
  for (const eb of b) {
    while (i < a.length && a[i]!.node < eb.node) i++;
    const ea = a[i];
    if (!ea || ea.node !== eb.node || ea.counter < eb.counter) return false;
  }
  return true;
}

/** True when `a` has seen strictly more than `b` (a > b). */
export function dominates(a: VersionVector, b: VersionVector): boolean {
  return descends(a, b) && !descends(b, a);
}

/** True when neither has seen everything the other has. */
export function concurrent(a: VersionVector, b: VersionVector): boolean {
  return !descends(a, b) && !descends(b, a);
}

/** The pointwise maximum (least upper bound). */
export function mergeVectors(a: VersionVector, b: VersionVector): VersionVector {
  const out: VvEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const ea = a[i];
    const eb = b[j];
    const c = !ea ? 1 : !eb ? -1 : cmp(ea.node, eb.node);
    if (c < 0) (out.push(ea!), i++);
    else if (c > 0) (out.push(eb!), j++);
    else {
      out.push(ea!.counter >= eb!.counter ? ea! : eb!);
      i++;
      j++;
    }
  }
  return out;
}

/** True when both vectors are equal. */
export function vectorsEqual(a: VersionVector, b: VersionVector): boolean {
  return a.length === b.length && a.every((e, i) => e.node === b[i]!.node && e.counter === b[i]!.counter);
}

/**
 * The concurrent frontier of plainly versioned items: the items no other item dominates, keeping the first
 * of items with equal vectors. For data versioned by whole vectors; DVVSets do this per dot by themselves.
 */
export function frontier<T extends { readonly clock: VersionVector }>(items: readonly T[]): T[] {
  return items.filter((item, i) =>
    items.every((other, j) =>
      i === j ? true : !dominates(other.clock, item.clock) && !(j < i && vectorsEqual(other.clock, item.clock))
    )
  );
}

// ---------------------------------------------------------------------------------------------------------
// DVVSets

/** A set with no versions and no values (a key never written). */
export function emptySet<V>(): DvvSet<V> {
  return { entries: [] };
}

/** The causal context of a set: the version vector a client carries back with its next write. */
export function contextOf<V>(set: DvvSet<V>): VersionVector {
  return set.entries.map((e) => ({ node: e.node, counter: e.counter }));
}

/** Every live value with its dot, in entry order and newest first within an entry. */
export function siblings<V>(set: DvvSet<V>): Sibling<V>[] {
  const out: Sibling<V>[] = [];
  for (const e of set.entries) {
    e.values.forEach((value, i) => out.push({ dot: { node: e.node, counter: e.counter - i }, value }));
  }
  return out;
}

/** The live values (siblings). */
export function values<V>(set: DvvSet<V>): V[] {
  const out: V[] = []; // a loop, not flatMap: V8's flatMap is a generic slow path, and this runs on every request
  for (const e of set.entries) for (const v of e.values) out.push(v);
  return out;
}

/** How many live values the set holds. */
export function siblingCount<V>(set: DvvSet<V>): number {
  let n = 0;
  for (const e of set.entries) n += e.values.length;
  return n;
}

/** Riak's `dvvset:merge/5` for one node: keep this side's values the other side has not made obsolete. */
function mergeEntry<V>(a: DvvEntry<V>, b: DvvEntry<V>): DvvEntry<V> {
  const timeMs = Math.max(a.timeMs, b.timeMs);
  const hi = a.counter >= b.counter ? a : b;
  const lo = hi === a ? b : a;
  // `hi`'s values have dots hi.counter - i; those at or below `lo.counter - lo.values.length` are known to `lo`
  // and absent from it, so they are obsolete.
  const keep = Math.min(hi.values.length, hi.counter - (lo.counter - lo.values.length));
  if (keep === hi.values.length && timeMs === hi.timeMs) return hi;
  const valuesKept = keep === hi.values.length ? hi.values : hi.values.slice(0, keep);
  return { node: hi.node, counter: hi.counter, values: valuesKept, timeMs };
}

/**
 * Whether entry `e` (of one node) holds what `x` holds: the same counter, as many values and the same time. A
 * dot names one value everywhere, so the values are the same too, and so is the entry's encoding.
 */
function sameEntry<V>(e: DvvEntry<V>, x: DvvEntry<V>): boolean {
  return e === x || (e.counter === x.counter && e.values.length === x.values.length && e.timeMs === x.timeMs);
}

/**
 * Merges two replicas' copies of one key (DVVSet `sync`): commutative, associative and idempotent. When the
 * result holds exactly what one side holds (the usual case: a replica receiving a newer copy, or one it has),
 * that side itself is returned, `b` first, so its encoding (`context.ts` remembers it) is not made again.
 */
export function merge<V>(a: DvvSet<V>, b: DvvSet<V>): DvvSet<V> {
  const out: DvvEntry<V>[] = [];
  let likeA = true;
  let likeB = true;
  let i = 0;
  let j = 0;
  while (i < a.entries.length || j < b.entries.length) {
    const ea = a.entries[i];
    const eb = b.entries[j];
    const c = !ea ? 1 : !eb ? -1 : cmp(ea.node, eb.node);
    if (c < 0) {
      out.push(ea!);
      likeB = false;
      i++;
    } else if (c > 0) {
      out.push(eb!);
      likeA = false;
      j++;
    } else {
      const e = mergeEntry(ea!, eb!);
      out.push(e);
      if (likeA && !sameEntry(e, ea!)) likeA = false;
      if (likeB && !sameEntry(e, eb!)) likeB = false;
      i++;
      j++;
    }
  }
  if (likeB) return b;
  if (likeA) return a;
  return { entries: out };
}

/**
 * A write of `value` by `coordinator` at `nowMs`, superseding what the client saw (`context`; empty for a
 * blind write). Returns the new set: the new value plus every value the context did not cover.
 */
export function update<V>(
  set: DvvSet<V>,
  context: VersionVector,
  value: V,
  coordinator: string,
  nowMs: number,
): DvvSet<V> {
  if (typeof coordinator !== "string" || coordinator.length === 0) {
    throw new TypeError("Coordinator id must be a non-empty string");
  }
  if (!Number.isFinite(nowMs) || nowMs < 0) throw new RangeError(`nowMs must be a non-negative number: ${nowMs}`);
  // The context as a set without values; entries only the client knows get `nowMs`, so they age from now.
  const ctx: DvvSet<V> = {
    entries: context.map((e) => ({ node: e.node, counter: e.counter, values: [], timeMs: nowMs })),
  };
  const known = new Map(set.entries.map((e) => [e.node, e]));
  const synced = merge(ctx, set).entries.map((e) => {
    const before = known.get(e.node);
    return before && before.counter >= e.counter ? { ...e, timeMs: before.timeMs } : e;
  });
  const at = synced.findIndex((e) => e.node >= coordinator);
  const own = synced[at];
  if (own && own.node === coordinator) {
    synced[at] = { node: coordinator, counter: own.counter + 1, values: [value, ...own.values], timeMs: nowMs };
  } else {
    synced.splice(at < 0 ? synced.length : at, 0, { node: coordinator, counter: 1, values: [value], timeMs: nowMs });
  }
  return { entries: synced };
}

/**
 * Drops old entries that hold no values, bounded by count and age (riak_kv's vclock pruning rules). Entries
 * of the `active` nodes (every node that may coordinate a write) are never dropped.
 */
export function prune<V>(
  set: DvvSet<V>,
  nowMs: number,
  active: ReadonlySet<string>,
  settings: PruneSettings = {},
): DvvSet<V> {
  const entriesMin = settings.entriesMin ?? 10;
  const entriesMax = settings.entriesMax ?? 50;
  const youngMs = settings.youngMs ?? 20_000;
  const oldMs = settings.oldMs ?? 86_400_000;
  if (set.entries.length <= entriesMin) return set;
  const candidates = set.entries
    .filter((e) => e.values.length === 0 && !active.has(e.node))
    .sort((a, b) => a.timeMs - b.timeMs || cmp(a.node, b.node));
  const drop = new Set<string>();
  let size = set.entries.length;
  for (const e of candidates) {
    if (size <= entriesMin) break;
    const age = nowMs - e.timeMs;
    if (age < youngMs) break;
    if (size > entriesMax || age > oldMs) {
      drop.add(e.node);
      size--;
    } else break;
  }
  return drop.size === 0 ? set : { entries: set.entries.filter((e) => !drop.has(e.node)) };
}

/** True when both sets hold the same versions (timestamps aside): no repair is needed between them. */
export function sameVersion<V>(a: DvvSet<V>, b: DvvSet<V>): boolean {
  return a.entries.length === b.entries.length && a.entries.every((e, i) => {
    const f = b.entries[i]!;
    return e.node === f.node && e.counter === f.counter && e.values.length === f.values.length;
  });
}

/** True when `a` has seen everything `b` has, so `merge(a, b)` has the same versions as `a`. */
export function setDescends<V>(a: DvvSet<V>, b: DvvSet<V>): boolean {
  return sameVersion(merge(a, b), a);
}

/** Replaces every value (for example, to drop payloads and keep versions), keeping dots and history. */
export function mapValues<V, W>(set: DvvSet<V>, fn: (value: V, dot: Dot) => W): DvvSet<W> {
  return {
    entries: set.entries.map((e) => ({
      node: e.node,
      counter: e.counter,
      values: e.values.map((v, i) => fn(v, { node: e.node, counter: e.counter - i })),
      timeMs: e.timeMs,
    })),
  };
}
