/**
 * The replicated backend: the client API (`KvBackend`) served by a cluster node. It assembles the parts of
 * the replication layer around one running node (mesh and gossip from `node.ts`):
 * - `replica.ts`, this node's copies, and the mesh handlers peers call on it (`kvGet`, `kvMerge`, …);
 * - `ring_view.ts`, the ring derived from gossip membership; `coordinator.ts`, reads and writes at a level;
 * - `hints.ts`, hinted handoff (stand-in copies kept for down replicas, delivered when they return);
 * - `anti_entropy.ts`, continuous hash-tree exchange; `handoff.ts`, partition moves on joins and leaves;
 * - a change feed of what this node's replicas applied (`GET /v1/watch`).
 * It is opened before the node starts serving (`openClusterBackend`) and attached to the node once its mesh
 * exists (`attach`); until it has joined its cluster, requests fail with `NODE_STARTING`.
 */
import { decodeSet, encodeSet } from "../core/context.ts";
import { levelToString, type ConsistencyLevel } from "../core/quorum.ts";
import { contextOf, values } from "../core/version.ts";
import { MeshkvError } from "../errors.ts";
import type {
  BatchOp, BatchResult, ChangeEvent, DeleteOptions, KvBackend, ListOptions, ListPage, MemberInfo, MetricSample,
  ReadOptions, ReadResult, StoredValue, WatchOptions, WriteOptions, WriteResult,
} from "../kv/backend.ts";
import { DATA_LIMITS } from "../kv/limits.ts";
import type { Clock, FileSystem, Random } from "../runtime/types.ts";
import type { EngineOptions } from "../storage/mod.ts";
import { counter, gauge, storageMetrics } from "./_metrics.ts";
import { item, items as wireItems, obj, optStr, partition, str } from "./_wire.ts";
import { AntiEntropy } from "./anti_entropy.ts";
import { Coordinator, opFromWire, resultToWire } from "./coordinator.ts";
import { PartitionMover, scanRequest, SCAN_PAGE_KEYS_MAX } from "./handoff.ts";
import { listPage } from "./listing.ts";
import { HintDelivery } from "./hint_delivery.ts";
import { ConfigCheck } from "./config_check.ts";
import { Keyspaces } from "./keyspaces.ts";
import { openHintStore, type HintStore } from "./hints.ts";
import { ChangeFeed, eventValues, type FeedLimits } from "./change_feed.ts";
import { visibleValues } from "./records.ts";
import type { ClusterNode } from "./node.ts";
import { makeDurableDir, openReplicaStore, type ReplicaStore, type Stored } from "./replica.ts";
import { clusterReplicas, RingView, type ReplicationConfig, type RingSnapshot } from "./ring_view.ts";
import { CLUSTER_TIMINGS, type ClusterTimings } from "./settings.ts";

export { CLUSTER_TIMINGS, type ClusterTimings } from "./settings.ts";

/** How long `join` waits for a seed to answer before it reports that it keeps trying. */
export const JOIN_TIMEOUT_MS = 10_000;

export interface ClusterBackendOptions {
  fs: FileSystem;
  /** Data directory: `store/` for replicas, `hints/` for hints. */
  dir: string;
  clock: Clock;
  random: Random;
  nodeId: string;
  datacenter: string;
  rack?: string;
  replication: ReplicationConfig;
  readLevel?: ConsistencyLevel;
  writeLevel?: ConsistencyLevel;
  timings?: Partial<ClusterTimings>;
  engine?: Omit<EngineOptions, "clock" | "tombstonePurgeable">;
  feed?: Partial<FeedLimits>;
}

