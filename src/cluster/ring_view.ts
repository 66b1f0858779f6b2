/**
 * The ring as this node sees it: a deterministic function of the gossip member table, so every node that
 * knows the same members computes the same owners without a coordinator (riak_core gossips the ring itself;
 * meshkv derives it, so there is one source of truth: membership).
 *
 * Members that are alive, suspect or down own partitions (a down member is a temporary failure: sloppy
 * quorums and hints cover it); members that left or were removed own nothing (a removal folds like a leave). The ring is built by folding `claim` over the
 * members in join order (`since`, when each node's data directory was created, then id), one join at a time,
 * members that left included, then removing those in one last claim: it depends only on the member table, and a
 * join (a newer `since`) or a leave changes only the end of that history, so it moves about 1/n of the data
 * (folding in id order made a joiner whose id sorted first reshuffle nearly every partition). A node that has not yet
 * joined (no table exchanged with a seed) only knows itself and owns every partition; the coordinator does
 * not serve until it has joined.
 *
 * Partitions here are the store's partitions: ring partition p of replica class c (`keyspaces.ts`) is partition
 * `c * ring partitions + p`, placed with that class's replica counts. Without keyspaces that set replicas there
 * is only class 0, and store partitions are ring partitions.
 */
import { downSet, type MemberTable } from "../core/membership.ts";
import {
  Placement,
  type PlacementNode,
  type PlacementOptions,
  type PlacementWarning,
  type PreferenceList,
  type Target,
  validateOptions,
} from "../core/placement.ts";
import { claim, partitionOf, type Ring } from "../core/ring.ts";
import { MeshkvError } from "../errors.ts";
import { canonicalReplicas, type Keyspace, Keyspaces } from "./keyspaces.ts";

/** Store partitions are u16 numbers in the engine: ring partitions times replica classes may not pass this. */
export const STORE_PARTITIONS_MAX = 65_536;

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
  /** Per key-prefix defaults for levels, conflict mode and replica counts (`keyspaces.ts`). */
  keyspaces?: readonly Keyspace[];
}

export interface RingSnapshot {
  /** Changes whenever the owning members change. */
  readonly epoch: number;
  readonly ring: Ring;
  /** Preference lists by store partition (every replica class). */
  readonly placement: Placements;
  /** Ids of the members that own partitions, sorted. */
  readonly owners: readonly string[];
  /** Members this node considers down (their slots go to fallbacks). */
  readonly down: ReadonlySet<string>;
}

/** The cluster's own replica setting (replica class 0). */
export function clusterReplicas(config: ReplicationConfig): PlacementOptions {
  return config.replication ? { replication: config.replication } : { n: config.n };
}

export class RingView {
  readonly config: ReplicationConfig;
  /** Store partitions: ring partitions times replica classes. */
  readonly partitions: number;
  readonly #classes: Keyspaces;
  #signature = "";
  #table: MemberTable | null = null;
  #snapshot: RingSnapshot | null = null;
  #epoch = 0;

