/**
 * Removing a member that is gone for good (Riak's `cluster force-remove`, Cassandra's `nodetool removenode`):
 * the checks that refuse a removal that would be wrong, and the plan it carries out. A dead member keeps its
 * partitions (a down member is a temporary failure), so its keys stay at N - 1 copies, hints pile up for it and
 * the tombstones of its partitions cannot be purged (they wait for every replica). Removing it marks it
 * `removed` in gossip (`core/membership.ts`: the record wins every merge, so it can never rejoin under that id);
 * the ring folds it out like a leave (`ring_view.ts`), and the members that gain its partitions pull them from
 * the surviving replicas as whole partitions (`handoff.ts`, `acquiring`), not key by key.
 *
 * The plan (`--dry-run`) compares the current ring with the ring without the member: per store partition, the
 * replicas it gains, whom they copy from, and the keys and bytes of the partition on a surviving replica (this
 * node's own copy when it holds one, else asked of a surviving replica with `kvStats`). Counting bytes reads the
 * partitions that move, so a dry run costs a read of the data it would copy.
 */
import { type MemberTable, remove as removeFromTable } from "../core/membership.ts";
import { MeshkvError } from "../errors.ts";
import type { Mesh } from "../mesh/mesh.ts";
import { int, obj } from "./_wire.ts";
import type { ReplicaStore } from "./replica.ts";
import { type ReplicationConfig, type RingSnapshot, RingView } from "./ring_view.ts";

/** Partitions one `kvStats` request may ask about (every store partition fits). */
export const STATS_PARTITIONS_MAX = 65_536;
/** Keys per page when a partition's bytes are counted. */
const COUNT_PAGE_KEYS_MAX = 1_000;
const utf8 = new TextEncoder();

export interface PartitionMove {
  partition: number;
  /** Replicas that gain a copy. */
  to: string[];
  /** Surviving replicas they copy from. */
  from: string[];
  /** Replicas that no longer hold it afterwards. */
  drop: string[];
  keys: number | null;
  bytes: number | null;
}

export interface RemovalPlan {
  node: string;
  status: string;
  partitionsMoving: number;
  keys: number;
  bytes: number;
  /** Partitions no surviving replica could be asked about (their counts are not in the totals). */
  partitionsUncounted: number;
  moves: PartitionMove[];
}

/** The error for a node id no member has (404 `NODE_UNKNOWN`). */
export function unknownNode(node: string): MeshkvError {
  return new MeshkvError(
    "NODE_UNKNOWN",
    `No member of the cluster is named ${JSON.stringify(node)}: see GET /v1/admin/members`,
    {
      details: { node },
    },
  );
}

