/**
 * What a node says about itself: the JSON of `/v1/admin/status` and `/v1/admin/ring`, and the samples it adds to
 * `/metrics` (Prometheus text format). Built from the parts of a running node (`cluster_backend.ts`) without
 * changing any of them, so an operator's dashboard and an autoscaler read the same numbers.
 */
import { levelToString } from "../core/quorum.ts";
import type { KeyPlacement, MemberInfo, MetricSample } from "../kv/backend.ts";
import { counter, gauge, storageMetrics } from "./_metrics.ts";
import type { ChangeFeed } from "./change_feed.ts";
import type { NodeParts } from "./node_parts.ts";
import type { HintStore } from "./hints.ts";
import type { Keyspaces } from "./keyspaces.ts";
import type { MembershipChanges } from "./membership_changes.ts";
import type { ReplicaStore } from "./replica.ts";
import type { ReplicationConfig, RingSnapshot, RingView } from "./ring_view.ts";
import type { TombstoneWaits } from "./tombstone_waits.ts";

/** The state the status and metrics are read from. */
export interface StatusSources {
  nodeId: string;
  datacenter: string;
  config: ReplicationConfig;
  keyspaces: Keyspaces;
  view: RingView;
  store: ReplicaStore;
  hints: HintStore;
  feed: ChangeFeed;
  tombstoneWaits: TombstoneWaits;
  removals: MembershipChanges;
  /** Null before the node is attached to its mesh. */
  parts: NodeParts | null;
  ready: boolean;
  leaving: boolean;
  uptimeMs: number;
}

export function nodeStatus(
  s: StatusSources,
  snap: RingSnapshot | null,
  replicated: number,
  members: readonly MemberInfo[],
): Record<string, unknown> {
  const a = s.parts;
  const c = s.config;
  return {
    nodeId: s.nodeId,
    mode: "cluster",
    datacenter: s.datacenter,
    ready: s.ready,
    leaving: s.leaving,
    replication: {
      partitions: c.partitions,
      n: c.n,
      ...(c.replication ? { perDatacenter: c.replication } : {}),
      sloppy: c.sloppy,
      conflicts: c.conflicts ?? "siblings",
      replicaClasses: s.keyspaces.classes,
      storePartitions: s.view.partitions,
      signature: s.view.signature(),
    },
    configMismatches: a ? a.configCheck.mismatches() : [],
    keyspaces: s.keyspaces.list().map((k) => {
      const ks = s.keyspaces.of(k.prefix);
      return {
        ...ks,
        prefix: k.prefix,
        read: levelToString(ks.read),
        write: levelToString(ks.write),
        replicas: s.keyspaces.classes[ks.replicaClass],
      };
    }),
    uptimeMs: Math.round(s.uptimeMs),
    members,
    ring: snap
      ? { epoch: snap.epoch, owners: snap.owners, down: [...snap.down], warnings: snap.placement.warnings() }
      : null,
    partitions: { replicated, held: s.store.partitionsHeld().length },
    hints: s.hints.stats(),
    antiEntropy: a ? a.ae.stats() : null,
    tombstones: s.tombstoneWaits.stats(),
    removed: removalStatus(s),
    rebalance: a ? a.mover.stats() : null,
    coordinator: a ? a.coordinator.stats : null,
    mesh: a
      ? {
        tcpPort: a.node.mesh.tcpPort ?? null,
        links: a.node.mesh.links().map((l) => ({
          peer: l.peer,
          transport: l.transport,
          open: l.open,
          role: l.role,
          inFlight: l.inFlight,
        })),
      }
      : null,
    watchers: s.feed.watchers,
    lastEventId: s.feed.lastId,
    storage: s.store.engine.stats(),
    recovery: s.store.engine.recovery,
  };
}

/** Members removed from the cluster, hints dropped for them, and how far rebuilding their copies has come. */
function removalStatus(s: StatusSources): Record<string, unknown> {
  const a = s.parts;
  const removed = a
    ? [...a.node.gossip.table.values()].filter((m) => m.status === "removed").map((m) => m.id).sort()
    : [];
  const mover = a && a.node.gossip.joined && !s.removals.self ? a.mover.stats() : null;
  return {
    members: removed,
    hintsDropped: s.removals.hintsDropped,
    self: s.removals.self,
    rebuild: mover
      ? {
        partitionsAcquiring: mover.acquiring.length,
        partitionsAcquired: mover.partitionsAcquired,
        keysPulled: mover.keysPulled,
        done: mover.acquiring.length === 0,
      }
      : null,
  };
}

