/**
 * The hash ring: which partition a key is in, and which node owns each partition.
 *
 * The ring follows consistent hashing (Karger et al. 1997) with Dynamo's "strategy 3" (DeCandia et al. 2007)
 * and riak_core's claim: the 32-bit hash space is cut into a fixed number of equal partitions (a power of
 * two, fixed when the cluster is created), and whole partitions are the unit of ownership and transfer.
 * Partition `p` covers the hash range `[p * 2^32 / P, (p + 1) * 2^32 / P)`, so a key's partition is the top
 * bits of its hash and "clockwise" is simply increasing partition numbers, wrapping at `P`.
 *
 * `claim` gives every node a share of partitions proportional to its capacity: each node ends with the floor
 * or the ceiling of its exact share (`P * capacity / total`). Starting from the current owners it moves only
 * what must move (partitions of nodes that left, partitions above a node's ceiling, then only as many more
 * as the nodes below their floor still need), so a join moves about `P / n` partitions and a leave moves
 * only the leaver's. It returns the plan (every move with its source and target) before anything moves;
 * the cluster streams each partition and then switches ownership. The claim is a deterministic function of
 * its inputs, so every node that computes it gets the same ring.
 *
 * Where it can, the claim keeps the owners of partitions closer than `targetN` apart distinct (assigning the
 * pooled partitions, then swapping owners while that removes repeats), so that a preference list (see
 * `placement.ts`) is the owners of the next N partitions and every node replicates N times what it owns.
 */
import { MeshkvError } from "../errors.ts";
import { assert } from "../_assert.ts";
import { hashString } from "./_hash.ts";

export const DEFAULT_PARTITIONS = 256;
export const PARTITIONS_MAX = 65_536;
export const RING_NODES_MAX = 4096;
export const NODE_ID_BYTES_MAX = 128;

/** A node as the claim sees it: an id and a positive capacity (any unit, only ratios matter). */
export interface RingNode {
  readonly id: string;
  readonly capacity: number;
}

/** The owner of every partition: `owners[p]` is a node id. Immutable: a new ring replaces the old. */
export interface Ring {
  readonly partitions: number;
  readonly owners: readonly string[];
}

export interface Move {
  readonly partition: number;
  readonly from: string;
  readonly to: string;
}

export interface ClaimPlan {
  /** The ring after every move is done. */
  readonly ring: Ring;
  /** The partitions that change owner, in partition order. */
  readonly moves: readonly Move[];
}

export interface ClaimOptions {
  /** Partition count for a new ring (ignored when `current` is given). Default 256. */
  partitions?: number;
  /** Owners of partitions closer than this stay distinct where possible. Default 3. */
  targetN?: number;
}

