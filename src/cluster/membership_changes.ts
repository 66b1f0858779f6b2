/**
 * Membership changes an operator asks a running node for: join through seeds, leave (decommission: hand every
 * partition off, then stop), and remove a member that is gone for good (Riak's `cluster force-remove`,
 * Cassandra's `nodetool removenode`; the plan and its checks are in `removal.ts`). Each acts on the parts of a
 * running node (`cluster_backend.ts`) through gossip and the partition mover; the ring follows from gossip.
 */
import { MeshkvError } from "../errors.ts";
import type { MemberInfo } from "../kv/backend.ts";
import type { Clock } from "../runtime/types.ts";
import type { NodeParts } from "./node_parts.ts";
import type { HintStore } from "./hints.ts";
import { type Change, type Joiner, planChange } from "./change_plan.ts";
import { checkRemovable, removalPlan } from "./removal.ts";
import type { ReplicaStore } from "./replica.ts";
import type { ReplicationConfig, RingSnapshot } from "./ring_view.ts";
import type { ClusterTimings } from "./settings.ts";

/** Why this node may not take a client request now, as the error the client gets; null when it may. */
export function notServing(
  nodeId: string,
  state: { closed: boolean; leaving: boolean; removed: boolean; joined: boolean },
): MeshkvError | null {
  if (state.closed) return new MeshkvError("CLOSED", "The node is shutting down");
  if (state.leaving) return new MeshkvError("NODE_LEAVING", "The node is leaving the cluster: use another node");
  if (state.removed) {
    return new MeshkvError(
      "NODE_REMOVED",
      `Node ${nodeId} was removed from the cluster: it serves nothing and cannot rejoin under its id`,
    );
  }
  if (!state.joined) {
    return new MeshkvError("NODE_STARTING", "The node has not joined its cluster yet: retry, or use another node");
  }
  return null;
}

/** How long `join` waits for a seed to answer before it reports that it keeps trying. */
export const JOIN_TIMEOUT_MS = 10_000;

/**
 * Joins the cluster that `seeds` (host:port) belong to, for a node started without `--seeds`: contacts them
 * and resolves once another member is known (or after `JOIN_TIMEOUT_MS`) with the member list.
 */
export async function joinSeeds(
  a: NodeParts,
  clock: Clock,
  seeds: readonly string[],
): Promise<Record<string, unknown>> {
  a.node.gossip.join(seeds);
  const startMs = clock.monotonic();
  while (a.node.gossip.table.size < 2 && clock.monotonic() - startMs < JOIN_TIMEOUT_MS) await clock.sleep(50);
  const joined = a.node.gossip.table.size > 1;
  const members: readonly MemberInfo[] = a.node.gossip.members();
  return {
    joined,
    members,
    ...(joined ? {} : { message: `No seed answered within ${JOIN_TIMEOUT_MS} ms; the node keeps trying them` }),
  };
}

/**
 * Decommission: marks this node `left` (peers recompute the ring without it), hands every partition off to the
 * new replicas and resolves when nothing is left here (or `leaveTimeoutMs` passed). The caller stops the process
 * afterwards.
 */
export async function leaveCluster(
  a: NodeParts,
  o: { clock: Clock; store: ReplicaStore; snapshot: () => RingSnapshot; timings: ClusterTimings },
): Promise<Record<string, unknown>> {
  const startMs = o.clock.monotonic();
  await a.node.gossip.leave();
  await a.coordinator.idle();
  while (!a.mover.drained() && o.clock.monotonic() - startMs < o.timings.leaveTimeoutMs) {
    const snap = o.snapshot();
    for (const p of o.store.partitionsHeld()) await a.mover.handOff(snap, p).catch(() => {});
    if (!a.mover.drained()) await o.clock.sleep(o.timings.moverIntervalMs);
  }
  return {
    left: true,
    drained: a.mover.drained(),
    partitionsHeld: o.store.partitionsHeld().length,
    tookMs: Math.round(o.clock.monotonic() - startMs),
  };
}

/**
 * Removals and previews as this node runs them: the members it removed or learned were removed, the hints it
 * dropped for them, whether it was removed itself, and plans of a change before it is made.
 */
export interface RemovalsOptions {
  nodeId: string;
  hints: HintStore;
  config: ReplicationConfig;
  clock: Clock;
  store: ReplicaStore;
  replicaTimeoutMs: number;
}

export class MembershipChanges {
  hintsDropped = 0;
  /** True once this node learned it was removed: it then serves nothing and stops its loops. */
  self = false;
  readonly #nodeId: string;
  readonly #hints: HintStore;
  readonly #o: RemovalsOptions;

  constructor(o: RemovalsOptions) {
    this.#o = o;
    this.#nodeId = o.nodeId;
    this.#hints = o.hints;
  }

  /**
   * Takes dead member `node` out of the ring for good: refuses an unknown id, this node and a live or suspected
   * member; with `dryRun` only returns the plan (partitions that move, where, keys and bytes). Otherwise marks
   * it `removed` in gossip, drops this node's hints for it, and returns the plan being carried out: the members
   * that gain its partitions pull them from the surviving replicas (`rebalance.acquiring`).
   */
  async remove(a: NodeParts, node: string, dryRun: boolean): Promise<Record<string, unknown>> {
    const o = this.#o;
    const table = a.node.gossip.table;
    const { status } = checkRemovable(table, this.#nodeId, node);
    const plan = await removalPlan({
      config: o.config,
      table,
      node,
      nowMs: o.clock.monotonic(),
      selfId: this.#nodeId,
      store: o.store,
      mesh: a.node.mesh,
      replicaTimeoutMs: o.replicaTimeoutMs,
    });
    if (dryRun) return { dryRun: true, ...plan };
    if (status !== "removed") await a.node.gossip.remove(node);
    const hintsDropped = await this.dropHintsFor(node);
    return { dryRun: false, removed: true, alreadyRemoved: status === "removed", hintsDropped, ...plan };
  }

  /** The preview of a membership change (`change_plan.ts`): which partitions move where, keys and bytes. */
  async plan(a: NodeParts, change: Change, node: string, joiner?: Joiner): Promise<Record<string, unknown>> {
    const o = this.#o;
    const base = { config: o.config, table: a.node.gossip.table, selfId: this.#nodeId, nowMs: o.clock.monotonic() };
    return await planChange(
      { ...base, store: o.store, mesh: a.node.mesh, replicaTimeoutMs: o.replicaTimeoutMs },
      change,
      node,
      joiner,
    );
  }

  /**
   * A member event: hints for removed members are dropped (on any event, so a restarted node learns of members
   * removed meanwhile without a `removed` event). Returns true when the event says this node was removed.
   */
  onMember(a: NodeParts | null, type: string, id: string): boolean {
    if (id === this.#nodeId && type === "removed") {
      this.self = true;
      return true;
    }
    const table = a?.node.gossip.table;
    for (const t of this.#hints.targets()) {
      if (table?.get(t)?.status === "removed") void this.dropHintsFor(t).catch(() => {});
    }
    return false;
  }

  async dropHintsFor(id: string): Promise<number> {
    const n = this.#hints.targets().includes(id) ? await this.#hints.dropTarget(id) : 0;
    this.hintsDropped += n;
    return n;
  }
}
