/**
 * The ring as this node sees it: a deterministic function of the gossip member table, so every node that
 * knows the same members computes the same owners without a coordinator (riak_core gossips the ring itself;
 * meshkv derives it, so there is one source of truth: membership).
 *
 * Members that are alive, suspect or down own partitions (a down member is a temporary failure: sloppy
 * quorums and hints cover it); members that left own nothing. The ring is built by folding `claim` over the
 * members in id order, one join at a time, so it only depends on the set of members. A node that has not yet
 * joined (no table exchanged with a seed) only knows itself and owns every partition; the coordinator does
 * not serve until it has joined.
 */
import { downSet, type MemberTable } from "../core/membership.ts";
import { Placement, type PlacementNode, type Target } from "../core/placement.ts";
import { claim, partitionOf, type Ring } from "../core/ring.ts";
import type { Keyspace } from "./keyspaces.ts";

export interface ReplicationConfig {
  /** Partition count of the cluster (a power of two; every node must use the same). */
  partitions: number;
  /** Replicas per partition (ignored with `replication`). */
  n: number;
  /** Replicas per datacenter, e.g. `{ "us-east": 2, "eu-west": 1 }`. */
  replication?: Readonly<Record<string, number>>;
  /** Use fallback nodes with hints when a replica is down (default true); false fails with QUORUM_UNMET. */
  sloppy: boolean;
  /**
   * `siblings` (default): concurrent writes are kept side by side for the client to resolve. `lww`: each write
   * is stamped with a hybrid logical clock and readers see only the latest (Cassandra's model; no siblings).
   */
  conflicts?: "siblings" | "lww";
  /** Per key-prefix defaults for levels and conflict mode (`keyspaces.ts`); N stays the cluster's. */
  keyspaces?: readonly Keyspace[];
}

export interface RingSnapshot {
  /** Changes whenever the owning members change. */
  readonly epoch: number;
  readonly ring: Ring;
  readonly placement: Placement;
  /** Ids of the members that own partitions, sorted. */
  readonly owners: readonly string[];
  /** Members this node considers down (their slots go to fallbacks). */
  readonly down: ReadonlySet<string>;
}

export class RingView {
  readonly config: ReplicationConfig;
  #signature = "";
  #table: MemberTable | null = null;
  #snapshot: RingSnapshot | null = null;
  #epoch = 0;

  constructor(config: ReplicationConfig) {
    this.config = config;
  }

  /** The snapshot for `table`, recomputed only when the owning members (or their places) changed. */
  update(table: MemberTable): RingSnapshot {
    // Gossip replaces its table on every change, so an unchanged table object means an unchanged ring.
    if (table === this.#table && this.#snapshot !== null) return this.#snapshot;
    this.#table = table;
    const nodes = [...table.values()].filter((m) => m.status !== "left").sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const signature = nodes.map((m) => `${m.id}/${m.capacity}/${m.datacenter}/${m.rack ?? ""}`).join(",");
    const down = downSet(table);
    if (signature !== this.#signature || this.#snapshot === null) {
      let ring: Ring | null = null;
      for (let i = 1; i <= nodes.length; i++) {
        ring = claim(ring, nodes.slice(0, i).map((m) => ({ id: m.id, capacity: m.capacity })), { partitions: this.config.partitions, targetN: this.config.n }).ring;
      }
      const placementNodes: PlacementNode[] = nodes.map((m) => ({ id: m.id, datacenter: m.datacenter, ...(m.rack === undefined ? {} : { rack: m.rack }) }));
      const placement = new Placement(ring!, placementNodes, this.config.replication ? { replication: this.config.replication } : { n: this.config.n });
      this.#signature = signature;
      this.#epoch++;
      this.#snapshot = { epoch: this.#epoch, ring: ring!, placement, owners: nodes.map((m) => m.id), down };
    } else if (!sameSet(down, this.#snapshot.down)) {
      this.#snapshot = { ...this.#snapshot, down };
    }
    return this.#snapshot;
  }

  get snapshot(): RingSnapshot | null {
    return this.#snapshot;
  }

  partitionOf(key: string): number {
    return partitionOf(key, this.config.partitions);
  }
}

/** The replica slots of partition `p` (stand-ins for down replicas when sloppy). */
export function targetsOf(s: RingSnapshot, p: number, sloppy: boolean): Target[] {
  return s.placement.targets(p, s.down, sloppy);
}

/** The replicas (primaries) of partition `p`. */
export function replicasOf(s: RingSnapshot, p: number): string[] {
  return s.placement.forPartition(p).replicas.map((r) => r.node);
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