/** Where `key` lives: its ring partition, its store partition (within its replica class) and its replicas. */
export function keyPlacement(config: ReplicationConfig, snap: RingSnapshot, key: string): KeyPlacement {
  const list = snap.placement.forKey(key);
  return {
    partition: list.partition % config.partitions,
    storePartition: list.partition,
    replicas: list.replicas.map((r) => r.node),
  };
}

/** Every partition with its owner and replicas (`/v1/admin/ring`). */
export function ringStatus(config: ReplicationConfig, snap: RingSnapshot | null): Record<string, unknown> {
  if (snap === null) return { partitions: config.partitions, replicas: config.n, owners: [], joined: false };
  const owners = Array.from({ length: config.partitions }, (_, p) => ({
    partition: p,
    owner: snap.ring.owners[p],
    nodes: snap.placement.forPartition(p).replicas.map((r) => r.node),
  }));
  return { partitions: config.partitions, replicas: config.n, epoch: snap.epoch, owners };
}

/**
 * The samples this node adds to `/metrics`. Besides the request rate and latency histogram (`http/metrics.ts`),
 * what an autoscaler needs: CPU seconds, bytes stored, partitions replicated here and partitions moving.
 */
export function nodeMetrics(s: StatusSources, replicated: number, cpuSeconds?: () => number): MetricSample[] {
  const h = s.hints.stats();
  const a = s.parts;
  const c = a?.coordinator.stats;
  const ae = a?.ae.stats();
  const storage = s.store.engine.stats();
  const mover = a?.mover.stats();
  return [
    ...(cpuSeconds
      ? [
        counter(
          "meshkv_process_cpu_seconds_total",
          "CPU time this process used, user and system, in seconds",
          cpuSeconds(),
        ),
      ]
      : []),
    gauge(
      "meshkv_bytes_stored",
      "Bytes this node stores: its tables and write-ahead log (the Load of meshkv cluster status)",
      storage.tableBytes + storage.walBytes,
    ),
    gauge("meshkv_partitions_replicated", "Store partitions this node is a replica of in the current ring", replicated),
    gauge("meshkv_partitions_held", "Store partitions with data in this node's store", s.store.partitionsHeld().length),
    gauge(
      "meshkv_partitions_handing_off",
      "Partitions this node holds but no longer replicates, still being handed off",
      mover?.handingOff.length ?? 0,
    ),
    ...storageMetrics(storage),
    gauge("meshkv_hints_pending", "Hinted-handoff hints waiting for delivery", h.pending),
    gauge("meshkv_hints_bytes", "Bytes of hints waiting for delivery", h.bytes),
    counter("meshkv_hints_delivered_total", "Hints delivered to their replica", h.delivered),
    counter("meshkv_anti_entropy_repairs_total", "Keys repaired by anti-entropy", ae?.keysRepaired ?? 0),
    counter("meshkv_anti_entropy_exchanges_total", "Anti-entropy exchanges completed", ae?.exchanges ?? 0),
    counter("meshkv_read_repairs_total", "Replicas repaired by reads", c?.readRepairs ?? 0),
    counter("meshkv_coordinator_forwards_total", "Writes forwarded to a replica to coordinate", c?.forwarded ?? 0),
    counter("meshkv_coordinator_timeouts_total", "Requests that timed out waiting for replicas", c?.timeouts ?? 0),
    gauge(
      "meshkv_partitions_acquiring",
      "Partitions this node is still pulling after gaining them",
      mover?.acquiring.length ?? 0,
    ),
    counter(
      "meshkv_hints_dropped_removed_total",
      "Hints dropped because their target was removed from the cluster",
      s.removals.hintsDropped,
    ),
    gauge("meshkv_watchers", "Open watch streams", s.feed.watchers),
    ...tombstoneMetrics(s.tombstoneWaits),
    gauge(
      "meshkv_config_mismatches",
      "Peers whose replication settings differ from this node's",
      a?.configCheck.mismatches().length ?? 0,
    ),
  ];
}

/** Tombstones past their grace that wait for a replica: in total, and per replica (label `replica`). */
function tombstoneMetrics(waits: TombstoneWaits): MetricSample[] {
  const t = waits.stats();
  const help = "Tombstones past their grace waiting for this replica to hold them before they may be purged";
  return [
    gauge(
      "meshkv_tombstones_waiting",
      "Tombstones past their grace whose purge waits for some replica to hold them",
      t.waiting,
    ),
    ...Object.entries(t.byReplica).map(([replica, n]) => ({
      ...gauge("meshkv_tombstones_waiting_for_replica", help, n),
      labels: { replica },
    })),
  ];
}
