/**
 * Quorum accounting for one request: has the consistency level been met, can it still be?
 *
 * An accumulator in the style of riak_kv's `riak_kv_put_core` beside its FSM: the coordinator sends to every
 * replica slot, feeds each answer to `add`, and stops waiting as soon as `done()` says the outcome is known.
 * Levels are Cassandra's (`one`, `quorum`, `all`, `local_one`, `local_quorum`, `each_quorum`) plus Dynamo's
 * explicit R and W (DeCandia et al. 2007, section 4.5). A level is a set of groups, each needing `required`
 * successes among its replicas: one group of all replicas for the global levels, the coordinator's
 * datacenter for the `local_*` levels, one group per datacenter for `each_quorum`. The request succeeds
 * when every group has its successes and fails as soon as one group has too few replicas left that could
 * still answer. The outcome is final once decided; later replies are still counted, for read repair and
 * metrics. A failure carries all the counts, as `QUORUM_UNMET`.
 */
import { MeshkvError } from "../errors.ts";

export const LEVEL_NAMES = ["one", "quorum", "all", "local_one", "local_quorum", "each_quorum"] as const;
export type LevelName = (typeof LEVEL_NAMES)[number];
/** A consistency level: a name, or an explicit read (`r`) or write (`w`) count. */
export type ConsistencyLevel = LevelName | { readonly r: number } | { readonly w: number };

export interface QuorumReplica {
  readonly node: string;
  readonly datacenter: string;
}

export interface QuorumOptions {
  readonly level: ConsistencyLevel;
  /** One entry per replica slot (for a sloppy quorum, the stand-in with the datacenter of its slot). */
  readonly replicas: readonly QuorumReplica[];
  /** The coordinator's datacenter, for the `local_*` levels. */
  readonly localDatacenter: string;
}

export interface QuorumReply {
  readonly node: string;
  readonly ok: boolean;
}

export type QuorumStatus = "pending" | "succeeded" | "failed";

export interface QuorumGroup {
  /** The datacenter the group counts, or null for all replicas. */
  readonly datacenter: string | null;
  readonly replicas: number;
  readonly required: number;
  readonly ok: number;
  readonly failed: number;
}

export interface QuorumOutcome {
  readonly status: QuorumStatus;
  readonly level: string;
  /** Totals over every replica, whether or not its group decides the level. */
  readonly replicas: number;
  readonly ok: number;
  readonly failed: number;
  readonly pending: number;
  readonly groups: readonly QuorumGroup[];
}

/** The text form of a level (`quorum`, `r=2`). */
export function levelToString(level: ConsistencyLevel): string {
  if (typeof level === "string") return level;
  return "r" in level ? `r=${level.r}` : `w=${level.w}`;
}

function invalidLevel(value: unknown): MeshkvError {
  return new MeshkvError("INVALID_ARGUMENT", `Unknown consistency level: ${String(value)}`, {
    details: { expected: [...LEVEL_NAMES, "r=<n>", "w=<n>"] },
  });
}

/**
 * Reads a level from user input: a name (any case), `r=<n>` / `w=<n>`, or an object `{ r }` / `{ w }`.
 * Throws INVALID_ARGUMENT for anything else, including counts below 1 or above 32.
 */
export function parseConsistency(value: unknown): ConsistencyLevel {
  if (typeof value === "string") {
    const text = value.trim().toLowerCase();
    if ((LEVEL_NAMES as readonly string[]).includes(text)) return text as LevelName;
    const m = /^([rw])=(\d{1,2})$/.exec(text);
    if (!m) throw invalidLevel(value);
    return parseConsistency(m[1] === "r" ? { r: Number(m[2]) } : { w: Number(m[2]) });
  }
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value);
    const key = keys[0];
    if (keys.length !== 1 || (key !== "r" && key !== "w")) throw invalidLevel(JSON.stringify(value));
    const n = (value as Record<string, unknown>)[key];
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 32) {
      throw new MeshkvError("INVALID_ARGUMENT", `Explicit ${key} must be an integer from 1 to 32: ${String(n)}`);
    }
    return key === "r" ? { r: n } : { w: n };
  }
  throw invalidLevel(value);
}

interface MutableGroup {
  datacenter: string | null;
  members: Set<string>;
  required: number;
  ok: number;
  failed: number;
}

const majority = (n: number) => Math.floor(n / 2) + 1;

function groupsFor(options: QuorumOptions): MutableGroup[] {
  const { level, replicas, localDatacenter } = options;
  const all = (required: number): MutableGroup[] => [
    { datacenter: null, members: new Set(replicas.map((r) => r.node)), required, ok: 0, failed: 0 },
  ];
  const inDc = (dc: string, required: (n: number) => number): MutableGroup => {
    const members = new Set(replicas.filter((r) => r.datacenter === dc).map((r) => r.node));
    return { datacenter: dc, members, required: required(members.size), ok: 0, failed: 0 };
  };
  if (typeof level === "object") {
    const n = "r" in level ? level.r : level.w;
    if (n > replicas.length) {
      throw new MeshkvError(
        "INVALID_ARGUMENT",
        `Consistency ${levelToString(level)} exceeds the replica count: ${replicas.length}`,
      );
    }
    return all(n);
  }
  switch (level) {
    case "one":
      return all(1);
    case "quorum":
      return all(majority(replicas.length));
    case "all":
      return all(replicas.length);
    case "local_one":
      return [inDc(localDatacenter, () => 1)];
    case "local_quorum":
      return [inDc(localDatacenter, majority)];
    case "each_quorum":
      return [...new Set(replicas.map((r) => r.datacenter))].sort().map((dc) => inDc(dc, majority));
    default:
      throw invalidLevel(level);
  }
}