/** Opens the stores; `attach` the running node to serve. */
export async function openClusterBackend(o: ClusterBackendOptions): Promise<ClusterBackend> {
  // A replica merges what other replicas send without refusing it, so its engine takes siblingsMax values of
  // the largest size (far above the write limit `DATA_LIMITS.setBytesMax`).
  const engineValueBytesMax = DATA_LIMITS.siblingsMax * DATA_LIMITS.valueBytesMax + 1024 * 1024;
  let backend: ClusterBackend | null = null;
  const store = await openReplicaStore({
    fs: o.fs, dir: `${o.dir}/store`, clock: o.clock, random: o.random, nodeId: o.nodeId, engineValueBytesMax,
    ...(o.engine === undefined ? {} : { engine: o.engine }),
    tombstonePurgeable: (p, _key, deletedAt) => backend?.purgeable(p, deletedAt) ?? false,
  });
  let hints: HintStore;
  try {
    await makeDurableDir(o.fs, `${o.dir}/hints`);
    hints = await openHintStore({ fs: o.fs, dir: `${o.dir}/hints`, clock: o.clock, ...(o.engine?.durability ? { durability: o.engine.durability } : {}) });
  } catch (err) {
    await store.close();
    throw err;
  }
  backend = new ClusterBackend(o, store, hints);
  return backend;
}

interface Attached {
  node: ClusterNode;
  coordinator: Coordinator;
  mover: PartitionMover;
  ae: AntiEntropy;
  delivery: HintDelivery;
  configCheck: ConfigCheck;
  unregister: (() => void)[];
}

export class ClusterBackend implements KvBackend {
  readonly nodeId: string;
  readonly store: ReplicaStore;
  readonly hints: HintStore;
  readonly view: RingView;
  readonly timings: ClusterTimings;
  readonly #o: ClusterBackendOptions;
  readonly #feed: ChangeFeed;
  readonly #startedMs: number;
  #a: Attached | null = null;
  #mine: { epoch: number; partitions: number[] } | null = null;
  #leaving = false;
  #closed = false;
  readonly keyspaces: Keyspaces;

