/**
 * The replicated backend: the client API (`KvBackend`) served by a cluster node, as a facade over parts with one
 * job each, put together around one running node (mesh and gossip from `node.ts`) by `attach`:
 * - `replica.ts`, this node's copies, and `replica_server.ts`, the handlers peers call on them (`kvGet`, ...);
 * - `ring_view.ts`, the ring derived from gossip membership; `coordinator.ts`, reads and writes at a level (it
 *   serves forwarded writes, `kvCoordinate`, itself);
 * - `hints.ts` and `hint_delivery.ts`, hinted handoff (stand-in copies for down replicas, handed back later);
 * - `anti_entropy.ts`, continuous hash-tree exchange, and the tombstone purge rule built on it (`purgeable`);
 * - `partition_mover.ts`, partition moves on joins, leaves and removals; `membership_changes.ts`, those changes;
 * - `change_feed.ts`, what this node's replicas applied (`GET /v1/watch`); `node_status.ts`, status and metrics.
 * It is opened before the node starts serving (`openClusterBackend`) and attached to the node once its mesh
 * exists (`attach`; both in `src/cli/assemble.ts`); until it has joined its cluster, requests fail with
 * `NODE_STARTING`.
 */
import type { ConsistencyLevel } from "../core/quorum.ts";
import type { Stored } from "../core/stored.ts";
import { MeshkvError } from "../errors.ts";
import type * as Kv from "../kv/backend.ts";
import { runInOrder } from "../kv/batch.ts";
import { DATA_LIMITS } from "../kv/limits.ts";
import { changeEvent, changeEventBytesMax, ChangeFeed, type FeedLimits } from "./change_feed.ts";
import type { HintStore } from "./hints.ts";
import { Keyspaces } from "./keyspaces.ts";
import { listPage } from "./listing.ts";
import type { Change, Joiner } from "./change_plan.ts";
import { joinSeeds, leaveCluster, MembershipChanges, notServing } from "./membership_changes.ts";
import { deleteOp, putOp } from "./kv_protocol.ts";
import type { ClusterNode } from "./node.ts";
import { keyPlacement, nodeMetrics, nodeStatus, ringStatus, type StatusSources } from "./node_status.ts";
import { type NodeParts, startParts, stopParts } from "./node_parts.ts";
import { toReadResult } from "./records.ts";

export { toReadResult } from "./records.ts";
import { type NodeStoresOptions, openNodeStores } from "./node_stores.ts";
import type { ReplicaStore } from "./replica.ts";
import { clusterReplicas, type ReplicationConfig, type RingSnapshot, RingView } from "./ring_view.ts";
import { CLUSTER_TIMINGS, type ClusterTimings } from "./settings.ts";
import { TombstoneWaits } from "./tombstone_waits.ts";

export { CLUSTER_TIMINGS, type ClusterTimings } from "./settings.ts";

export { JOIN_TIMEOUT_MS } from "./membership_changes.ts";
export type { NodeParts } from "./node_parts.ts";

export interface ClusterBackendOptions extends NodeStoresOptions {
  datacenter: string;
  rack?: string;
  replication: ReplicationConfig;
  readLevel?: ConsistencyLevel;
  writeLevel?: ConsistencyLevel;
  timings?: Partial<ClusterTimings>;
  feed?: Partial<FeedLimits>;
  /** CPU seconds this process used, for `/metrics` (the runtime's `cpuSeconds`; absent: not reported). */
  cpuSeconds?: () => number;
}

/** Opens the stores (`node_stores.ts`); `attach` the running node to serve. */
export async function openClusterBackend(o: ClusterBackendOptions): Promise<ClusterBackend> {
  let backend: ClusterBackend | null = null;
  const { store, hints } = await openNodeStores(
    o,
    (p, key, deletedAt) => backend?.purgeable(p, deletedAt, key) ?? false,
  );
  backend = new ClusterBackend(o, store, hints);
  return backend;
}

export class ClusterBackend implements Kv.KvBackend {
  readonly nodeId: string;
  readonly store: ReplicaStore;
  readonly hints: HintStore;
  readonly view: RingView;
  readonly timings: ClusterTimings;
  readonly #o: ClusterBackendOptions;
  readonly #feed: ChangeFeed;
  readonly #startedMs: number;
  #a: NodeParts | null = null;
  #leaving = false;
  #closed = false;
  readonly keyspaces: Keyspaces;
  readonly #tombstoneWaits = new TombstoneWaits();
  readonly #removals: MembershipChanges;

