/**
 * Replica placement: the preference list of a partition, and who stands in when replicas are down.
 *
 * After Dynamo (DeCandia et al. 2007, section 4.3): the replicas of a partition are the first N distinct
 * physical nodes met walking the ring clockwise from it. With datacenters, replication is per datacenter, as
 * in Cassandra's NetworkTopologyStrategy (`{ "us-east": 2, "eu-west": 1 }`): each datacenter takes its
 * factor from its own nodes in clockwise order, and inside one datacenter distinct racks come first. Nodes
 * without a rack count as a rack of their own, so without racks the walk order is kept exactly.
 *
 * A sloppy quorum (Dynamo section 4.6) sends a down replica's write to the next healthy node further along
 * the walk, in the same datacenter, with a hint naming the replica it stands in for. When replicas cannot be
 * placed on distinct nodes, racks or datacenters, the plan still comes back, with warnings as data, so the
 * admin API can show them instead of the node refusing to start.
 */
import { MeshkvError } from "../errors.ts";
import { partitionOf, type Ring } from "./ring.ts";

export const DEFAULT_DATACENTER = "default";
export const DEFAULT_N = 3;
/** The most replicas one partition can have, over all datacenters. */
export const REPLICAS_MAX = 32;

export interface PlacementNode {
  readonly id: string;
  readonly datacenter?: string;
  readonly rack?: string;
}

export interface PlacementOptions {
  /** Replicas per partition without datacenter-aware replication. Default 3. */
  n?: number;
  /** Replicas per datacenter; when given, `n` is ignored and nodes in other datacenters hold no replicas. */
  replication?: Readonly<Record<string, number>>;
}

export interface Replica {
  readonly node: string;
  readonly datacenter: string;
}

export type PlacementWarning =
  | { readonly code: "FEWER_NODES"; readonly datacenter: string; readonly wanted: number; readonly placed: number }
  | { readonly code: "SHARED_RACK"; readonly datacenter: string; readonly rack: string; readonly replicas: number }
  | { readonly code: "NO_SUCH_DATACENTER"; readonly datacenter: string };

export interface PreferenceList {
  readonly partition: number;
  /** The replicas, in clockwise order (the first is the natural coordinator). */
  readonly replicas: readonly Replica[];
  /** Every other known node in clockwise order: the sloppy-quorum fallbacks. */
  readonly fallbacks: readonly Replica[];
  readonly warnings: readonly PlacementWarning[];
}

/** Where one replica slot's request goes: the replica itself or its stand-in. */
export interface Target {
  readonly node: string;
  /** The datacenter of the slot (the replica's), which is also the stand-in's. */
  readonly datacenter: string;
  /** Set when `node` stands in for a down replica: the hint is for this node. */
  readonly hintFor?: string;
  /** False when the replica is down and no stand-in was allowed or found. */
  readonly available: boolean;
}

export interface Group {
  readonly datacenter: string | null;
  readonly wanted: number;
}

/** Checks a replica setting (INVALID_ARGUMENT when out of bounds); the datacenter groups it asks for. */
export function validateOptions(options: PlacementOptions): Group[] {
  if (options.replication === undefined) {
    const n = options.n ?? DEFAULT_N;
    if (!Number.isInteger(n) || n < 1 || n > REPLICAS_MAX) {
      throw new MeshkvError("INVALID_ARGUMENT", `Replica count n must be an integer from 1 to ${REPLICAS_MAX}: ${n}`);
    }
    return [{ datacenter: null, wanted: n }];
  }
  const groups: Group[] = [];
  let total = 0;
  for (const [datacenter, wanted] of Object.entries(options.replication)) {
    if (!Number.isInteger(wanted) || wanted < 0) {
      throw new MeshkvError(
        "INVALID_ARGUMENT",
        `Replication factor must be a non-negative integer: ${datacenter}=${wanted}`,
      );
    }
    total += wanted;
    if (wanted > 0) groups.push({ datacenter, wanted });
  }
  if (total < 1 || total > REPLICAS_MAX) {
    throw new MeshkvError("INVALID_ARGUMENT", `Total replication must be from 1 to ${REPLICAS_MAX}: ${total}`);
  }
  return groups.sort((a, b) => (a.datacenter! < b.datacenter! ? -1 : 1));
}

/**
 * The placement of every partition of one ring, computed lazily and cached: build one per ring and member
 * change, then look keys up in O(1) after the first lookup of their partition.
 */
export class Placement {
  readonly ring: Ring;
  #groups: Group[];
  #nodes = new Map<string, PlacementNode>();
  #cache: (PreferenceList | undefined)[];
  #idle: string[];

