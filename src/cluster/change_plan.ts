/**
 * The preview of a membership change (`POST /v1/admin/plan`, `meshkv cluster plan join|leave|remove NODE`,
 * Riak's staged `cluster plan`): before anything happens, which store partitions move from where to where and
 * how many keys and bytes that is. Nothing changes: the member table is copied, changed the way the join, leave
 * or removal would change it, and both tables go through the ring code the cluster itself runs (`ring_view.ts`,
 * which folds `core/ring.ts` `claim` exactly as `planJoin`/`planLeave` do), so the plan is the ring the cluster
 * would reach. The counts come from the stores (`removal.ts` `movesBetween`).
 *
 * A join of a node that is not a member yet plans a hypothetical joiner (capacity and datacenter as given, else
 * `meshkv start`'s defaults) that joins last, as a freshly started node does.
 */
import { leave as leaveTable, type Member, type MemberTable } from "../core/membership.ts";
import { MeshkvError } from "../errors.ts";
import type { Mesh } from "../mesh/mesh.ts";
import { checkRemovable, movesBetween, removalPlan, unknownNode } from "./removal.ts";
import type { ReplicaStore } from "./replica.ts";
import type { ReplicationConfig } from "./ring_view.ts";

export const CHANGES = ["join", "leave", "remove"] as const;
export type Change = (typeof CHANGES)[number];

/** The joiner of a `join` plan for a node that is not a member yet. */
export interface Joiner {
  capacity: number;
  datacenter: string;
  rack?: string;
}

/** `meshkv start`'s defaults, for a hypothetical joiner planned without its own. */
export const DEFAULT_JOINER: Joiner = { capacity: 1, datacenter: "dc1" };

export interface PlanSources {
  config: ReplicationConfig;
  table: MemberTable;
  selfId: string;
  nowMs: number;
  store: ReplicaStore;
  mesh: Mesh;
  replicaTimeoutMs: number;
}

/** The plan of `change` for `node`; refuses a change that could not happen, before computing anything. */
export async function planChange(
  s: PlanSources,
  change: Change,
  node: string,
  joiner: Joiner = DEFAULT_JOINER,
): Promise<Record<string, unknown>> {
  const m = s.table.get(node);
  const common = {
    config: s.config,
    selfId: s.selfId,
    store: s.store,
    mesh: s.mesh,
    replicaTimeoutMs: s.replicaTimeoutMs,
  };
  switch (change) {
    case "remove": {
      checkRemovable(s.table, s.selfId, node);
      return { change, ...(await removalPlan({ ...common, table: s.table, node, nowMs: s.nowMs })) };
    }
    case "leave": {
      if (!m) {
        throw unknownNode(node);
      }
      if (m.status === "left" || m.status === "removed") {
        throw new MeshkvError(
          "INVALID_ARGUMENT",
          `Node ${node} has ${
            m.status === "left" ? "left" : "been removed"
          } already: it owns nothing, so nothing would move`,
          { details: { node, status: m.status } },
        );
      }
      const moves = await movesBetween({
        ...common,
        before: s.table,
        after: leaveTable(s.table, node, s.nowMs),
        gone: m.status === "down" ? node : null,
      });
      return {
        change,
        node,
        status: m.status,
        ...moves,
        ...(m.status === "down"
          ? {
            note:
              `Node ${node} is down: it cannot hand its data off; the copies come from the other replicas (this is what remove does)`,
          }
          : {}),
      };
    }
    case "join": {
      if (m && m.status === "removed") {
        throw new MeshkvError(
          "INVALID_ARGUMENT",
          `Node ${node} was removed from the cluster and can never rejoin under its id: plan a join under a new id`,
          { details: { node } },
        );
      }
      if (m && m.status !== "left") {
        throw new MeshkvError("NODE_MEMBER", `Node ${node} is a member already (${m.status}): nothing would move`, {
          details: { node, status: m.status },
        });
      }
      // A new node joins last (its data directory is the newest), a node that left comes back with its own.
      const since = Math.max(0, ...[...s.table.values()].map((x) => x.since ?? 0)) + 1;
      const record: Member = m ? { ...m, status: "alive", incarnation: m.incarnation + 1 } : {
        id: node,
        address: "(planned)",
        datacenter: joiner.datacenter,
        ...(joiner.rack === undefined ? {} : { rack: joiner.rack }),
        capacity: joiner.capacity,
        heartbeat: 0,
        incarnation: 0,
        status: "alive",
        since,
        lastHeartbeatChangeAt: s.nowMs,
        statusChangedAt: s.nowMs,
      };
      const moves = await movesBetween({
        ...common,
        before: s.table,
        after: new Map(s.table).set(node, record),
        gone: null,
      });
      return { change, node, status: m ? m.status : "new", ...(m ? {} : { joiner }), ...moves };
    }
  }
}