  /** @internal use `openClusterBackend`. */
  constructor(o: ClusterBackendOptions, store: ReplicaStore, hints: HintStore) {
    this.#o = o;
    this.keyspaces = new Keyspaces(o.replication.keyspaces ?? [], {
      read: o.readLevel ?? "quorum",
      write: o.writeLevel ?? "quorum",
      conflicts: o.replication.conflicts ?? "siblings",
      replicas: clusterReplicas(o.replication),
    });
    this.nodeId = o.nodeId;
    this.store = store;
    this.hints = hints;
    this.#removals = new MembershipChanges({
      nodeId: o.nodeId,
      hints,
      config: o.replication,
      clock: o.clock,
      store,
      replicaTimeoutMs: { ...CLUSTER_TIMINGS, ...o.timings }.replicaTimeoutMs,
    });
    this.view = new RingView(o.replication);
    this.timings = { ...CLUSTER_TIMINGS, ...o.timings };
    this.#startedMs = o.clock.monotonic();
    this.#feed = new ChangeFeed(o.clock.now(), o.feed);
    store.onChange((key, s) => this.#publish(key, s));
  }

  /** Starts serving on `node`: builds the node's parts (`node_parts.ts`), which register their handlers and start. */
  attach(node: ClusterNode): void {
    if (this.#a) throw new Error("Backend already attached");
    const o = this.#o;
    const a = startParts({
      node,
      nodeId: o.nodeId,
      datacenter: o.datacenter,
      clock: o.clock,
      random: o.random,
      config: o.replication,
      view: this.view,
      keyspaces: this.keyspaces,
      store: this.store,
      hints: this.hints,
      timings: this.timings,
      serving: () => void this.#checkServing(),
      dropHintsFor: (target) => this.#removals.dropHintsFor(target),
    });
    a.unregister.push(node.gossip.on((e) => this.#onMember(e.type, e.member.id)));
    this.#a = a;
  }

  #snapshot(): RingSnapshot {
    if (!this.#a) throw new MeshkvError("NODE_STARTING", "The node is starting");
    return this.#a.ring.snapshot();
  }

  /** The partitions this node replicates (none before it joined). */
  #minePartitions(): number[] {
    return this.#a && this.#a.node.gossip.joined ? this.#a.ring.mine() : [];
  }

  /**
   * Tombstone purge rule: the grace passed, and every other replica of `p` in the current ring (down or suspected
   * ones included) completed an exchange with this one that began after the delete. A tombstone past its grace
   * that waits for replicas is tallied for status and metrics (`tombstone_waits.ts`).
   */
  purgeable(p: number, deletedAtMs: number, key?: string): boolean {
    const ae = this.#a?.ae;
    if (!ae || !this.#a!.node.gossip.joined) return false;
    if (this.#o.clock.now() - deletedAtMs <= this.timings.tombstoneGraceMs) return false;
    const waitingFor = ae.unsyncedSince(p, deletedAtMs);
    if (key !== undefined) this.#tombstoneWaits.note(p, key, waitingFor);
    return waitingFor.length === 0;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Client API

  #checkServing(signal?: AbortSignal): NodeParts {
    const a = this.#a;
    const joined = a !== null && a.node.gossip.joined;
    const refusal = notServing(this.nodeId, {
      closed: this.#closed,
      leaving: this.#leaving,
      removed: this.#removals.self,
      joined,
    });
    if (refusal !== null) throw refusal;
    if (signal?.aborted) throw new MeshkvError("TIMEOUT", "The request was cancelled before it ran");
    return a!;
  }

  async get(key: string, options: Kv.ReadOptions): Promise<Kv.ReadResult> {
    const a = this.#checkServing(options.signal);
    const s = await a.coordinator.read(key, options.consistency, options.signal);
    return toReadResult(s, this.#lww(key));
  }

  async put(key: string, value: Kv.StoredValue, options: Kv.WriteOptions): Promise<Kv.WriteResult> {
    const a = this.#checkServing(options.signal);
    return await a.coordinator.write(putOp(key, value, options), options.signal);
  }

  async delete(key: string, options: Kv.DeleteOptions): Promise<Kv.WriteResult> {
    const a = this.#checkServing(options.signal);
    return await a.coordinator.write(deleteOp(key, options), options.signal);
  }

  /** Lists keys in order (`listing.ts`): one replica per partition, whatever the level asked (documented). */
  async list(options: Kv.ListOptions): Promise<Kv.ListPage> {
    const a = this.#checkServing(options.signal);
    return await listPage({
      nodeId: this.nodeId,
      store: this.store,
      mesh: a.node.mesh,
      snapshot: this.#snapshot(),
      partitions: this.view.partitions,
      partitionOf: (key) => this.view.partitionOf(key),
      samePlace: (p) => this.view.samePlace(p),
      acquiring: (p) => a.mover.acquiring(p),
      replicaTimeoutMs: this.timings.replicaTimeoutMs,
      read: (s, key) => toReadResult(s, this.#lww(key)),
    }, options);
  }

  /** Runs the ops one after another (`runInOrder`, `src/kv/batch.ts`). */
  batch(ops: readonly Kv.BatchOp[]): Promise<Kv.BatchResult[]> {
    return runInOrder(this, ops);
  }

  watch(options: Kv.WatchOptions): AsyncIterable<Kv.ChangeEvent> {
    if (this.#closed) throw new MeshkvError("CLOSED", "The node is shutting down");
    return this.#feed.watch(options.prefix, options.after, options.signal);
  }

  isEventId(after: string): boolean {
    return ChangeFeed.isId(after);
  }

  #publish(key: string, s: Stored): void {
    const max = DATA_LIMITS.watchValueBytesMax;
    const lww = this.#lww(key);
    this.#feed.publishLazy(key, changeEventBytesMax(key, s, max), () => changeEvent(key, s, lww, max));
  }

  #lww(key: string): boolean {
    return this.keyspaces.of(key).conflicts === "lww";
  }

  /** True when this node is serving and has no partition to pull or hand off. */
  settled(): boolean {
    return this.ready() && this.#a!.mover.settled();
  }

  ready(): boolean {
    return !this.#closed && !this.#leaving && !this.#removals.self && this.#a !== null && this.#a.node.gossip.joined;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Admin

  async status(): Promise<Record<string, unknown>> {
    const snap = this.#a && this.#a.node.gossip.joined ? this.#snapshot() : null;
    return nodeStatus(this.#sources(), snap, this.#minePartitions().length, await this.members());
  }

  async ring(): Promise<Record<string, unknown>> {
    return ringStatus(this.#o.replication, this.#a && this.#a.node.gossip.joined ? this.#snapshot() : null);
  }

  /** Where `key` lives (the dashboard highlights its replicas on the ring). */
  async placement(key: string): Promise<Kv.KeyPlacement> {
    return keyPlacement(this.#o.replication, this.#snapshot(), key);
  }

  async members(): Promise<readonly Kv.MemberInfo[]> {
    // Before `attach` there is no member table yet: `status()` then says `ready: false`.
    return this.#a ? this.#a.node.gossip.members() : [];
  }

  metrics(): readonly Kv.MetricSample[] {
    return this.#closed ? [] : nodeMetrics(
      this.#sources(),
      this.#a && this.#a.node.gossip.joined ? this.#minePartitions().length : 0,
      this.#o.cpuSeconds,
    );
  }

  #sources(): StatusSources {
    return {
      nodeId: this.nodeId,
      datacenter: this.#o.datacenter,
      config: this.#o.replication,
      keyspaces: this.keyspaces,
      view: this.view,
      store: this.store,
      hints: this.hints,
      feed: this.#feed,
      tombstoneWaits: this.#tombstoneWaits,
      removals: this.#removals,
      parts: this.#a,
      ready: this.ready(),
      leaving: this.#leaving,
      uptimeMs: this.#o.clock.monotonic() - this.#startedMs,
    };
  }

  /** Joins the cluster of `seeds` (`membership_changes.ts`), for a node started without `--seeds`. */
  async join(seeds: readonly string[]): Promise<Record<string, unknown>> {
    const a = this.#a;
    if (!a || this.#closed) throw new MeshkvError("NODE_STARTING", "The node is not running yet");
    if (this.#leaving) throw new MeshkvError("NODE_LEAVING", "The node is leaving the cluster");
    return await joinSeeds(a, this.#o.clock, seeds);
  }

  /** Decommission (`membership_changes.ts`): hands every partition off; the caller stops the node afterwards. */
  async leave(options: { timeoutMs?: number } = {}): Promise<Record<string, unknown>> {
    const a = this.#checkServing();
    this.#leaving = true;
    const timings = { ...this.timings, leaveTimeoutMs: options.timeoutMs ?? this.timings.leaveTimeoutMs };
    return await leaveCluster(a, {
      clock: this.#o.clock,
      store: this.store,
      snapshot: () => this.#snapshot(),
      timings,
    });
  }

  /** Takes dead member `node` out of the ring for good, or with `dryRun` only shows the plan (`removal.ts`). */
  async remove(node: string, options: { dryRun: boolean }): Promise<Record<string, unknown>> {
    const a = this.#checkServing();
    return await this.#removals.remove(a, node, options.dryRun);
  }

  /** The preview of a membership change (`change_plan.ts`): changes nothing. */
  async plan(change: Change, node: string, joiner?: Joiner): Promise<Record<string, unknown>> {
    return await this.#removals.plan(this.#checkServing(), change, node, joiner);
  }

  /** A node that learns it was removed stops serving and stops its loops. */
  #onMember(type: string, id: string): void {
    if (!this.#removals.onMember(this.#a, type, id)) return;
    if (this.#a) void stopParts(this.#a, false);
  }

  /** Stops everything at once without touching the disk (the simulation's crash: the disk is then cut off). */
  halt(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#feed.close();
    if (this.#a) void stopParts(this.#a, true);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#feed.close();
    const a = this.#a;
    if (a) {
      await stopParts(a, true);
      await a.coordinator.idle();
    }
    await this.hints.close();
    await this.store.close();
  }
}
