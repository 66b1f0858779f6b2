/**
 * Keyspaces: per key-prefix defaults, like a Cassandra table's or a Riak bucket type's properties. A keyspace
 * is named by a key prefix (`sessions/`); a key belongs to the keyspace with the longest prefix it starts with,
 * and otherwise to the cluster's defaults. A keyspace sets the consistency of requests that name none, the
 * conflict mode (siblings or last-writer-wins) and the replica count (N, or per-datacenter factors).
 *
 * Replica counts and partitions: replicas exchange and move whole partitions (anti-entropy trees, handoff), so
 * every partition must have one replica set. Keys whose keyspaces ask for different replica counts therefore
 * live in different partitions: each distinct replica setting is a replica class (class 0 is the cluster's
 * own, the others numbered in the order keyspaces first name them), and a key of class c in ring partition p
 * is stored in partition `c * partitions + p` (riak_kv keeps one anti-entropy tree per n_val for the same
 * reason). Placement of class c is the ring's walk with that class's counts.
 *
 * Every node of a cluster must be given the same keyspaces, in the same order (like the other replication
 * flags); a keyspace's replica count cannot change while it holds data (its keys would be looked up in other
 * partitions), and new keyspaces with new replica counts go at the end of the list.
 */
import { type ConsistencyLevel, parseConsistency } from "../core/quorum.ts";
import { type PlacementOptions, REPLICAS_MAX } from "../core/placement.ts";
import { MeshkvError } from "../errors.ts";

export type ConflictMode = "siblings" | "lww";

export interface Keyspace {
  /** Keys starting with this belong to the keyspace (non-empty). */
  readonly prefix: string;
  readonly read?: ConsistencyLevel;
  readonly write?: ConsistencyLevel;
  readonly conflicts?: ConflictMode;
  /** Replica count or per-datacenter factors for the keyspace's keys (default: the cluster's). */
  readonly replicas?: PlacementOptions;
}

/** The settings one key gets. */
export interface KeySettings {
  readonly keyspace: string | null;
  readonly read: ConsistencyLevel;
  readonly write: ConsistencyLevel;
  readonly conflicts: ConflictMode;
  /** Its replica class: 0 for the cluster's replica setting, else an index into `ReplicaClasses.list`. */
  readonly replicaClass: number;
}

/** The cluster-wide defaults a keyspace falls back to. */
export interface KeyDefaults {
  readonly read: ConsistencyLevel;
  readonly write: ConsistencyLevel;
  readonly conflicts: ConflictMode;
  /** The cluster's replica setting (`n`, or per-datacenter `replication`); default n = 3. */
  readonly replicas?: PlacementOptions;
}

/** The most keyspaces a cluster may declare. */
export const KEYSPACES_MAX = 64;

export class Keyspaces {
  readonly #byLength: readonly Keyspace[];
  readonly #defaults: KeySettings;
  readonly #classOf = new Map<string, number>();
  /** The replica classes: index 0 is the cluster's setting, then each other one in declaration order. */
  readonly classes: readonly PlacementOptions[];

  constructor(keyspaces: readonly Keyspace[], defaults: KeyDefaults) {
    if (keyspaces.length > KEYSPACES_MAX) {
      throw new MeshkvError("INVALID_ARGUMENT", `Over the keyspacesMax limit: ${keyspaces.length} > ${KEYSPACES_MAX}`);
    }
    const seen = new Set<string>();
    for (const k of keyspaces) {
      if (typeof k.prefix !== "string" || k.prefix.length === 0) {
        throw new MeshkvError("INVALID_ARGUMENT", "A keyspace needs a non-empty prefix");
      }
      if (seen.has(k.prefix)) {
        throw new MeshkvError("INVALID_ARGUMENT", `Keyspace prefix given twice: ${JSON.stringify(k.prefix)}`);
      }
      seen.add(k.prefix);
    }
    const classes: PlacementOptions[] = [];
    const classIndex = new Map<string, number>();
    const classOf = (r: PlacementOptions): number => {
      const c = canonicalReplicas(r);
      let i = classIndex.get(c);
      if (i === undefined) {
        i = classes.length;
        classIndex.set(c, i);
        classes.push(r);
      }
      return i;
    };
    classOf(defaults.replicas ?? { n: 3 });
    for (const k of keyspaces) this.#classOf.set(k.prefix, k.replicas === undefined ? 0 : classOf(k.replicas));
    this.classes = classes;
    this.#byLength = [...keyspaces].sort((a, b) => b.prefix.length - a.prefix.length);
    this.#defaults = {
      keyspace: null,
      read: defaults.read,
      write: defaults.write,
      conflicts: defaults.conflicts,
      replicaClass: 0,
    };
  }

  /** The settings of `key`: its keyspace's, falling back to the cluster's for what the keyspace leaves out. */
  of(key: string): KeySettings {
    const k = this.#byLength.find((s) => key.startsWith(s.prefix));
    if (!k) return this.#defaults;
    const d = this.#defaults;
    return {
      keyspace: k.prefix,
      read: k.read ?? d.read,
      write: k.write ?? d.write,
      conflicts: k.conflicts ?? d.conflicts,
      replicaClass: this.#classOf.get(k.prefix)!,
    };
  }

  /** The replica class of `key` (0 unless its keyspace sets its own replica count). */
  classOf(key: string): number {
    if (this.classes.length === 1) return 0;
    return this.of(key).replicaClass;
  }

  list(): Keyspace[] {
    return [...this.#byLength];
  }
}