  constructor(ring: Ring, nodes: readonly PlacementNode[], options: PlacementOptions = {}) {
    this.ring = ring;
    this.#groups = validateOptions(options);
    for (const node of nodes) this.#nodes.set(node.id, node);
    for (const owner of new Set(ring.owners)) {
      if (!this.#nodes.has(owner)) throw new RangeError(`Ring owner missing from the placement nodes: ${owner}`);
    }
    const owning = new Set(ring.owners);
    this.#idle = [...this.#nodes.keys()].filter((id) => !owning.has(id)).sort();
    this.#cache = new Array<PreferenceList | undefined>(ring.partitions);
  }

  /** The preference list of partition `p`. */
  forPartition(p: number): PreferenceList {
    if (!Number.isInteger(p) || p < 0 || p >= this.ring.partitions) throw new RangeError(`No such partition: ${p}`);
    return (this.#cache[p] ??= this.#compute(p));
  }

  /** The preference list of the partition holding `key`. */
  forKey(key: string): PreferenceList {
    return this.forPartition(partitionOf(key, this.ring.partitions));
  }

  /**
   * One target per replica slot of partition `p`, given the nodes believed down. With `sloppy` (the default)
   * a down replica's slot goes to the first healthy fallback of its datacenter not already used, with a hint.
   */
  targets(p: number, down: ReadonlySet<string>, sloppy = true): Target[] {
    const list = this.forPartition(p);
    const used = new Set(list.replicas.map((r) => r.node));
    return list.replicas.map((replica): Target => {
      if (!down.has(replica.node)) return { node: replica.node, datacenter: replica.datacenter, available: true };
      if (sloppy) {
        const inGroup = this.#groups[0]!.datacenter === null;
        const standIn = list.fallbacks.find((f) =>
          !down.has(f.node) && !used.has(f.node) && (inGroup || f.datacenter === replica.datacenter)
        );
        if (standIn) {
          used.add(standIn.node);
          return { node: standIn.node, datacenter: replica.datacenter, hintFor: replica.node, available: true };
        }
      }
      return { node: replica.node, datacenter: replica.datacenter, available: false };
    });
  }

  /** Every distinct warning over all partitions (for the admin API). */
  warnings(): PlacementWarning[] {
    const seen = new Map<string, PlacementWarning>();
    for (let p = 0; p < this.ring.partitions; p++) {
      for (const w of this.forPartition(p).warnings) seen.set(JSON.stringify(w), w);
    }
    return [...seen.values()];
  }

  #datacenterOf(id: string): string {
    return this.#nodes.get(id)?.datacenter ?? DEFAULT_DATACENTER;
  }

  #compute(p: number): PreferenceList {
    const { owners, partitions } = this.ring;
    const walk: string[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < partitions; i++) {
      const owner = owners[(p + i) % partitions]!;
      if (!seen.has(owner)) {
        seen.add(owner);
        walk.push(owner);
      }
    }
    walk.push(...this.#idle);
    const chosen = new Set<string>();
    const warnings: PlacementWarning[] = [];
    for (const group of this.#groups) {
      const candidates = group.datacenter === null
        ? walk
        : walk.filter((id) => this.#datacenterOf(id) === group.datacenter);
      const datacenter = group.datacenter ?? DEFAULT_DATACENTER;
      if (candidates.length === 0) warnings.push({ code: "NO_SUCH_DATACENTER", datacenter });
      for (const id of this.#pick(candidates, group.wanted, datacenter, warnings)) chosen.add(id);
    }
    const replicas: Replica[] = [];
    const fallbacks: Replica[] = [];
    for (const id of walk) {
      (chosen.has(id) ? replicas : fallbacks).push({ node: id, datacenter: this.#datacenterOf(id) });
    }
    return { partition: p, replicas, fallbacks, warnings };
  }

  /** Up to `wanted` of `candidates` (in walk order): distinct racks first, then any node. */
  #pick(candidates: readonly string[], wanted: number, datacenter: string, warnings: PlacementWarning[]): string[] {
    const picked: string[] = [];
    const racks = new Map<string, number>();
    const rackOf = (id: string) => this.#nodes.get(id)?.rack ?? `\u0000${id}`;
    for (const id of candidates) {
      if (picked.length === wanted) break;
      if (racks.has(rackOf(id))) continue;
      racks.set(rackOf(id), 1);
      picked.push(id);
    }
    for (const id of candidates) {
      if (picked.length === wanted) break;
      if (picked.includes(id)) continue;
      const rack = rackOf(id);
      racks.set(rack, racks.get(rack)! + 1);
      picked.push(id);
    }
    if (picked.length < wanted) warnings.push({ code: "FEWER_NODES", datacenter, wanted, placed: picked.length });
    for (const [rack, replicas] of racks) {
      if (replicas > 1) warnings.push({ code: "SHARED_RACK", datacenter, rack, replicas });
    }
    return picked;
  }
}
