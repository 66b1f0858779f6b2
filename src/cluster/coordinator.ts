/**
 * The request coordinator (Dynamo 2007 §4.5, riak_kv's get and put FSMs): any node takes a read or a write,
 * finds the key's replicas, sends to all of them and answers as soon as the consistency level is met.
 *
 * Writes are made by a coordinating replica: when this node is an available primary replica of the key it
 * makes the new version itself (`writeHere`: the decision is `core/write_decision.ts`, applied under the key's
 * lock by `ReplicaStore.readModifyWrite`) and sends the resulting set to the other replica slots as a merge;
 * otherwise it forwards the write to an available primary (`kvCoordinate`), which always coordinates (no
 * second forward, so nodes that briefly disagree about the ring cannot loop). Conditional
 * writes (strict, create-only) always go to the first available primary, so they are ordered by one lock. A slot
 * whose replica is down goes to a stand-in with a hint (sloppy quorum) or fails (strict). Create-only,
 * strict and context-less deletes first read at the write's level, so they see every acknowledged write.
 *
 * Reads go to the primaries only, closest first and only as many as the level needs (one more when an answer
 * fails or is late); the answer is the merge of the replies that met the level. Once every replica asked has
 * answered (or the deadline passed), those that sent something older get the merged set (read repair, after
 * the client has its answer; anti-entropy repairs the replicas a read did not ask). A replica still acquiring a partition it just gained
 * answers with what it has, which is merged but not counted toward the level.
 *
 * The decisions come from `core/` (placement, quorum accounting, the write decision); this file only sends.
 */
import { encodeSet, decodeSet } from "../core/context.ts";
import type { Target } from "../core/placement.ts";
import { levelToString, parseConsistency, Quorum, type ConsistencyLevel, type QuorumReplica } from "../core/quorum.ts";
import { contextOf, emptySet, merge, sameVersion, type VersionVector } from "../core/version.ts";
import { HLC_ZERO, type Hlc } from "../core/hlc.ts";
import type { Stored } from "../core/stored.ts";
import { decideWrite, type RecordFormat } from "../core/write_decision.ts";
import { LatencyWindow } from "../core/latency.ts";
import { MeshkvError, isMeshkvError } from "../errors.ts";
import type { StoredValue, WriteResult } from "../kv/backend.ts";
import { DATA_LIMITS } from "../kv/limits.ts";
import type { Mesh } from "../mesh/mesh.ts";
import type { Clock } from "../runtime/types.ts";
import { bool, bytes, int, obj, optNum, optStr, str, vvFromWire, vvToWire } from "./_wire.ts";
import { encodeValue, latestRecord, liveCount, stamp, stampOf, TOMBSTONE } from "./records.ts";
import { mergedExpiry, type ReplicaStore } from "./replica.ts";
import type { Keyspaces } from "./keyspaces.ts";
import { targetsOf, type ReplicationConfig, type RingSnapshot } from "./ring_view.ts";

export interface CoordinatorOptions {
  nodeId: string;
  datacenter: string;
  mesh: Mesh;
  clock: Clock;
  store: ReplicaStore;
  config: ReplicationConfig;
  /** The current ring. */
  view(): RingSnapshot;
  /** True while this node still pulls partition `p` after gaining it. */
  acquiring(p: number): boolean;
  /** Deadline of a whole client request. */
  requestTimeoutMs: number;
  /** Deadline of one replica's answer. */
  replicaTimeoutMs: number;
  /** Per-key defaults: levels for requests that name none, and the conflict mode. */
  keyspaces: Keyspaces;
}

export type WriteOp =
  | { kind: "put"; key: string; value: StoredValue; context: VersionVector; ifNoneMatch: boolean; strict: boolean; ttlMs: number | null; level: ConsistencyLevel | null }
  | { kind: "delete"; key: string; context: VersionVector | null; strict: boolean; level: ConsistencyLevel | null };

export interface CoordinatorStats {
  reads: number;
  writes: number;
  forwarded: number;
  quorumFailures: number;
  timeouts: number;
  readRepairs: number;
}

interface Call<T> {
  node: string;
  run(): Promise<T>;
}

/** Replica read latencies kept for the speculative delay. */
export const LATENCY_WINDOW_SAMPLES = 512;
/** Below this many samples the speculative delay is `SPECULATIVE_DEFAULT_MS`. */
export const SPECULATIVE_SAMPLES_MIN = 32;
export const SPECULATIVE_DEFAULT_MS = 20;
/** The speculative delay never goes below this (a p99 of microseconds would send every read twice). */
export const SPECULATIVE_MIN_MS = 2;