/**
 * Parses `--keyspaces` entries: `prefix=setting:value;setting:value`, settings `read`, `write` (a consistency
 * level: one, quorum, all, local_one, local_quorum, each_quorum, r=N / w=N), `conflicts` (siblings or lww) and
 * `replicas` (a count, `replicas:2`, or per-datacenter factors, `replicas:us-east:2+eu-west:1`).
 */
export function parseKeyspace(entry: string): Keyspace {
  // The prefix may hold "=" itself: it ends at the first "=" followed by a setting (or by nothing).
  let eq = -1;
  for (let i = entry.indexOf("="); i >= 0; i = entry.indexOf("=", i + 1)) {
    if (i > 0 && /^((read|write|conflicts|replicas):|$)/.test(entry.slice(i + 1))) {
      eq = i;
      break;
    }
  }
  const bad = (why: string) =>
    new MeshkvError(
      "INVALID_ARGUMENT",
      `Keyspace ${JSON.stringify(entry)}: ${why} (expected prefix=read:one;write:quorum;conflicts:lww;replicas:2)`,
    );
  if (eq <= 0) throw bad("it needs a prefix, then = and settings read, write, conflicts or replicas");
  const prefix = entry.slice(0, eq);
  const out: { -readonly [K in keyof Keyspace]: Keyspace[K] } = { prefix };
  for (const part of entry.slice(eq + 1).split(";").map((p) => p.trim()).filter(Boolean)) {
    const colon = part.indexOf(":");
    const name = part.slice(0, colon);
    const value = part.slice(colon + 1);
    if (colon <= 0) throw bad(`setting ${JSON.stringify(part)} is not name:value`);
    if (name === "read" || name === "write") {
      try {
        out[name] = parseConsistency(value);
      } catch (err) {
        throw bad(`${name}: ${(err as Error).message}`);
      }
    } else if (name === "conflicts") {
      if (value !== "siblings" && value !== "lww") {
        throw bad(`conflicts takes siblings or lww, not ${JSON.stringify(value)}`);
      }
      out.conflicts = value;
    } else if (name === "replicas") {
      out.replicas = parseReplicas(value, bad);
    } else {
      throw bad(`unknown setting ${JSON.stringify(name)}`);
    }
  }
  return out;
}

function parseReplicas(value: string, bad: (why: string) => MeshkvError): PlacementOptions {
  if (/^\d{1,2}$/.test(value)) {
    const n = Number(value);
    if (n < 1 || n > REPLICAS_MAX) throw bad(`replicas must be from 1 to ${REPLICAS_MAX}, not ${n}`);
    return { n };
  }
  const replication: Record<string, number> = {};
  let total = 0;
  for (const entry of value.split("+")) {
    const m = /^([A-Za-z0-9_.-]+):(\d{1,2})$/.exec(entry);
    if (!m) {
      throw bad(
        `replicas takes a count or datacenter:count entries joined by +, e.g. us-east:2+eu-west:1, not ${
          JSON.stringify(value)
        }`,
      );
    }
    if (m[1]! in replication) throw bad(`datacenter ${m[1]} is given twice in replicas`);
    replication[m[1]!] = Number(m[2]);
    total += Number(m[2]);
  }
  if (total < 1 || total > REPLICAS_MAX) throw bad(`replicas must add up to 1 to ${REPLICAS_MAX}, not ${total}`);
  return { replication };
}

/** One string per distinct replica setting (zero factors dropped, datacenters sorted). */
export function canonicalReplicas(r: PlacementOptions): string {
  if (r.replication === undefined) return `n=${r.n ?? 3}`;
  return "dc=" +
    Object.entries(r.replication).filter(([, k]) => k > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map((
      [dc, k],
    ) => `${dc}:${k}`).join(",");
}