/** Refuses what must not be removed: an unknown id (404), this node (400), a live or suspected member (409). */
export function checkRemovable(table: MemberTable, selfId: string, node: string): { status: string } {
  if (node === selfId) {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Node ${node} is the node you asked: a node cannot remove itself; ask another node, or use leave to hand its data off`,
    );
  }
  const m = table.get(node);
  if (!m) {
    throw unknownNode(node);
  }
  if (m.status === "alive" || m.status === "suspect") {
    throw new MeshkvError(
      "NODE_ALIVE",
      `Node ${node} is ${m.status}: only a down member can be removed; stop it for good first (or let it leave: POST /v1/admin/leave on it)`,
      { details: { node, status: m.status } },
    );
  }
  return { status: m.status };
}

/** The ring as it is, and as it would be without `node`. */
export function ringsWithout(
  config: ReplicationConfig,
  table: MemberTable,
  node: string,
  nowMs: number,
): { before: RingSnapshot; after: RingSnapshot } {
  return {
    before: new RingView(config).update(table),
    after: new RingView(config).update(removeFromTable(table, node, nowMs)),
  };
}

/** The partitions that change replicas when `node` goes, with counts from surviving replicas. */
export async function removalPlan(o: {
  config: ReplicationConfig;
  table: MemberTable;
  node: string;
  nowMs: number;
  selfId: string;
  store: ReplicaStore;
  mesh: Mesh;
  replicaTimeoutMs: number;
}): Promise<RemovalPlan> {
  const moves = await movesBetween({
    ...o,
    before: o.table,
    after: removeFromTable(o.table, o.node, o.nowMs),
    gone: o.node,
  });
  return { node: o.node, status: o.table.get(o.node)?.status ?? "unknown", ...moves };
}

/**
 * The store partitions whose replicas differ between the rings of member tables `before` and `after` (a join,
 * a leave or a removal), each with the replicas that gain a copy, the live replicas it can be copied from (not
 * `gone`, a member whose data is lost), and the keys and bytes of the partition (this node's copy when it is a
 * source, else one `kvStats` request per source asked).
 */
export async function movesBetween(o: {
  config: ReplicationConfig;
  before: MemberTable;
  after: MemberTable;
  gone: string | null;
  selfId: string;
  store: ReplicaStore;
  mesh: Mesh;
  replicaTimeoutMs: number;
}): Promise<Omit<RemovalPlan, "node" | "status">> {
  const before = new RingView(o.config).update(o.before);
  const after = new RingView(o.config).update(o.after);
  const moves: PartitionMove[] = [];
  for (let p = 0; p < before.placement.partitions; p++) {
    const was = before.placement.forPartition(p).replicas.map((r) => r.node);
    const will = after.placement.forPartition(p).replicas.map((r) => r.node);
    const to = will.filter((n) => !was.includes(n));
    if (to.length === 0 && was.length === will.length) continue;
    // A removal copies from the replicas that stay; a leave also from the leaver, which hands its copies off.
    const from = was.filter((n) => n !== o.gone && !before.down.has(n) && (o.gone === null || will.includes(n)));
    moves.push({ partition: p, to, from, drop: was.filter((n) => !will.includes(n)), keys: null, bytes: null });
  }
  // Counts: this node's copy when it is a surviving replica, else one request per surviving replica asked.
  const ask = new Map<string, PartitionMove[]>();
  for (const m of moves) {
    // A partition that only loses a replica copies nothing.
    if (m.to.length === 0) Object.assign(m, { keys: 0, bytes: 0 });
    else if (m.from.includes(o.selfId)) {
      Object.assign(m, await partitionStats(o.store, m.partition));
    } else if (m.from.length > 0) {
      const peer = m.from[0]!;
      ask.set(peer, [...(ask.get(peer) ?? []), m]);
    }
  }
  await Promise.all([...ask].map(async ([peer, list]) => {
    try {
      const reply = obj(
        await o.mesh.request(peer, "kvStats", { partitions: list.map((m) => m.partition) }, {
          timeoutMs: o.replicaTimeoutMs,
        }),
        "kvStats reply",
      );
      const stats = new Map(
        statsList(reply, before.placement.partitions).map(([p, keys, bytes]) => [p, { keys, bytes }]),
      );
      for (const m of list) Object.assign(m, stats.get(m.partition) ?? {});
    } catch {
      // Left uncounted (partitionsUncounted says how many): the plan itself does not depend on the counts.
    }
  }));
  const counted = moves.filter((m) => m.keys !== null);
  return {
    partitionsMoving: moves.length,
    keys: counted.reduce((n, m) => n + m.keys!, 0),
    bytes: counted.reduce((n, m) => n + m.bytes!, 0),
    partitionsUncounted: moves.length - counted.length,
    moves,
  };
}

/** Live keys and their bytes (keys and encoded sets) in partition `p` of this node's store. */
export async function partitionStats(store: ReplicaStore, p: number): Promise<{ keys: number; bytes: number }> {
  let keys = 0;
  let bytes = 0;
  let after: string | null = null;
  do {
    const page: Awaited<ReturnType<ReplicaStore["scan"]>> = await store.scan(p, {
      after,
      limit: COUNT_PAGE_KEYS_MAX,
      keysOnly: false,
      tombstones: false,
    });
    for (const it of page.items) {
      keys++;
      bytes += utf8.encode(it.key).byteLength + it.set.byteLength;
    }
    after = page.next;
  } while (after !== null);
  return { keys, bytes };
}

/** The `kvStats` handler: counts of the partitions asked about. */
export async function onStats(
  body: unknown,
  store: ReplicaStore,
  partitions: number,
): Promise<{ stats: [number, number, number][] }> {
  const o = obj(body, "kvStats");
  const list = o["partitions"];
  if (!Array.isArray(list) || list.length > STATS_PARTITIONS_MAX) {
    throw new MeshkvError("PROTOCOL_ERROR", "kvStats needs partitions: an array of partition numbers");
  }
  const stats: [number, number, number][] = [];
  for (const p of list) {
    if (!Number.isInteger(p) || p < 0 || p >= partitions) {
      throw new MeshkvError("PROTOCOL_ERROR", `kvStats: no partition ${String(p)}`);
    }
    const s = await partitionStats(store, p as number);
    stats.push([p as number, s.keys, s.bytes]);
  }
  return { stats };
}

function statsList(o: Record<string, unknown>, partitions: number): [number, number, number][] {
  const list = o["stats"];
  if (!Array.isArray(list)) throw new MeshkvError("PROTOCOL_ERROR", "kvStats reply needs stats");
  return list.map((row) => {
    if (!Array.isArray(row) || row.length !== 3) {
      throw new MeshkvError("PROTOCOL_ERROR", "kvStats reply rows are [p, keys, bytes]");
    }
    const r = { p: row[0], k: row[1], b: row[2] };
    return [int(r, "p", 0, partitions - 1), int(r, "k"), int(r, "b")] as [number, number, number];
  });
}
