/**
 * The parts of a running node, built when the replicated backend is attached to the node's mesh: the
 * coordinator, the replica server, the partition mover, anti-entropy, hint delivery and the config check, and
 * `NodeRing`, the ring as this node sees it (which partitions it replicates, who its peers are). Kept apart from
 * `cluster_backend.ts` so the facade only routes client calls, and so the wiring (who gets what) reads in one
 * place.
 */
import type { MemberTable } from "../core/membership.ts";
import type { Clock, Random } from "../runtime/types.ts";
import { AntiEntropy } from "./anti_entropy.ts";
import { ConfigCheck } from "./config_check.ts";
import { Coordinator } from "./coordinator.ts";
import { HintDelivery } from "./hint_delivery.ts";
import type { HintStore } from "./hints.ts";
import type { Keyspaces } from "./keyspaces.ts";
import { mergeBatchToWire } from "./kv_protocol.ts";
import type { ClusterNode } from "./node.ts";
import { PartitionMover } from "./partition_mover.ts";
import type { ReplicaStore } from "./replica.ts";
import { serveReplica } from "./replica_server.ts";
import type { ReplicationConfig, RingSnapshot, RingView } from "./ring_view.ts";
import type { ClusterTimings } from "./settings.ts";

/** The parts of a node that exist once it is attached to its mesh. */
export interface NodeParts {
  node: ClusterNode;
  ring: NodeRing;
  coordinator: Coordinator;
  mover: PartitionMover;
  ae: AntiEntropy;
  delivery: HintDelivery;
  configCheck: ConfigCheck;
  unregister: (() => void)[];
}

/** The ring as this node sees it, from its gossip table; the partitions it replicates are computed once per ring. */
export class NodeRing {
  readonly #view: RingView;
  readonly #nodeId: string;
  readonly #table: () => MemberTable;
  #mine: { epoch: number; partitions: number[] } | null = null;
  /** Called when the ring changed (anti-entropy then starts its purge proofs over). */
  onChange: () => void = () => {};

  constructor(view: RingView, nodeId: string, table: () => MemberTable) {
    this.#view = view;
    this.#nodeId = nodeId;
    this.#table = table;
  }

  snapshot(): RingSnapshot {
    return this.#view.update(this.#table());
  }

