/**
 * Keyspaces: per key-prefix defaults, like a Cassandra table's or a Riak bucket type's properties. A keyspace
 * is named by a key prefix (`sessions/`); a key belongs to the keyspace with the longest prefix it starts with,
 * and otherwise to the cluster's defaults. A keyspace sets the consistency of requests that name none, and the
 * conflict mode (siblings or last-writer-wins). The replica count (N, or the per-datacenter factors) is the
 * cluster's for every keyspace: replicas exchange whole partitions, so one partition cannot hold keys with
 * different replica sets.
 *
 * Every node of a cluster must be given the same keyspaces (like the other replication flags).
 */
import { parseConsistency, type ConsistencyLevel } from "../core/quorum.ts";
import { MeshkvError } from "../errors.ts";

export type ConflictMode = "siblings" | "lww";

export interface Keyspace {
  /** Keys starting with this belong to the keyspace (non-empty). */
  readonly prefix: string;
  readonly read?: ConsistencyLevel;
  readonly write?: ConsistencyLevel;
  readonly conflicts?: ConflictMode;
}

/** The settings one key gets. */
export interface KeySettings {
  readonly keyspace: string | null;
  readonly read: ConsistencyLevel;
  readonly write: ConsistencyLevel;
  readonly conflicts: ConflictMode;
}

/** The most keyspaces a cluster may declare. */
export const KEYSPACES_MAX = 64;

export class Keyspaces {
  readonly #byLength: readonly Keyspace[];
  readonly #defaults: KeySettings;

  constructor(keyspaces: readonly Keyspace[], defaults: Omit<KeySettings, "keyspace">) {
    if (keyspaces.length > KEYSPACES_MAX) throw new MeshkvError("INVALID_ARGUMENT", `Over the keyspacesMax limit: ${keyspaces.length} > ${KEYSPACES_MAX}`);
    const seen = new Set<string>();
    for (const k of keyspaces) {
      if (typeof k.prefix !== "string" || k.prefix.length === 0) throw new MeshkvError("INVALID_ARGUMENT", "A keyspace needs a non-empty prefix");
      if (seen.has(k.prefix)) throw new MeshkvError("INVALID_ARGUMENT", `Keyspace prefix given twice: ${JSON.stringify(k.prefix)}`);
      seen.add(k.prefix);
    }
    this.#byLength = [...keyspaces].sort((a, b) => b.prefix.length - a.prefix.length);
    this.#defaults = { keyspace: null, ...defaults };
  }

  /** The settings of `key`: its keyspace's, falling back to the cluster's for what the keyspace leaves out. */
  of(key: string): KeySettings {
    const k = this.#byLength.find((s) => key.startsWith(s.prefix));
    if (!k) return this.#defaults;
    const d = this.#defaults;
    return { keyspace: k.prefix, read: k.read ?? d.read, write: k.write ?? d.write, conflicts: k.conflicts ?? d.conflicts };
  }

  list(): Keyspace[] {
    return [...this.#byLength];
  }
}

/**
 * Parses `--keyspaces` entries: `prefix=setting:value;setting:value`, settings `read`, `write` (a consistency
 * level: one, quorum, all, local_one, local_quorum, each_quorum, r=N / w=N) and `conflicts` (siblings or lww).
 */
export function parseKeyspace(entry: string): Keyspace {
  // The prefix may hold "=" itself: it ends at the first "=" followed by a setting (or by nothing).
  let eq = -1;
  for (let i = entry.indexOf("="); i >= 0; i = entry.indexOf("=", i + 1)) {
    if (i > 0 && /^((read|write|conflicts):|$)/.test(entry.slice(i + 1))) {
      eq = i;
      break;
    }
  }
  const bad = (why: string) => new MeshkvError("INVALID_ARGUMENT", `Keyspace ${JSON.stringify(entry)}: ${why} (expected prefix=read:one;write:quorum;conflicts:lww)`);
  if (eq <= 0) throw bad("it needs a prefix, then = and settings read, write or conflicts");
  const prefix = entry.slice(0, eq);
  const out: { prefix: string; read?: ConsistencyLevel; write?: ConsistencyLevel; conflicts?: ConflictMode } = { prefix };
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
      if (value !== "siblings" && value !== "lww") throw bad(`conflicts takes siblings or lww, not ${JSON.stringify(value)}`);
      out.conflicts = value;
    } else {
      throw bad(`unknown setting ${JSON.stringify(name)}`);
    }
  }
  return out;
}