/** The value records of `records.ts`, as the write decision sees them. */
export const RECORD_FORMAT: RecordFormat = {
  tombstone: TOMBSTONE,
  visibleCount: (records, lww) => (lww ? latestRecord(records).length : liveCount(records)),
  liveCount,
  stamp,
  stampOf,
};

/** Errors after which a forward tries the next replica. */
const RETRYABLE = new Set(["CONNECT_FAILED", "CONNECTION_CLOSED", "TIMEOUT", "OVERLOADED", "CLOSED", "NODE_LEAVING"]);

export class Coordinator {
  readonly stats: CoordinatorStats = { reads: 0, writes: 0, forwarded: 0, quorumFailures: 0, timeouts: 0, readRepairs: 0 };
  readonly #o: CoordinatorOptions;
  #pending = new Set<Promise<unknown>>();
  #hlc: Hlc = HLC_ZERO;
  /** Recent answer times of other replicas to reads, for the speculative delay. */
  readonly #latency = new LatencyWindow(LATENCY_WINDOW_SAMPLES);

  constructor(o: CoordinatorOptions) {
    this.#o = o;
  }

  /** Resolves once background work (read repair, late replica answers) started so far is done. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #background(p: Promise<unknown>): void {
    const tracked = p.catch(() => {}).finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Reads

  /**
   * Reads `key` at `level` from its primary replicas, closest first (this node, then its datacenter), asking
   * only as many as the level needs and one more when an answer fails or is later than the recent 99th
   * percentile (`#gather`); the merged state of the replies that met the level.
   */
  async read(key: string, level: ConsistencyLevel | null, signal?: AbortSignal): Promise<Stored> {
    const o = this.#o;
    this.stats.reads++;
    const snap = o.view();
    const p = snap.placement.forKey(key).partition;
    const replicas = snap.placement.forPartition(p).replicas;
    if (replicas.length === 0) throw noReplicas(key);
    const q = new Quorum({ level: level ?? o.keyspaces.of(key).read, replicas: replicas as QuorumReplica[], localDatacenter: o.datacenter });
    const candidates: string[] = [];
    for (const r of closestFirst(replicas, o.nodeId, o.datacenter)) {
      if (snap.down.has(r.node)) q.add({ node: r.node, ok: false });
      else candidates.push(r.node);
    }
    const replies = new Map<string, Stored>();
    const { decided, settled } = this.#gather(q, candidates, (node) => this.#getFrom(node, p, key), (node, v) => {
      replies.set(node, v.stored);
      return !v.acquiring;
    }, signal);
    const verdict = await decided;
    const merged = mergeAll([...replies.values()]);
    this.#background(settled.then(() => this.#repair(p, key, replies)));
    this.#check(q, verdict);
    return merged;
  }

  /**
   * Asks `candidates` (closest first) one at a time while `q.wants` another answer, so a read sends as many
   * requests as its level needs; each failed answer (or one from a replica still acquiring the partition) asks
   * the next, and so does an answer later than the speculative delay (one extra request per read, Cassandra's
   * speculative retry). `decided` resolves when the quorum is decided, the request deadline passes or `signal`
   * aborts; `settled` once every request sent has answered.
   */
  #gather<T>(q: Quorum, candidates: readonly string[], run: (node: string) => Promise<T>, judge: (node: string, value: T) => boolean, signal?: AbortSignal): { decided: Promise<string>; settled: Promise<void> } {
    const o = this.#o;
    let resolve!: (v: string) => void;
    const decided = new Promise<string>((r) => (resolve = r));
    let settle!: () => void;
    const settled = new Promise<void>((r) => (settle = r));
    const asked = new Set<string>();
    let outstanding = 0;
    const ask = (node: string) => {
      asked.add(node);
      outstanding++;
      const started = o.clock.monotonic();
      run(node).then((v) => {
        if (node !== o.nodeId) this.#latency.add(o.clock.monotonic() - started);
        return judge(node, v);
      }, () => false).then((ok) => {
        q.add({ node, ok });
        outstanding--;
        askWanted();
        if (outstanding === 0) settle();
      });
    };
    const askWanted = () => {
      for (const node of candidates) if (q.wants(node, asked)) ask(node);
      if (q.done() || outstanding === 0) resolve("done");
    };
    const timer = o.clock.setTimeout(() => resolve("timeout"), o.requestTimeoutMs);
    const speculative = o.clock.setTimeout(() => {
      const next = candidates.find((node) => !asked.has(node) && q.counts(node));
      if (next !== undefined) ask(next);
    }, this.#speculativeMs());
    const onAbort = () => resolve("aborted");
    signal?.addEventListener("abort", onAbort, { once: true });
    askWanted();
    if (outstanding === 0) settle();
    void decided.then(() => {
      o.clock.clearTimeout(timer);
      o.clock.clearTimeout(speculative);
      signal?.removeEventListener("abort", onAbort);
    });
    return { decided, settled };
  }

  /** How long a read waits for an answer before it asks one more replica: the recent p99, within bounds. */
  #speculativeMs(): number {
    const p99 = this.#latency.count < SPECULATIVE_SAMPLES_MIN ? null : this.#latency.percentile(0.99);
    const ms = p99 === null ? SPECULATIVE_DEFAULT_MS : Math.max(SPECULATIVE_MIN_MS, p99);
    return Math.min(ms, this.#o.replicaTimeoutMs);
  }

  async #getFrom(node: string, p: number, key: string): Promise<{ stored: Stored; acquiring: boolean }> {
    const o = this.#o;
    if (node === o.nodeId) return { stored: await o.store.read(p, key), acquiring: o.acquiring(p) };
    const reply = obj(await o.mesh.request(node, "kvGet", { p, key }, { timeoutMs: o.replicaTimeoutMs }), "kvGet reply");
    const set = reply.set === null || reply.set === undefined ? emptySet<Uint8Array>() : decodeSet(bytes(reply, "set"));
    return { stored: { set, expiresAt: optNum(reply, "exp") }, acquiring: bool(reply, "acquiring") };
  }

  /** Read repair: every replica that answered with less than the merge of all answers gets the merge. */
  async #repair(p: number, key: string, replies: ReadonlyMap<string, Stored>): Promise<void> {
    const o = this.#o;
    const merged = mergeAll([...replies.values()]);
    if (merged.set.entries.length === 0) return;
    const stale = [...replies.entries()].filter(([, s]) => !sameVersion(s.set, merged.set) || s.expiresAt !== merged.expiresAt);
    for (const [node] of stale) {
      this.stats.readRepairs++;
      await this.#mergeTo(node, p, key, merged, null).catch(() => {});
    }
  }

  async #mergeTo(node: string, p: number, key: string, s: Stored, hintFor: string | null): Promise<void> {
    const o = this.#o;
    if (node === o.nodeId && hintFor === null) {
      await o.store.merge(p, key, s.set, s.expiresAt);
      return;
    }
    await o.mesh.request(node, "kvMerge", { p, key, set: encodeSet(s.set), exp: s.expiresAt, hintFor }, { timeoutMs: o.replicaTimeoutMs });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Writes

  /** Runs a write: here when this node is an available primary replica of the key, else on one that is. */
  async write(op: WriteOp, signal?: AbortSignal): Promise<WriteResult> {
    const o = this.#o;
    const p = partitionOfKey(o, op.key);
    const targets = dedupe(targetsOf(o.view(), p, o.config.sloppy));
    if (targets.length === 0) throw noReplicas(op.key);
    const primaries = targets.filter((t) => t.available && t.hintFor === undefined);
    // Compare-and-set writes (strict, create-only) all go to one place, the first available primary, whose
    // per-key lock puts them in order: two of them with the same context cannot both succeed.
    const conditional = op.kind === "put" ? op.strict || op.ifNoneMatch : op.strict;
    if (conditional) {
      if (primaries[0]?.node === o.nodeId) return await this.writeHere(op, signal);
    } else if (primaries.some((t) => t.node === o.nodeId)) {
      return await this.writeHere(op, signal);
    }
    // Otherwise replicas in this node's datacenter first: a `local_*` level is then judged where the client
    // is, and a region cut off from the others still finds a coordinator.
    const candidates = conditional ? primaries : [...primaries].sort((a, b) => Number(b.datacenter === o.datacenter) - Number(a.datacenter === o.datacenter));
    let last: unknown = null;
    for (const t of candidates) {
      if (t.node === o.nodeId) return await this.writeHere(op, signal);
      try {
        this.stats.forwarded++;
        const reply = await o.mesh.request(t.node, "kvCoordinate", opToWire(op), { timeoutMs: o.requestTimeoutMs });
        return resultFromWire(reply);
      } catch (err) {
        if (!isMeshkvError(err) || !RETRYABLE.has(err.code)) throw err;
        last = err;
      }
    }
    this.stats.quorumFailures++;
    throw new MeshkvError("QUORUM_UNMET", `No replica of ${op.key} could coordinate the write: ${candidates.length} tried, ${targets.length - candidates.length} down`, {
      ...(last === null ? {} : { cause: last }), details: { replicas: targets.length, tried: candidates.length },
    });
  }

  /**
   * Coordinates a write on this node (called by `write`, or for a forward from a node that is not a replica):
   * reads first when the write is conditional, decides under the key's lock, then replicates.
   */
  async writeHere(op: WriteOp, signal?: AbortSignal): Promise<WriteResult> {
    const o = this.#o;
    this.stats.writes++;
    const p = partitionOfKey(o, op.key);
    const settings = o.keyspaces.of(op.key);
    const level = op.level ?? settings.write;
    if (op.kind === "put" ? op.ifNoneMatch || op.strict : op.strict || op.context === null) {
      const seen = await this.read(op.key, readLevelFor(level), signal);
      if (seen.set.entries.length > 0) await o.store.merge(p, op.key, seen.set, seen.expiresAt);
    }
    const nowMs = o.clock.now();
    let told = { created: false, siblings: 0 };
    const { after } = await o.store.readModifyWrite(p, op.key, (before) => {
      const write = op.kind === "put" ? { ...op, record: encodeValue(op.value) } : op;
      const site = { versionId: o.store.versionId, members: o.view().owners, nowMs, lastStamp: this.#hlc };
      const d = decideWrite(before, write, site, { conflicts: settings.conflicts, siblingsMax: DATA_LIMITS.siblingsMax, setBytesMax: DATA_LIMITS.setBytesMax, format: RECORD_FORMAT });
      this.#hlc = d.lastStamp;
      if (!d.ok) throw d.error;
      told = { created: d.created, siblings: d.siblings };
      return d.after;
    });
    await this.#replicate(p, op.key, after, level, signal);
    return { context: contextOf(after.set), ...told };
  }

  /** Sends the coordinated state to the other replica slots and waits for the level. */
  async #replicate(p: number, key: string, after: Stored, level: ConsistencyLevel, signal?: AbortSignal): Promise<void> {
    const o = this.#o;
    const targets = dedupe(targetsOf(o.view(), p, o.config.sloppy));
    if (!targets.some((t) => t.node === o.nodeId)) {
      // A forward reached us although we are no replica in our own view: count ourselves in our stead.
      targets.push({ node: o.nodeId, datacenter: o.datacenter, available: true });
    }
    const q = new Quorum({ level, replicas: targets.map((t) => ({ node: t.node, datacenter: t.datacenter })), localDatacenter: o.datacenter });
    for (const t of targets) if (!t.available) q.add({ node: t.node, ok: false });
    q.add({ node: o.nodeId, ok: true });
    const calls: Call<void>[] = targets
      .filter((t) => t.available && t.node !== o.nodeId)
      .map((t) => ({ node: t.node, run: () => this.#mergeTo(t.node, p, key, after, t.hintFor ?? null) }));
    const { decided, settled } = this.#race(q, calls, () => true, signal);
    this.#background(settled);
    this.#check(q, await decided);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Shared

  /**
   * Sends every call at once and counts each answer into `q`; `decided` resolves when the quorum is decided,
   * the request deadline passes or `signal` aborts; `settled` when every call has answered.
   */
  #race<T>(q: Quorum, calls: Call<T>[], judge: (node: string, value: T) => boolean, signal?: AbortSignal): { decided: Promise<string>; settled: Promise<void> } {
    const o = this.#o;
    let resolve!: (v: string) => void;
    const decided = new Promise<string>((r) => (resolve = r));
    const timer = o.clock.setTimeout(() => resolve("timeout"), o.requestTimeoutMs);
    const onAbort = () => resolve("aborted");
    signal?.addEventListener("abort", onAbort, { once: true });
    const settle = (node: string, ok: boolean) => {
      q.add({ node, ok });
      if (q.done()) resolve("done");
    };
    if (q.done()) resolve("done");
    const settled = Promise.allSettled(calls.map((c) => c.run().then((v) => settle(c.node, judge(c.node, v)), () => settle(c.node, false)))).then(() => {
      resolve("done");
    });
    void decided.then(() => {
      o.clock.clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
    return { decided, settled };
  }

  #check(q: Quorum, verdict: string): void {
    if (q.outcome().status === "succeeded") return;
    const error = q.error();
    if (error) {
      this.stats.quorumFailures++;
      throw error;
    }
    if (verdict === "aborted") throw new MeshkvError("TIMEOUT", "The request was cancelled");
    this.stats.timeouts++;
    const out = q.outcome();
    throw new MeshkvError("TIMEOUT", `Consistency level ${out.level} not met within ${this.#o.requestTimeoutMs} ms: ${out.ok} succeeded, ${out.failed} failed, ${out.pending} pending`, {
      details: { ...out },
    });
  }
}

/** A key whose keyspace places its replicas only in datacenters that have no nodes (a placement warning). */
function noReplicas(key: string): MeshkvError {
  return new MeshkvError("QUORUM_UNMET", `Key ${key} has no replicas: its replication factors name only datacenters with no nodes (see the ring warnings in /v1/admin/status)`, {
    details: { key, replicas: 0 },
  });
}

function partitionOfKey(o: CoordinatorOptions, key: string): number {
  return o.view().placement.forKey(key).partition;
}

/** Create-only and strict writes read first at the matching level (a write at `all` reads at `one`, …). */
function readLevelFor(level: ConsistencyLevel): ConsistencyLevel {
  if (typeof level === "object") return "w" in level ? "quorum" : level;
  if (level === "all") return "one";
  if (level === "one") return "all";
  if (level === "local_one") return "local_quorum";
  return level;
}

/** Replicas in the order a read asks them: this node, then its datacenter, then the rest (each in ring order). */
function closestFirst<R extends { node: string; datacenter: string }>(replicas: readonly R[], self: string, datacenter: string): R[] {
  const rank = (r: R) => (r.node === self ? 0 : r.datacenter === datacenter ? 1 : 2);
  return [...replicas].sort((a, b) => rank(a) - rank(b));
}

function mergeAll(states: readonly Stored[]): Stored {
  let out: Stored = { set: emptySet(), expiresAt: null };
  for (const s of states) out = { set: merge(out.set, s.set), expiresAt: mergedExpiry(out, s) };
  return out;
}

/** One slot per node (a stand-in never serves two slots of one request). */
function dedupe(targets: Target[]): Target[] {
  const seen = new Set<string>();
  return targets.map((t) => {
    if (!seen.has(t.node)) {
      seen.add(t.node);
      return t;
    }
    return { node: `${t.hintFor ?? t.node}#unavailable`, datacenter: t.datacenter, available: false };
  });
}

// -----------------------------------------------------------------------------------------------------------
// Forwarded writes on the wire

export function opToWire(op: WriteOp): Record<string, unknown> {
  const level = op.level === null ? null : levelToString(op.level);
  if (op.kind === "put") {
    return {
      op: "put", key: op.key, ct: op.value.contentType, data: op.value.data, ctx: vvToWire(op.context),
      ifNoneMatch: op.ifNoneMatch, strict: op.strict, ttl: op.ttlMs, level,
    };
  }
  return { op: "delete", key: op.key, ctx: op.context === null ? null : vvToWire(op.context), strict: op.strict, level };
}

export function opFromWire(body: unknown): WriteOp {
  const o = obj(body, "kvCoordinate");
  const levelText = optStr(o, "level");
  const level = levelText === null ? null : parseConsistency(levelText);
  const kind = str(o, "op");
  const key = str(o, "key");
  if (kind === "put") {
    const ttl = o.ttl === null || o.ttl === undefined ? null : int(o, "ttl", 1);
    return {
      kind, key, value: { contentType: str(o, "ct"), data: bytes(o, "data") }, context: vvFromWire(o.ctx),
      ifNoneMatch: bool(o, "ifNoneMatch"), strict: bool(o, "strict"), ttlMs: ttl, level,
    };
  }
  if (kind === "delete") return { kind, key, context: o.ctx === null || o.ctx === undefined ? null : vvFromWire(o.ctx), strict: bool(o, "strict"), level };
  throw new MeshkvError("PROTOCOL_ERROR", `Malformed replication message: unknown op ${kind}`);
}

export function resultToWire(r: WriteResult): Record<string, unknown> {
  return { ctx: vvToWire(r.context), created: r.created, siblings: r.siblings };
}

function resultFromWire(body: unknown): WriteResult {
  const o = obj(body, "kvCoordinate reply");
  return { context: vvFromWire(o.ctx), created: bool(o, "created"), siblings: int(o, "siblings") };
}