  /** The partitions this node replicates (anti-entropy asks every interval). */
  mine(): number[] {
    const snap = this.snapshot();
    if (this.#mine?.epoch === snap.epoch) return this.#mine.partitions;
    const out: number[] = [];
    for (let p = 0; p < this.#view.partitions; p++) {
      if (snap.placement.forPartition(p).replicas.some((r) => r.node === this.#nodeId)) out.push(p);
    }
    this.#mine = { epoch: snap.epoch, partitions: out };
    this.onChange();
    return out;
  }

  /** The other replicas of `p` that are not down. */
  peersFor(p: number): string[] {
    const snap = this.snapshot();
    return snap.placement.forPartition(p).replicas.map((r) => r.node).filter((n) =>
      n !== this.#nodeId && !snap.down.has(n)
    );
  }

  /** Every replica of `p` in the current ring, down or suspected ones included (the purge rule waits for them). */
  replicasFor(p: number): string[] {
    return this.snapshot().placement.forPartition(p).replicas.map((r) => r.node);
  }
}

export interface PartsOptions {
  node: ClusterNode;
  nodeId: string;
  datacenter: string;
  clock: Clock;
  random: Random;
  config: ReplicationConfig;
  view: RingView;
  keyspaces: Keyspaces;
  store: ReplicaStore;
  hints: HintStore;
  timings: ClusterTimings;
  /** Throws when this node may not take client requests (for forwarded writes). */
  serving(): void;
  /** Drops and counts the hints for `target` (`MembershipChanges.dropHintsFor`). */
  dropHintsFor?(target: string): Promise<number>;
}

/** Builds the parts around `o.node`, registers their mesh handlers and starts their loops. */
export function startParts(o: PartsOptions): NodeParts {
  const { node, timings: t } = o;
  const ring = new NodeRing(o.view, o.nodeId, () => node.gossip.table);
  const mover = new PartitionMover({
    store: o.store,
    mesh: node.mesh,
    clock: o.clock,
    nodeId: o.nodeId,
    partitions: o.view.partitions,
    view: () => (node.gossip.joined ? ring.snapshot() : null),
    intervalMs: t.moverIntervalMs,
    settleMs: t.settleMs,
    replicaTimeoutMs: t.replicaTimeoutMs,
  });
  const coordinator = new Coordinator({
    nodeId: o.nodeId,
    datacenter: o.datacenter,
    mesh: node.mesh,
    clock: o.clock,
    store: o.store,
    config: o.config,
    view: () => ring.snapshot(),
    acquiring: (p) => mover.acquiring(p),
    requestTimeoutMs: t.requestTimeoutMs,
    replicaTimeoutMs: t.replicaTimeoutMs,
    keyspaces: o.keyspaces,
  });
  const ae = new AntiEntropy({
    store: o.store,
    mesh: node.mesh,
    clock: o.clock,
    random: o.random.fork(),
    nodeId: o.nodeId,
    partitions: o.view.partitions,
    mine: () => (node.gossip.joined ? ring.mine().filter((p) => !mover.acquiring(p)) : []),
    peersFor: (p) => ring.peersFor(p),
    replicasFor: (p) => ring.replicasFor(p),
    holderGone: (n) => {
      const m = node.gossip.table.get(n);
      return !m || m.status === "left" || m.status === "removed";
    },
    intervalMs: t.antiEntropyIntervalMs,
    replicaTimeoutMs: t.replicaTimeoutMs,
  });
  ring.onChange = () => ae.observeRing(); // partitions whose replicas changed: former holders, proofs started over
  const delivery = new HintDelivery({
    store: o.hints,
    clock: o.clock,
    random: o.random.fork(),
    intervalMs: t.hintIntervalMs,
    isAlive: (target) => node.gossip.table.get(target)?.status === "alive",
    ...(o.dropHintsFor === undefined ? {} : {
      dropIfGone: async (target: string) => {
        if (node.gossip.table.get(target)?.status === "removed") await o.dropHintsFor!(target);
      },
    }),
    deliver: async (target, hints) => {
      const items = hints.map((h) => ({ p: h.partition, key: h.key, set: h.set, exp: h.expiresAt }));
      await node.mesh.request(target, "kvMergeBatch", mergeBatchToWire(items), { timeoutMs: t.replicaTimeoutMs });
    },
  });
  const unregister = [
    ...serveReplica({
      nodeId: o.nodeId,
      mesh: node.mesh,
      store: o.store,
      hints: o.hints,
      partitions: o.view.partitions,
      acquiring: (p) => mover.acquiring(p),
    }),
    coordinator.serveForwards(o.serving),
  ];
  const configCheck = new ConfigCheck({
    nodeId: o.nodeId,
    mesh: node.mesh,
    clock: o.clock,
    signature: o.view.signature(),
    members: () => node.gossip.table,
    intervalMs: t.configCheckIntervalMs,
    replicaTimeoutMs: t.replicaTimeoutMs,
  });
  configCheck.start();
  mover.start();
  ae.start();
  delivery.start();
  return { node, ring, coordinator, mover, ae, delivery, configCheck, unregister };
}

/** Stops the background loops (and with `handlers`, unregisters the mesh handlers); resolves when they stopped. */
export async function stopParts(a: NodeParts, handlers: boolean): Promise<void> {
  if (handlers) { for (const u of a.unregister) u(); }
  a.configCheck.stop();
  await Promise.all([a.mover.stop(), a.ae.stop(), a.delivery.stop()]);
}