  constructor(config: ReplicationConfig) {
    this.config = config;
    this.#classes = new Keyspaces(config.keyspaces ?? [], {
      read: "quorum",
      write: "quorum",
      conflicts: "siblings",
      replicas: clusterReplicas(config),
    });
    for (const c of this.#classes.classes) validateOptions(c);
    this.partitions = config.partitions * this.#classes.classes.length;
    if (this.partitions > STORE_PARTITIONS_MAX) {
      throw new MeshkvError(
        "INVALID_ARGUMENT",
        `${config.partitions} partitions times ${this.#classes.classes.length} replica classes (keyspaces with their own replicas) is over ${STORE_PARTITIONS_MAX}: use fewer partitions or fewer distinct replica counts`,
      );
    }
  }

  /** The snapshot for `table`, recomputed only when the owning members (or their places) changed. */
  update(table: MemberTable): RingSnapshot {
    // Gossip replaces its table on every change, so an unchanged table object means an unchanged ring.
    if (table === this.#table && this.#snapshot !== null) return this.#snapshot;
    this.#table = table;
    // Join order: when each node's data directory was created, then id. Members that left stay in the table and
    // in the fold, and leave in one last step, so a new node or a leave changes only the end of the history.
    const history = [...table.values()].sort((a, b) =>
      (a.since ?? 0) - (b.since ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    );
    const nodes = history.filter((m) => m.status !== "left" && m.status !== "removed");
    const signature = history.map((m) =>
      `${m.id}/${m.since ?? 0}/${
        m.status === "left" || m.status === "removed" ? "left" : ""
      }/${m.capacity}/${m.datacenter}/${m.rack ?? ""}`
    ).join(",");
    const down = downSet(table);
    if (signature !== this.#signature || this.#snapshot === null) {
      const o = { partitions: this.config.partitions, targetN: this.config.n };
      let ring: Ring | null = null;
      for (let i = 1; i <= history.length; i++) {
        ring = claim(ring, history.slice(0, i).map((m) => ({ id: m.id, capacity: m.capacity })), o).ring;
      }
      if (nodes.length < history.length && nodes.length > 0) {
        ring = claim(ring, nodes.map((m) => ({ id: m.id, capacity: m.capacity })), o).ring;
      }
      const placementNodes: PlacementNode[] = nodes.map((m) => ({
        id: m.id,
        datacenter: m.datacenter,
        ...(m.rack === undefined ? {} : { rack: m.rack }),
      }));
      const placement = new Placements(
        this.#classes.classes.map((c) => new Placement(ring!, placementNodes, c)),
        (key) => this.#classes.classOf(key),
      );
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

  /**
   * What must be the same on every node for keys to be placed and read the same way: partitions, the replica
   * classes, each keyspace's class and conflict mode (in order), and the cluster's conflict mode.
   */
  signature(): string {
    const ks = (this.config.keyspaces ?? []).map((k) =>
      `${k.prefix}=${this.#classes.of(k.prefix).replicaClass}/${k.conflicts ?? ""}`
    );
    return JSON.stringify({
      partitions: this.config.partitions,
      classes: this.#classes.classes.map(canonicalReplicas),
      conflicts: this.config.conflicts ?? "siblings",
      keyspaces: ks,
    });
  }

  /** The store partition of `key` (its ring partition within its replica class). */
  partitionOf(key: string): number {
    return this.#classes.classOf(key) * this.config.partitions + partitionOf(key, this.config.partitions);
  }

  /** The store partitions of ring partition `p` (one per replica class). */
  samePlace(p: number): number[] {
    const ringP = p % this.config.partitions;
    return this.#classes.classes.map((_, c) => c * this.config.partitions + ringP);
  }
}

/** The placement of every store partition: one `Placement` per replica class over the same ring. */
export class Placements {
  readonly ring: Ring;
  /** Store partitions (ring partitions times classes). */
  readonly partitions: number;
  readonly #byClass: readonly Placement[];
  readonly #classOf: (key: string) => number;
  readonly #cache: (PreferenceList | undefined)[];

  constructor(byClass: readonly Placement[], classOf: (key: string) => number) {
    this.ring = byClass[0]!.ring;
    this.#byClass = byClass;
    this.#classOf = classOf;
    this.partitions = this.ring.partitions * byClass.length;
    this.#cache = new Array<PreferenceList | undefined>(this.partitions);
  }

  /** The preference list of store partition `p` (its `partition` is `p`). */
  forPartition(p: number): PreferenceList {
    if (!Number.isInteger(p) || p < 0 || p >= this.partitions) throw new RangeError(`No such partition: ${p}`);
    const P = this.ring.partitions;
    if (p < P) return this.#byClass[0]!.forPartition(p);
    return (this.#cache[p] ??= { ...this.#byClass[Math.floor(p / P)]!.forPartition(p % P), partition: p });
  }

  /** The preference list of the store partition holding `key`. */
  forKey(key: string): PreferenceList {
    return this.forPartition(this.#classOf(key) * this.ring.partitions + partitionOf(key, this.ring.partitions));
  }

  targets(p: number, down: ReadonlySet<string>, sloppy = true): Target[] {
    if (!Number.isInteger(p) || p < 0 || p >= this.partitions) throw new RangeError(`No such partition: ${p}`);
    const P = this.ring.partitions;
    return this.#byClass[Math.floor(p / P)]!.targets(p % P, down, sloppy);
  }

  /** Placement warnings of every class, each once. */
  warnings(): PlacementWarning[] {
    const seen = new Set<string>();
    return this.#byClass.flatMap((pl) => pl.warnings()).filter((w) => {
      const k = JSON.stringify(w);
      return seen.has(k) ? false : (seen.add(k), true);
    });
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
