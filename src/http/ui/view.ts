/**
 * What the dashboard shows, read out of the backend's loosely typed `status()` and `ring()` answers into one
 * typed view. The backend's status is a `Record<string, unknown>` (its fields grow with the cluster code), so
 * every field is read defensively: one the node does not report yet shows as "not reported", never as a crash.
 */
import type { KvBackend, MemberInfo } from "../../kv/backend.ts";
import type { PeerTraffic } from "./peers.ts";
import type { TrafficSample } from "./samples.ts";

export interface MemberRow {
  id: string;
  address: string;
  datacenter: string;
  rack: string | null;
  status: string;
  incarnation: number;
  heartbeatAgoMs: number | null;
  self: boolean;
}

export interface HintRow {
  target: string;
  pending: number;
  bytes: number;
  oldestMs: number | null;
}

export interface DashboardView {
  nodeId: string;
  runtime: string;
  version: string;
  ready: boolean;
  uptimeMs: number | null;
  /** Ring partitions in order, each with its owner (the first replica) and replicas; empty before joining. */
  partitions: { owner: string; replicas: string[] }[];
  replicas: number | null;
  ringEpoch: number | null;
  members: MemberRow[];
  /** Member ids in a stable order: the colour of each on the ring. */
  palette: string[];
  hints: { pending: number; bytes: number; delivered: number; perTarget: HintRow[] } | null;
  /** Per ring partition this node replicates: when it last exchanged with every peer (epoch ms), or null. */
  antiEntropy: {
    exchanges: number;
    keysRepaired: number;
    failures: number;
    partitions: { partition: number; syncedAtMs: number | null }[];
  } | null;
  moves: { acquiring: number[]; handingOff: number[]; keysPulled: number; keysHandedOff: number } | null;
  /** Tombstones waiting for purge, when the node reports them. */
  tombstones: Record<string, unknown> | null;
  signature: string | null;
  configMismatches: { node: string; theirs: string }[];
  traffic: TrafficSample[];
  /** The other alive members' traffic (filled in by the route, which fetches it); empty when not fetched. */
  peers: PeerTraffic[];
  nowMs: number;
  /** `http:` or `https:`: how this page was reached, so links to the other members' dashboards use the same. */
  scheme: string;
}

const rec = (
  v: unknown,
):
  | Record<string, unknown>
  | null => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const nums = (v: unknown): number[] => (Array.isArray(v) ? v.filter((x): x is number => typeof x === "number") : []);

export interface Gathered {
  status: Record<string, unknown>;
  ring: Record<string, unknown>;
  members: readonly MemberInfo[];
}

export async function gather(backend: KvBackend): Promise<Gathered> {
  const [status, ring, members] = await Promise.all([backend.status(), backend.ring(), backend.members()]);
  return { status, ring, members };
}

export function buildView(
  g: Gathered,
  node: { nodeId: string; runtime: string; version: string; scheme: string },
  traffic: TrafficSample[],
  nowMs: number,
): DashboardView {
  const s = g.status;
  const owners = Array.isArray(g.ring.owners) ? g.ring.owners : [];
  const partitions = owners.map((o) => {
    const r = rec(o);
    return {
      owner: str(r?.owner) ?? "?",
      replicas: Array.isArray(r?.nodes) ? r.nodes.filter((n): n is string => typeof n === "string") : [],
    };
  });
  const members: MemberRow[] = g.members.map((m) => {
    const extra = m as unknown as Record<string, unknown>;
    return {
      id: m.id,
      address: m.address,
      datacenter: m.datacenter,
      rack: m.rack ?? null,
      status: m.status,
      incarnation: m.incarnation,
      heartbeatAgoMs: num(extra.lastHeartbeatAgoMs),
      self: extra.self === true || m.id === node.nodeId,
    };
  }).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const palette = [...new Set([...members.map((m) => m.id), ...partitions.map((p) => p.owner)])].sort();
  return {
    ...node,
    ready: s.ready === true,
    uptimeMs: num(s.uptimeMs),
    partitions,
    replicas: num(g.ring.replicas),
    ringEpoch: num(g.ring.epoch),
    members,
    palette,
    hints: hintsOf(rec(s.hints)),
    antiEntropy: antiEntropyOf(rec(s.antiEntropy)),
    moves: movesOf(rec(s.rebalance)),
    tombstones: rec(s.tombstones),
    signature: str(rec(s.replication)?.signature),
    configMismatches: (Array.isArray(s.configMismatches) ? s.configMismatches : []).map((m) => {
      const r = rec(m);
      return {
        node: str(r?.node) ?? "?",
        theirs: typeof r?.theirs === "string" ? r.theirs : JSON.stringify(r?.theirs ?? null),
      };
    }),
    traffic,
    peers: [],
    nowMs,
  };
}

function hintsOf(h: Record<string, unknown> | null): DashboardView["hints"] {
  if (!h) return null;
  const per = rec(h.perTarget) ?? {};
  return {
    pending: num(h.pending) ?? 0,
    bytes: num(h.bytes) ?? 0,
    delivered: num(h.delivered) ?? 0,
    perTarget: Object.entries(per).map(([target, t]) => ({
      target,
      pending: num(rec(t)?.pending) ?? 0,
      bytes: num(rec(t)?.bytes) ?? 0,
      oldestMs: num(rec(t)?.oldestMs),
    })),
  };
}

function antiEntropyOf(a: Record<string, unknown> | null): DashboardView["antiEntropy"] {
  if (!a) return null;
  const parts = Object.entries(rec(a.partitions) ?? {}).map(([p, v]) => {
    // A partition is in sync as of the oldest of its last exchanges with each peer.
    const peers = Object.values(rec(rec(v)?.peers) ?? {}).map(num).filter((x): x is number => x !== null);
    return { partition: Number(p), syncedAtMs: peers.length > 0 ? Math.min(...peers) : null };
  }).filter((p) => Number.isInteger(p.partition)).sort((x, y) => x.partition - y.partition);
  return {
    exchanges: num(a.exchanges) ?? 0,
    keysRepaired: num(a.keysRepaired) ?? 0,
    failures: num(a.failures) ?? 0,
    partitions: parts,
  };
}

function movesOf(r: Record<string, unknown> | null): DashboardView["moves"] {
  if (!r) return null;
  return {
    acquiring: nums(r.acquiring),
    handingOff: nums(r.handingOff),
    keysPulled: num(r.keysPulled) ?? 0,
    keysHandedOff: num(r.keysHandedOff) ?? 0,
  };
}
