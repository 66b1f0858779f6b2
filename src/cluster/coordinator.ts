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
import { type ConsistencyLevel, Quorum, type QuorumReplica, readLevelForWrite } from "../core/quorum.ts";
import { contextOf, sameVersion } from "../core/version.ts";
import { type Hlc, HLC_ZERO } from "../core/hlc.ts";
import type { Stored } from "../core/stored.ts";
import { decideWrite } from "../core/write_decision.ts";
import { LatencyWindow } from "../core/latency.ts";
import { isMeshkvError, MeshkvError } from "../errors.ts";
import type { WriteResult } from "../kv/backend.ts";
import { DATA_LIMITS } from "../kv/limits.ts";
import type { Mesh } from "../mesh/mesh.ts";
import type { Clock } from "../runtime/types.ts";
import * as fanout from "./_fanout.ts";
import { type Call, type Verdict } from "./_fanout.ts";
import * as wire from "./kv_protocol.ts";
import { encodeValue, RECORD_FORMAT } from "./records.ts";
import type { ReplicaStore } from "./replica.ts";
import type { Keyspaces } from "./keyspaces.ts";
import { type ReplicationConfig, type RingSnapshot, targetsOf } from "./ring_view.ts";

export type { WriteOp } from "./kv_protocol.ts";

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

export interface CoordinatorStats {
  reads: number;
  writes: number;
  forwarded: number;
  quorumFailures: number;
  timeouts: number;
  readRepairs: number;
}

/** Errors after which a forward tries the next replica. */
const RETRYABLE = new Set(["CONNECT_FAILED", "CONNECTION_CLOSED", "TIMEOUT", "OVERLOADED", "CLOSED", "NODE_LEAVING"]);

export class Coordinator {
  readonly stats: CoordinatorStats = {
    reads: 0,
    writes: 0,
    forwarded: 0,
    quorumFailures: 0,
    timeouts: 0,
    readRepairs: 0,
  };
  readonly #o: CoordinatorOptions;
  #pending = new Set<Promise<unknown>>();
  #hlc: Hlc = HLC_ZERO;
  /** Recent answer times of other replicas to reads, for the speculative delay. */
  readonly #latency = new LatencyWindow(fanout.LATENCY_WINDOW_SAMPLES);

  constructor(o: CoordinatorOptions) {
    this.#o = o;
  }