/** Throws INVALID_ARGUMENT unless `partitions` is a power of two between 1 and 65536. */
export function validatePartitions(partitions: number): void {
  const ok = Number.isInteger(partitions) && partitions >= 1 && partitions <= PARTITIONS_MAX &&
    (partitions & (partitions - 1)) === 0;
  if (!ok) {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Partition count must be a power of two from 1 to ${PARTITIONS_MAX}: ${partitions}`,
      { details: { partitions } },
    );
  }
}

/**
 * The text of `key` that is hashed: with a Redis-style hash tag, only the text between the first `{` and the
 * first `}` after it, when that text is not empty; otherwise the whole key.
 */
export function hashTag(key: string): string {
  const open = key.indexOf("{");
  if (open < 0) return key;
  const close = key.indexOf("}", open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** The stable 32-bit hash of a key (MurmurHash3 x86_32, seed 0, of the UTF-8 of its hash tag). */
export function keyHash(key: string): number {
  return hashString(hashTag(key));
}

/** The partition a 32-bit hash falls in: its top `log2(partitions)` bits. */
export function partitionOfHash(hash: number, partitions: number): number {
  if (partitions === 1) return 0;
  return hash >>> (32 - Math.log2(partitions));
}

/** The partition that holds `key`. */
export function partitionOf(key: string, partitions: number = DEFAULT_PARTITIONS): number {
  return partitionOfHash(keyHash(key), partitions);
}

/** How many partitions each node owns. */
export function ownedCounts(ring: Ring): Map<string, number> {
  const counts = new Map<string, number>();
  for (const owner of ring.owners) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  return counts;
}

interface Quota {
  readonly id: string;
  readonly share: number;
  readonly floor: number;
  readonly ceil: number;
  count: number;
  receive: number;
}

function validateNodes(nodes: readonly RingNode[]): RingNode[] {
  if (nodes.length === 0) throw new MeshkvError("INVALID_ARGUMENT", "A ring needs at least one node");
  if (nodes.length > RING_NODES_MAX) {
    throw new MeshkvError("LIMIT_EXCEEDED", `Too many nodes for one ring: ${nodes.length} > ${RING_NODES_MAX}`);
  }
  const seen = new Set<string>();
  for (const node of nodes) {
    if (typeof node.id !== "string" || node.id.length === 0 || node.id.length > NODE_ID_BYTES_MAX) {
      throw new MeshkvError("INVALID_ARGUMENT", `Node id must be 1 to ${NODE_ID_BYTES_MAX} characters: ${node.id}`);
    }
    if (seen.has(node.id)) throw new MeshkvError("INVALID_ARGUMENT", `Duplicate node id: ${node.id}`);
    seen.add(node.id);
    if (!(Number.isFinite(node.capacity) && node.capacity > 0)) {
      throw new MeshkvError("INVALID_ARGUMENT", `Node capacity must be a positive number: ${node.id}`, {
        details: { node: node.id, capacity: node.capacity },
      });
    }
  }
  return [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function quotasFor(nodes: readonly RingNode[], partitions: number, owners: readonly (string | undefined)[]) {
  const total = nodes.reduce((sum, n) => sum + n.capacity, 0);
  const quotas = new Map<string, Quota>();
  for (const node of nodes) {
    const share = (partitions * node.capacity) / total;
    // The epsilon keeps floating-point noise (64.00000000001) from turning an exact share into a range.
    quotas.set(node.id, {
      id: node.id,
      share,
      floor: Math.floor(share + 1e-9),
      ceil: Math.ceil(share - 1e-9),
      count: 0,
      receive: 0,
    });
  }
  for (const owner of owners) {
    const q = owner === undefined ? undefined : quotas.get(owner);
    if (q) q.count++;
  }
  return quotas;
}

/** How many partitions within `window` of `p` (either side) are owned by `id`. */
function conflicts(owners: readonly (string | undefined)[], p: number, id: string, window: number): number {
  const n = owners.length;
  let found = 0;
  for (let d = 1; d < window && d < n; d++) {
    if (owners[(p + d) % n] === id) found++;
    if (owners[(p - d + n) % n] === id) found++;
  }
  return found;
}

/**
 * Computes the ring for `nodes` (the whole target membership), starting from `current` (or from nothing for a
 * new cluster), and the moves that get there. Throws INVALID_ARGUMENT for bad partitions, ids or capacities.
 */
export function claim(current: Ring | null, nodes: readonly RingNode[], options: ClaimOptions = {}): ClaimPlan {
  const sorted = validateNodes(nodes);
  const partitions = current?.partitions ?? options.partitions ?? DEFAULT_PARTITIONS;
  validatePartitions(partitions);
  const window = options.targetN ?? 3;
  if (!(Number.isInteger(window) && window >= 1)) throw new RangeError(`targetN must be a positive integer: ${window}`);
  if (current && current.owners.length !== partitions) {
    throw new RangeError("Ring owners length differs from partitions");
  }

  const previous: readonly (string | undefined)[] = current ? current.owners : new Array<undefined>(partitions);
  const owners: (string | undefined)[] = [...previous];
  const quotas = quotasFor(sorted, partitions, owners);
  const pool: number[] = [];
  const release = (p: number) => {
    const q = quotas.get(owners[p]!);
    if (q) q.count--;
    owners[p] = undefined;
    pool.push(p);
  };

  // 1. Partitions whose owner is gone must move.
  for (let p = 0; p < partitions; p++) {
    if (owners[p] === undefined || !quotas.has(owners[p]!)) {
      owners[p] = undefined;
      pool.push(p);
    }
  }
  // 2. Nodes above their ceiling give up the surplus, the partitions that crowd their neighbours first.
  for (const q of quotas.values()) if (q.count > q.ceil) releaseWorst(q, q.count - q.ceil);
  // 3. When the pool cannot fill every node up to its floor, nodes above their exact share give one each.
  let needs = 0;
  for (const q of quotas.values()) needs += Math.max(0, q.floor - q.count);
  while (pool.length < needs) {
    let best: Quota | undefined;
    for (const q of quotas.values()) {
      if (q.count > q.floor && (!best || q.count - q.share > best.count - best.share)) best = q;
    }
    assert(best, "claim: the floors of all shares exceed the partition count");
    releaseWorst(best, 1);
  }
  // 4. Decide how many each node receives, then which partitions.
  decideReceives(quotas, pool.length);
  assign(pool.sort((a, b) => a - b), owners, quotas, window);
  // 5. Owners repeated within a window of targetN make preference lists walk further and load some nodes more
  // than others: swap owners (counts stay) until no window repeats, when there are enough nodes for that.
  if (quotas.size > window) {
    let planned = 0;
    for (let p = 0; p < partitions; p++) if (previous[p] !== undefined && previous[p] !== owners[p]) planned++;
    repairConflicts(owners as string[], previous, window, Math.ceil(planned * REPAIR_EXTRA_MOVES));
  }

  const moves: Move[] = [];
  for (let p = 0; p < partitions; p++) {
    const from = previous[p];
    const to = owners[p]!;
    if (from !== undefined && from !== to) moves.push({ partition: p, from, to });
  }
  return { ring: { partitions, owners: owners as string[] }, moves };

  function releaseWorst(q: Quota, count: number): void {
    const mine: { p: number; score: number }[] = [];
    for (let p = 0; p < partitions; p++) {
      if (owners[p] === q.id) mine.push({ p, score: conflicts(owners, p, q.id, window) });
    }
    // Among equally crowded partitions, give up ones spread evenly around the ring (bit-reversed order), not a
    // run at one end: a joiner that received a contiguous run would sit in few preference lists while the
    // node after its run sat in nearly all of them.
    mine.sort((a, b) => b.score - a.score || spread(a.p, partitions) - spread(b.p, partitions));
    for (let i = 0; i < count; i++) release(mine[i]!.p);
  }
}

/**
 * Swaps the owners of two partitions while that lowers the number of owners repeated within `window` of each
 * other (claim_v2's "meet target_n" in riak_core), preferring swaps that move nothing that was not already moving
 * and moving at most `extraMovesMax` partitions more than the plan did.
 * Counts per node are unchanged. Without repeats, a partition's N replicas are the owners of the N partitions
 * from it clockwise, so every node is in N times as many preference lists as it owns partitions.
 */
const SWAP_CANDIDATES_MAX = 512;

/** Swaps that remove repeated owners may move at most this share of a plan's moves more. */
export const REPAIR_EXTRA_MOVES = 1 / 3;

function repairConflicts(
  owners: string[],
  previous: readonly (string | undefined)[],
  window: number,
  extraMovesMax: number,
): void {
  let extra = 0;
  const n = owners.length;
  const at = (p: number, id: string) => conflicts(owners, p, id, window);
  // A swap's extra moves: partitions that kept their owner and would now change it, minus ones sent back.
  const cost = (p: number, from: string, to: string) => (previous[p] === from ? 1 : 0) - (previous[p] === to ? 1 : 0);
  for (let pass = 0; pass < 4; pass++) {
    let improved = false;
    for (let p = 0; p < n; p++) {
      const a = owners[p]!;
      const ca = at(p, a);
      if (ca === 0) continue;
      let best = -1;
      let bestGain = 0;
      let bestCost = Infinity;
      // At most SWAP_CANDIDATES_MAX candidates, spread evenly over the ring (an odd step visits every partition
      // of a power-of-two ring), so a claim stays fast with tens of thousands of partitions.
      const tries = Math.min(n, SWAP_CANDIDATES_MAX);
      const step = 2 * Math.floor(n / tries) + 1;
      for (let i = 0, q = (p + 1) % n; i < tries; i++, q = (q + step) % n) {
        const b = owners[q]!;
        if (b === a) continue;
        const cb = at(q, b);
        owners[p] = b;
        owners[q] = a;
        const after = at(p, b) + at(q, a);
        owners[p] = a;
        owners[q] = b;
        const gain = ca + cb - after;
        const c = cost(p, a, b) + cost(q, b, a);
        if (extra + c > extraMovesMax) continue;
        if (gain > bestGain || (gain === bestGain && gain > 0 && c < bestCost)) {
          best = q;
          bestGain = gain;
          bestCost = c;
          if (after === 0 && c <= 0) break; // nothing better exists
        }
      }
      if (best >= 0) {
        owners[p] = owners[best]!;
        owners[best] = a;
        extra += bestCost;
        improved = true;
      }
    }
    if (!improved) return;
  }
}

/** `p` with its bits reversed (`partitions` is a power of two): visits the ring in evenly spread order. */
function spread(p: number, partitions: number): number {
  let r = 0;
  for (let bit = 1, rev = partitions >>> 1; bit < partitions; bit <<= 1, rev >>>= 1) if (p & bit) r |= rev;
  return r;
}

/** How many pooled partitions each node receives: up to its floor, then leftovers by largest deficit. */
function decideReceives(quotas: ReadonlyMap<string, Quota>, pooled: number): void {
  let spare = pooled;
  for (const q of quotas.values()) {
    q.receive = Math.max(0, q.floor - q.count);
    spare -= q.receive;
  }
  const byDeficit = [...quotas.values()].sort((a, b) =>
    (b.share - b.count - b.receive) - (a.share - a.count - a.receive) || (a.id < b.id ? -1 : 1)
  );
  for (const q of byDeficit) {
    if (spare === 0) break;
    if (q.count + q.receive < q.ceil) {
      q.receive++;
      spare--;
    }
  }
  assert(spare === 0, "claim: partitions left over after every node reached its ceiling");
}

/** Gives each pooled partition to a receiver, keeping neighbours distinct and spreading receivers evenly. */
function assign(
  pool: readonly number[],
  owners: (string | undefined)[],
  quotas: ReadonlyMap<string, Quota>,
  window: number,
): void {
  const receivers = [...quotas.values()].filter((q) => q.receive > 0);
  const left = new Map(receivers.map((q) => [q.id, q.receive]));
  for (const p of pool) {
    let best: Quota | undefined;
    let bestConflicts = Infinity;
    let bestRatio = -1;
    for (const q of receivers) {
      const remaining = left.get(q.id)!;
      if (remaining === 0) continue;
      const c = conflicts(owners, p, q.id, window);
      const ratio = remaining / q.receive;
      if (c < bestConflicts || (c === bestConflicts && ratio > bestRatio)) {
        best = q;
        bestConflicts = c;
        bestRatio = ratio;
      }
    }
    assert(best, "claim: a pooled partition found no receiver");
    owners[p] = best.id;
    left.set(best.id, left.get(best.id)! - 1);
    best.count++;
  }
}

/** The plan for adding `joiner` to a ring owned by `nodes`. */
export function planJoin(
  ring: Ring,
  nodes: readonly RingNode[],
  joiner: RingNode,
  options: ClaimOptions = {},
): ClaimPlan {
  return claim(ring, [...nodes.filter((n) => n.id !== joiner.id), joiner], options);
}

/** The plan for removing `leaverId` from a ring owned by `nodes`: only the leaver's partitions move. */
export function planLeave(
  ring: Ring,
  nodes: readonly RingNode[],
  leaverId: string,
  options: ClaimOptions = {},
): ClaimPlan {
  return claim(ring, nodes.filter((n) => n.id !== leaverId), options);
}

/** A partition count with at least `perNode` partitions for each of `nodes` nodes (riak_core's advice). */
export function recommendedPartitions(nodes: number, perNode = 16): number {
  let p = DEFAULT_PARTITIONS;
  while (p < nodes * perNode && p < PARTITIONS_MAX) p *= 2;
  return p;
}