  /** @internal use `openClusterBackend`. */
  constructor(o: ClusterBackendOptions, store: ReplicaStore, hints: HintStore) {
    this.#o = o;
    this.keyspaces = new Keyspaces(o.replication.keyspaces ?? [], {
      read: o.readLevel ?? "quorum", write: o.writeLevel ?? "quorum", conflicts: o.replication.conflicts ?? "siblings",
      replicas: clusterReplicas(o.replication),
    });
    this.nodeId = o.nodeId;
    this.store = store;
    this.hints = hints;
    this.view = new RingView(o.replication);
    this.timings = { ...CLUSTER_TIMINGS, ...o.timings };
    this.#startedMs = o.clock.monotonic();
    this.#feed = new ChangeFeed(o.clock.now(), o.feed);
    store.onChange((key, s) => this.#publish(key, s));
  }

  /** Starts serving on `node`: registers the replica handlers and starts the background loops. */
  attach(node: ClusterNode): void {
    if (this.#a) throw new Error("Backend already attached");
    const o = this.#o;
    const t = this.timings;
    const snapshot = () => this.#snapshot();
    const mover = new PartitionMover({
      store: this.store, mesh: node.mesh, clock: o.clock, nodeId: o.nodeId, partitions: this.view.partitions,
      view: () => (node.gossip.joined ? snapshot() : null), intervalMs: t.moverIntervalMs, settleMs: t.settleMs, replicaTimeoutMs: t.replicaTimeoutMs,
    });
    const coordinator = new Coordinator({
      nodeId: o.nodeId, datacenter: o.datacenter, mesh: node.mesh, clock: o.clock, store: this.store, config: o.replication,
      view: snapshot, acquiring: (p) => mover.acquiring(p), requestTimeoutMs: t.requestTimeoutMs, replicaTimeoutMs: t.replicaTimeoutMs,
      keyspaces: this.keyspaces,
    });
    const ae = new AntiEntropy({
      store: this.store, mesh: node.mesh, clock: o.clock, random: o.random.fork(), nodeId: o.nodeId, partitions: this.view.partitions,
      mine: () => this.#minePartitions().filter((p) => !mover.acquiring(p)),
      peersFor: (p) => this.#peersFor(p), intervalMs: t.antiEntropyIntervalMs, replicaTimeoutMs: t.replicaTimeoutMs,
    });
    const delivery = new HintDelivery({
      store: this.hints, clock: o.clock, random: o.random.fork(), intervalMs: t.hintIntervalMs,
      isAlive: (target) => node.gossip.table.get(target)?.status === "alive",
      deliver: async (target, hints) => {
        await node.mesh.request(target, "kvMergeBatch", { items: hints.map((h) => ({ p: h.partition, key: h.key, set: h.set, exp: h.expiresAt })) }, { timeoutMs: t.replicaTimeoutMs });
      },
    });
    const m = node.mesh;
    const unregister = [
      m.onRequest("kvGet", (body) => this.#onGet(body, mover)),
      m.onRequest("kvMerge", (body) => this.#onMerge(body)),
      m.onRequest("kvMergeBatch", (body) => this.#onMergeBatch(body)),
      m.onRequest("kvCoordinate", async (body) => {
        this.#checkServing();
        return resultToWire(await coordinator.coordinate(opFromWire(body)));
      }),
      m.onRequest("kvScan", async (body) => {
        const r = scanRequest(body, this.view.partitions);
        return await this.store.scan(r.p, r);
      }),
    ];
    const configCheck = new ConfigCheck({
      nodeId: o.nodeId, mesh: m, clock: o.clock, signature: this.view.signature(), members: () => node.gossip.table,
      intervalMs: t.configCheckIntervalMs, replicaTimeoutMs: t.replicaTimeoutMs,
    });
    this.#a = { node, coordinator, mover, ae, delivery, configCheck, unregister };
    configCheck.start();
    mover.start();
    ae.start();
    delivery.start();
  }

  #snapshot(): RingSnapshot {
    const a = this.#a;
    if (!a) throw new MeshkvError("NODE_STARTING", "The node is starting");
    return this.view.update(a.node.gossip.table);
  }

  /** The partitions this node replicates (computed once per ring: anti-entropy asks every interval). */
  #minePartitions(): number[] {
    const a = this.#a;
    if (!a || !a.node.gossip.joined) return [];
    const snap = this.#snapshot();
    if (this.#mine?.epoch === snap.epoch) return this.#mine.partitions;
    const out: number[] = [];
    for (let p = 0; p < this.view.partitions; p++) {
      if (snap.placement.forPartition(p).replicas.some((r) => r.node === this.nodeId)) out.push(p);
    }
    this.#mine = { epoch: snap.epoch, partitions: out };
    return out;
  }

  #peersFor(p: number): string[] {
    const snap = this.#snapshot();
    return snap.placement.forPartition(p).replicas.map((r) => r.node).filter((n) => n !== this.nodeId && !snap.down.has(n));
  }

  /** Tombstone purge rule: every replica exchanged with this one after the delete, and the grace passed. */
  purgeable(p: number, deletedAtMs: number): boolean {
    const since = this.#a?.ae.syncedWithAllSince(p) ?? null;
    if (since === null) return false;
    return since > deletedAtMs && this.#o.clock.now() - deletedAtMs > this.timings.tombstoneGraceMs;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Replica handlers

  async #onGet(body: unknown, mover: PartitionMover): Promise<Record<string, unknown>> {
    const o = obj(body, "kvGet");
    const p = partition(o, this.view.partitions);
    const s = await this.store.read(p, str(o, "key"));
    return { set: s.set.entries.length === 0 ? null : encodeSet(s.set), exp: s.expiresAt, acquiring: mover.acquiring(p) };
  }

  async #onMerge(body: unknown): Promise<{ ok: true }> {
    const o = obj(body, "kvMerge");
    const it = item(o, this.view.partitions);
    const hintFor = optStr(o, "hintFor");
    if (hintFor !== null && hintFor !== this.nodeId) {
      await this.hints.add({ target: hintFor, partition: it.p, key: it.key, set: it.set, expiresAt: it.exp });
    } else {
      await this.store.merge(it.p, it.key, decodeSet(it.set), it.exp);
    }
    return { ok: true };
  }

  async #onMergeBatch(body: unknown): Promise<{ ok: true }> {
    const o = obj(body, "kvMergeBatch");
    for (const it of wireItems(o, "items", this.view.partitions, SCAN_PAGE_KEYS_MAX)) {
      await this.store.merge(it.p, it.key, decodeSet(it.set), it.exp);
    }
    return { ok: true };
  }

  // ---------------------------------------------------------------------------------------------------------
  // Client API

  #checkServing(signal?: AbortSignal): Attached {
    if (this.#closed) throw new MeshkvError("CLOSED", "The node is shutting down");
    if (this.#leaving) throw new MeshkvError("NODE_LEAVING", "The node is leaving the cluster: use another node");
    const a = this.#a;
    if (!a || !a.node.gossip.joined) throw new MeshkvError("NODE_STARTING", "The node has not joined its cluster yet: retry, or use another node");
    if (signal?.aborted) throw new MeshkvError("TIMEOUT", "The request was cancelled before it ran");
    return a;
  }

  async get(key: string, options: ReadOptions): Promise<ReadResult> {
    const a = this.#checkServing(options.signal);
    const s = await a.coordinator.read(key, options.consistency, options.signal);
    return toReadResult(s, this.#lww(key));
  }

  async put(key: string, value: StoredValue, options: WriteOptions): Promise<WriteResult> {
    const a = this.#checkServing(options.signal);
    return await a.coordinator.write({
      kind: "put", key, value, context: options.context, ifNoneMatch: options.ifNoneMatch, strict: options.strict,
      ttlMs: options.ttlMs, level: options.consistency,
    }, options.signal);
  }

  async delete(key: string, options: DeleteOptions): Promise<WriteResult> {
    const a = this.#checkServing(options.signal);
    return await a.coordinator.write({ kind: "delete", key, context: options.context, strict: options.strict, level: options.consistency }, options.signal);
  }

  /** Lists keys in order (`listing.ts`): one replica per partition, whatever the level asked (documented). */
  async list(options: ListOptions): Promise<ListPage> {
    const a = this.#checkServing(options.signal);
    return await listPage({
      nodeId: this.nodeId, store: this.store, mesh: a.node.mesh, snapshot: this.#snapshot(), partitions: this.view.partitions,
      partitionOf: (key) => this.view.partitionOf(key), samePlace: (p) => this.view.samePlace(p), acquiring: (p) => a.mover.acquiring(p), replicaTimeoutMs: this.timings.replicaTimeoutMs,
      read: (s, key) => toReadResult(s, this.#lww(key)),
    }, options);
  }

  /**
   * Runs the ops one after another, each finished (at its level) before the next starts, so an op sees every
   * op before it and other clients (readers, watchers) see them land in batch order. Ops on different keys
   * could overlap without changing any result, but not without changing what observers see, so they do not:
   * a batch costs the sum of its ops' round trips, bounded by `batchOpsMax`.
   */
  async batch(ops: readonly BatchOp[]): Promise<BatchResult[]> {
    const out: BatchResult[] = [];
    for (const op of ops) {
      try {
        if (op.type === "get") out.push({ type: "get", ok: true, result: await this.get(op.key, op.options) });
        else if (op.type === "put") out.push({ type: "put", ok: true, result: await this.put(op.key, op.value, op.options) });
        else out.push({ type: "delete", ok: true, result: await this.delete(op.key, op.options) });
      } catch (error) {
        if (!(error instanceof Error)) throw error;
        out.push({ type: op.type, ok: false, error });
      }
    }
    return out;
  }

  watch(options: WatchOptions): AsyncIterable<ChangeEvent> {
    if (this.#closed) throw new MeshkvError("CLOSED", "The node is shutting down");
    return this.#feed.watch(options.prefix, options.after, options.signal);
  }

  isEventId(after: string): boolean {
    return ChangeFeed.isId(after);
  }

  #publish(key: string, s: Stored): void {
    const live = visibleValues(values(s.set), this.#lww(key));
    const carried = eventValues(live, DATA_LIMITS.watchValueBytesMax);
    this.#feed.publish({ type: live.length > 0 ? "put" : "delete", key, context: contextOf(s.set), ...carried });
  }

  #lww(key: string): boolean {
    return this.keyspaces.of(key).conflicts === "lww";
  }

  /** True when this node is serving and has no partition to pull or hand off. */
  settled(): boolean {
    return this.ready() && this.#a!.mover.settled();
  }

  ready(): boolean {
    return !this.#closed && !this.#leaving && this.#a !== null && this.#a.node.gossip.joined;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Admin

  async status(): Promise<Record<string, unknown>> {
    const a = this.#a;
    const snap = a && a.node.gossip.joined ? this.#snapshot() : null;
    return {
      nodeId: this.nodeId, mode: "cluster", datacenter: this.#o.datacenter, ready: this.ready(), leaving: this.#leaving,
      replication: { partitions: this.#o.replication.partitions, n: this.#o.replication.n, ...(this.#o.replication.replication ? { perDatacenter: this.#o.replication.replication } : {}), sloppy: this.#o.replication.sloppy, conflicts: this.#o.replication.conflicts ?? "siblings", replicaClasses: this.keyspaces.classes, storePartitions: this.view.partitions, signature: this.view.signature() },
      configMismatches: a ? a.configCheck.mismatches() : [],
      keyspaces: this.keyspaces.list().map((k) => {
        const s = this.keyspaces.of(k.prefix);
        return { ...s, prefix: k.prefix, read: levelToString(s.read), write: levelToString(s.write), replicas: this.keyspaces.classes[s.replicaClass] };
      }),
      uptimeMs: Math.round(this.#o.clock.monotonic() - this.#startedMs),
      members: await this.members(),
      ring: snap ? { epoch: snap.epoch, owners: snap.owners, down: [...snap.down], warnings: snap.placement.warnings() } : null,
      partitions: { replicated: this.#minePartitions().length, held: this.store.partitionsHeld().length },
      hints: this.hints.stats(),
      antiEntropy: a ? a.ae.stats() : null,
      rebalance: a ? a.mover.stats() : null,
      coordinator: a ? a.coordinator.stats : null,
      watchers: this.#feed.watchers,
      lastEventId: this.#feed.lastId,
      storage: this.store.engine.stats(),
      recovery: this.store.engine.recovery,
    };
  }

  async ring(): Promise<Record<string, unknown>> {
    if (!this.#a || !this.#a.node.gossip.joined) return { partitions: this.#o.replication.partitions, replicas: this.#o.replication.n, owners: [], joined: false };
    const snap = this.#snapshot();
    const owners = Array.from({ length: this.#o.replication.partitions }, (_, p) => ({
      partition: p, owner: snap.ring.owners[p], nodes: snap.placement.forPartition(p).replicas.map((r) => r.node),
    }));
    return { partitions: this.#o.replication.partitions, replicas: this.#o.replication.n, epoch: snap.epoch, owners };
  }

  /** Where `key` lives (the dashboard highlights its replicas on the ring). */
  async placement(key: string): Promise<import("../kv/backend.ts").KeyPlacement> {
    const list = this.#snapshot().placement.forKey(key);
    return { partition: list.partition % this.#o.replication.partitions, storePartition: list.partition, replicas: list.replicas.map((r) => r.node) };
  }

  async members(): Promise<readonly MemberInfo[]> {
    const a = this.#a;
    // Before `attach` there is no member table yet: `status()` then says `ready: false`.
    if (!a) return [];
    return a.node.gossip.members();
  }

  /**
   * Joins the cluster that `seeds` (host:port) belong to, for a node started without `--seeds`: contacts them
   * and resolves once another member is known (or after `joinTimeoutMs`) with the member list.
   */
  async join(seeds: readonly string[]): Promise<Record<string, unknown>> {
    const a = this.#a;
    if (!a || this.#closed) throw new MeshkvError("NODE_STARTING", "The node is not running yet");
    if (this.#leaving) throw new MeshkvError("NODE_LEAVING", "The node is leaving the cluster");
    a.node.gossip.join(seeds);
    const startMs = this.#o.clock.monotonic();
    while (a.node.gossip.table.size < 2 && this.#o.clock.monotonic() - startMs < JOIN_TIMEOUT_MS) await this.#o.clock.sleep(50);
    const joined = a.node.gossip.table.size > 1;
    return { joined, members: await this.members(), ...(joined ? {} : { message: `No seed answered within ${JOIN_TIMEOUT_MS} ms; the node keeps trying them` }) };
  }

  /**
   * Decommission: marks this node `left` (peers recompute the ring without it), hands every partition off to
   * the new replicas and resolves when nothing is left here (or `leaveTimeoutMs` passed). The caller stops
   * the process afterwards.
   */
  async leave(): Promise<Record<string, unknown>> {
    const a = this.#checkServing();
    this.#leaving = true;
    const startMs = this.#o.clock.monotonic();
    await a.node.gossip.leave();
    await a.coordinator.idle();
    while (!a.mover.drained() && this.#o.clock.monotonic() - startMs < this.timings.leaveTimeoutMs) {
      const snap = this.#snapshot();
      for (const p of this.store.partitionsHeld()) await a.mover.handOff(snap, p).catch(() => {});
      if (!a.mover.drained()) await this.#o.clock.sleep(this.timings.moverIntervalMs);
    }
    const drained = a.mover.drained();
    return { left: true, drained, partitionsHeld: this.store.partitionsHeld().length, tookMs: Math.round(this.#o.clock.monotonic() - startMs) };
  }

  metrics(): readonly MetricSample[] {
    if (this.#closed) return [];
    const s = this.store.engine.stats();
    const h = this.hints.stats();
    const a = this.#a;
    const c = a?.coordinator.stats;
    const ae = a?.ae.stats();
    return [
      ...storageMetrics(s),
      gauge("meshkv_hints_pending", "Hinted-handoff hints waiting for delivery", h.pending),
      gauge("meshkv_hints_bytes", "Bytes of hints waiting for delivery", h.bytes),
      counter("meshkv_hints_delivered_total", "Hints delivered to their replica", h.delivered),
      counter("meshkv_anti_entropy_repairs_total", "Keys repaired by anti-entropy", ae?.keysRepaired ?? 0),
      counter("meshkv_anti_entropy_exchanges_total", "Anti-entropy exchanges completed", ae?.exchanges ?? 0),
      counter("meshkv_read_repairs_total", "Replicas repaired by reads", c?.readRepairs ?? 0),
      counter("meshkv_coordinator_forwards_total", "Writes forwarded to a replica to coordinate", c?.forwarded ?? 0),
      counter("meshkv_coordinator_timeouts_total", "Requests that timed out waiting for replicas", c?.timeouts ?? 0),
      gauge("meshkv_partitions_acquiring", "Partitions this node is still pulling after gaining them", a?.mover.stats().acquiring.length ?? 0),
      gauge("meshkv_watchers", "Open watch streams", this.#feed.watchers),
      gauge("meshkv_config_mismatches", "Peers whose replication settings differ from this node's", this.#a?.configCheck.mismatches().length ?? 0),
    ];
  }

  /** Stops everything at once without touching the disk (the simulation's crash: the disk is then cut off). */
  halt(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#feed.close();
    const a = this.#a;
    if (!a) return;
    for (const u of a.unregister) u();
    a.configCheck.stop();
    void a.mover.stop();
    void a.ae.stop();
    void a.delivery.stop();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#feed.close();
    const a = this.#a;
    if (a) {
      for (const u of a.unregister) u();
      a.configCheck.stop();
      await a.mover.stop();
      await a.ae.stop();
      await a.delivery.stop();
      await a.coordinator.idle();
    }
    await this.hints.close();
    await this.store.close();
  }
}

export function toReadResult(s: Stored, lww: boolean): ReadResult {
  const live = visibleValues(values(s.set), lww);
  return { values: live, context: contextOf(s.set), expiresAt: live.length > 0 ? s.expiresAt : null };
}