/** The accumulator for one request. */
export class Quorum {
  readonly level: ConsistencyLevel;
  #groups: MutableGroup[];
  #replicas: ReadonlyMap<string, QuorumReplica>;
  #answered = new Map<string, boolean>();
  #status: QuorumStatus = "pending";

  constructor(options: QuorumOptions) {
    this.level = options.level;
    const replicas = new Map<string, QuorumReplica>();
    for (const r of options.replicas) {
      if (replicas.has(r.node)) throw new RangeError(`Replica listed twice: ${r.node}`);
      replicas.set(r.node, r);
    }
    if (replicas.size === 0) throw new RangeError("A quorum needs at least one replica");
    this.#replicas = replicas;
    this.#groups = groupsFor(options);
    this.#decide();
  }

  /** Counts one replica's answer (a second answer from the same replica is ignored). Returns the status. */
  add(reply: QuorumReply): QuorumStatus {
    if (!this.#replicas.has(reply.node)) throw new RangeError(`Reply from a node that is not a replica: ${reply.node}`);
    if (this.#answered.has(reply.node)) return this.#status;
    this.#answered.set(reply.node, reply.ok);
    for (const g of this.#groups) {
      if (!g.members.has(reply.node)) continue;
      if (reply.ok) g.ok++;
      else g.failed++;
    }
    this.#decide();
    return this.#status;
  }

  /** True once the outcome is known (succeeded or failed). */
  done(): boolean {
    return this.#status !== "pending";
  }

  /** True once every replica has answered (the point to stop waiting for read repair). */
  allAnswered(): boolean {
    return this.#answered.size === this.#replicas.size;
  }

  outcome(): QuorumOutcome {
    let ok = 0;
    for (const v of this.#answered.values()) if (v) ok++;
    return {
      status: this.#status,
      level: levelToString(this.level),
      replicas: this.#replicas.size,
      ok,
      failed: this.#answered.size - ok,
      pending: this.#replicas.size - this.#answered.size,
      groups: this.#groups.map((g) => ({
        datacenter: g.datacenter,
        replicas: g.members.size,
        required: g.required,
        ok: g.ok,
        failed: g.failed,
      })),
    };
  }

  /**
   * Whether asking `node` could still help: it is a replica that has not answered and belongs to a group that
   * would stay short of its `required` successes even if every replica in `asked` (asked, not yet answered)
   * succeeded. A read asks replicas one by one in order of closeness while this holds, so it sends as many
   * requests as the level needs and no more (Cassandra's read path), and asks the next one when an answer
   * fails or is late.
   */
  wants(node: string, asked: ReadonlySet<string>): boolean {
    if (this.#status !== "pending" || !this.#replicas.has(node) || this.#answered.has(node) || asked.has(node)) {
      return false;
    }
    for (const g of this.#groups) {
      if (!g.members.has(node)) continue;
      let hoped = g.ok;
      for (const a of asked) if (g.members.has(a) && !this.#answered.has(a)) hoped++;
      if (hoped < g.required) return true;
    }
    return false;
  }

  /** Whether `node` counts toward a group that has not met its `required` successes yet. */
  counts(node: string): boolean {
    if (this.#status !== "pending" || this.#answered.has(node)) return false;
    return this.#groups.some((g) => g.members.has(node) && g.ok < g.required);
  }

  /** `QUORUM_UNMET` with the counts when the request failed, otherwise null. */
  error(): MeshkvError | null {
    if (this.#status !== "failed") return null;
    const outcome = this.outcome();
    const group = outcome.groups.find((g) => g.replicas - g.failed < g.required)!;
    const where = group.datacenter === null ? "replicas" : `replicas in ${group.datacenter}`;
    return new MeshkvError(
      "QUORUM_UNMET",
      `Consistency level not met: ${outcome.level} needs ${group.required} of ${group.replicas} ${where}, ` +
        `${group.ok} succeeded, ${group.failed} failed`,
      { details: { ...outcome } },
    );
  }

  #decide(): void {
    if (this.#status !== "pending") return;
    if (this.#groups.some((g) => g.members.size - g.failed < g.required)) this.#status = "failed";
    else if (this.#groups.every((g) => g.ok >= g.required)) this.#status = "succeeded";
  }
}

/** Create-only and strict writes read first at the matching level (a write at `all` reads at `one`, …). */
export function readLevelForWrite(level: ConsistencyLevel): ConsistencyLevel {
  if (typeof level === "object") return "w" in level ? "quorum" : level;
  if (level === "all") return "one";
  if (level === "one") return "all";
  if (level === "local_one") return "local_quorum";
  return level;
}