  /**
   * Serves writes other nodes forward here (`kvCoordinate`) on the mesh; `serving` throws when this node may
   * not take requests (starting, leaving, closed). Returns the unregister function.
   */
  serveForwards(serving: () => void): () => void {
    return this.#o.mesh.onRequest("kvCoordinate", async (body) => {
      serving();
      return wire.resultToWire(await this.writeHere(wire.opFromWire(body)));
    });
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
   * percentile (`askClosest` in `_fanout.ts`); the merged state of the replies that met the level.
   */
  async read(key: string, level: ConsistencyLevel | null, signal?: AbortSignal): Promise<Stored> {
    const o = this.#o;
    this.stats.reads++;
    const snap = o.view();
    const p = snap.placement.forKey(key).partition;
    const replicas = snap.placement.forPartition(p).replicas;
    if (replicas.length === 0) throw fanout.noReplicas(key);
    const q = new Quorum({
      level: level ?? o.keyspaces.of(key).read,
      replicas: replicas as QuorumReplica[],
      localDatacenter: o.datacenter,
    });
    const candidates: string[] = [];
    for (const r of fanout.closestFirst(replicas, o.nodeId, o.datacenter)) {
      if (snap.down.has(r.node)) q.add({ node: r.node, ok: false });
      else candidates.push(r.node);
    }
    const replies = new Map<string, Stored>();
    const { decided, settled } = fanout.askClosest(
      o.clock,
      o.requestTimeoutMs,
      fanout.speculativeMs(this.#latency, o.replicaTimeoutMs),
      q,
      candidates,
      (node) => this.#getFrom(node, p, key),
      (node, v) => {
        replies.set(node, v.stored);
        return !v.acquiring;
      },
      signal,
    );
    const verdict = await decided;
    const merged = fanout.mergeAll([...replies.values()]);
    this.#background(settled.then(() => this.#repair(p, key, replies)));
    this.#check(q, verdict);
    return merged;
  }

  async #getFrom(node: string, p: number, key: string): Promise<{ stored: Stored; acquiring: boolean }> {
    const o = this.#o;
    if (node === o.nodeId) return { stored: await o.store.read(p, key), acquiring: o.acquiring(p) };
    const started = o.clock.monotonic();
    const reply = wire.getReplyFromWire(
      await o.mesh.request(node, "kvGet", { p, key }, { timeoutMs: o.replicaTimeoutMs }),
    );
    this.#latency.add(o.clock.monotonic() - started);
    return reply;
  }

  /** Read repair: every replica that answered with less than the merge of all answers gets the merge. */
  async #repair(p: number, key: string, replies: ReadonlyMap<string, Stored>): Promise<void> {
    const o = this.#o;
    const merged = fanout.mergeAll([...replies.values()]);
    if (merged.set.entries.length === 0) return;
    const stale = [...replies.entries()].filter(([, s]) =>
      !sameVersion(s.set, merged.set) || s.expiresAt !== merged.expiresAt
    );
    for (const [node] of stale) {
      this.stats.readRepairs++;
      await fanout.mergeInto(this.#o, node, p, key, merged, null).catch(() => {});
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Writes

  /** Runs a write: here when this node is an available primary replica of the key, else on one that is. */
  async write(op: wire.WriteOp, signal?: AbortSignal): Promise<WriteResult> {
    const o = this.#o;
    const snap = o.view();
    const p = snap.placement.forKey(op.key).partition;
    const targets = fanout.dedupe(targetsOf(snap, p, o.config.sloppy));
    if (targets.length === 0) throw fanout.noReplicas(op.key);
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
    const candidates = conditional
      ? primaries
      : [...primaries].sort((a, b) => Number(b.datacenter === o.datacenter) - Number(a.datacenter === o.datacenter));
    let last: unknown = null;
    for (const t of candidates) {
      if (t.node === o.nodeId) return await this.writeHere(op, signal);
      try {
        this.stats.forwarded++;
        const reply = await o.mesh.request(t.node, "kvCoordinate", wire.opToWire(op), {
          timeoutMs: o.requestTimeoutMs,
        });
        return wire.resultFromWire(reply);
      } catch (err) {
        if (!isMeshkvError(err) || !RETRYABLE.has(err.code)) throw err;
        last = err;
      }
    }
    this.stats.quorumFailures++;
    throw new MeshkvError(
      "QUORUM_UNMET",
      `No replica of ${op.key} could coordinate the write: ${candidates.length} tried, ${
        targets.length - candidates.length
      } down`,
      {
        ...(last === null ? {} : { cause: last }),
        details: { replicas: targets.length, tried: candidates.length },
      },
    );
  }

  /**
   * Coordinates a write on this node (called by `write`, or for a forward from a node that is not a replica):
   * reads first when the write is conditional, decides under the key's lock, then replicates.
   */
  async writeHere(op: wire.WriteOp, signal?: AbortSignal): Promise<WriteResult> {
    const o = this.#o;
    this.stats.writes++;
    const snap = o.view();
    const p = snap.placement.forKey(op.key).partition;
    const settings = o.keyspaces.of(op.key);
    const level = op.level ?? settings.write;
    if (op.kind === "put" ? op.ifNoneMatch || op.strict : op.strict || op.context === null) {
      const seen = await this.read(op.key, readLevelForWrite(level), signal);
      if (seen.set.entries.length > 0) await o.store.merge(p, op.key, seen.set, seen.expiresAt);
    }
    const nowMs = o.clock.now();
    let told = { created: false, siblings: 0 };
    // The other replicas get the new state as soon as it is decided, while this one writes it: the log syncs
    // overlap instead of following each other. This replica counts toward the level once its write is durable.
    let replicated: Promise<void> | null = null;
    let localDone!: (ok: boolean) => void;
    const local = new Promise<boolean>((r) => (localDone = r));
    let after: Stored;
    try {
      ({ after } = await o.store.readModifyWrite(p, op.key, (before) => {
        const write = op.kind === "put" ? { ...op, record: encodeValue(op.value) } : op;
        const site = { versionId: o.store.versionId, members: snap.owners, nowMs, lastStamp: this.#hlc };
        const d = decideWrite(before, write, site, {
          conflicts: settings.conflicts,
          siblingsMax: DATA_LIMITS.siblingsMax,
          setBytesMax: DATA_LIMITS.setBytesMax,
          format: RECORD_FORMAT,
        });
        this.#hlc = d.lastStamp;
        if (!d.ok) throw d.error;
        told = { created: d.created, siblings: d.siblings };
        return d.after;
      }, (decided) => {
        replicated = this.#replicate(snap, p, op.key, decided, level, local, signal);
        // It may fail while this replica still writes: handled below, after the write (not an unhandled rejection).
        replicated.catch(() => {});
      }));
    } catch (err) {
      localDone(false);
      await (replicated as Promise<void> | null)?.catch(() => {});
      throw err;
    }
    localDone(true);
    await replicated;
    return { context: contextOf(after.set), ...told };
  }

  /**
   * Sends the coordinated state to the other replica slots and waits for the level; this node counts once
   * `local` (its own durable write) resolves true.
   */
  async #replicate(
    snap: RingSnapshot,
    p: number,
    key: string,
    after: Stored,
    level: ConsistencyLevel,
    local: Promise<boolean>,
    signal?: AbortSignal,
  ): Promise<void> {
    const o = this.#o;
    const targets = fanout.dedupe(targetsOf(snap, p, o.config.sloppy));
    if (!targets.some((t) => t.node === o.nodeId)) {
      // A forward reached us although we are no replica in our own view: count ourselves in our stead.
      targets.push({ node: o.nodeId, datacenter: o.datacenter, available: true });
    }
    const q = new Quorum({
      level,
      replicas: targets.map((t) => ({ node: t.node, datacenter: t.datacenter })),
      localDatacenter: o.datacenter,
    });
    for (const t of targets) if (!t.available) q.add({ node: t.node, ok: false });
    const calls: Call<boolean>[] = [{ node: o.nodeId, run: () => local }];
    for (const t of targets) {
      if (t.available && t.node !== o.nodeId) {
        calls.push({
          node: t.node,
          run: () => fanout.mergeInto(this.#o, t.node, p, key, after, t.hintFor ?? null).then(() => true),
        });
      }
    }
    const { decided, settled } = fanout.sendToAll(o.clock, o.requestTimeoutMs, q, calls, (_node, ok) => ok, signal);
    this.#background(settled);
    this.#check(q, await decided);
  }

  #check(q: Quorum, verdict: Verdict): void {
    const error = fanout.verdictError(q, verdict, this.#o.requestTimeoutMs);
    if (error === null) return;
    if (error.code === "QUORUM_UNMET") this.stats.quorumFailures++;
    else if (verdict === "timeout") this.stats.timeouts++;
    throw error;
  }
}
