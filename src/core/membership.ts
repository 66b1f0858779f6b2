/**
 * Membership state: the member table, how two tables merge by gossip, and the failure decision.
 *
 * Heartbeat gossip after van Renesse, Minsky and Hayden ("A Gossip-Style Failure Detection Service", 1998)
 * with SWIM's suspicion, incarnations and indirect probes (Das, Gupta and Motivala, "SWIM", DSN 2002;
 * HashiCorp memberlist). Each node raises its own heartbeat every gossip interval and sends its table to a
 * few peers. Merging keeps, per member, the record that ranks highest by
 * `(removed, incarnation, terminal status, heartbeat, status)` where terminal means `down` or `left` (`left`
 * above `down`), then by the remaining fields, so the merge is a join on a total order: commutative,
 * associative and idempotent, and tables converge whatever order gossip arrives in. Only the member itself
 * raises its incarnation: to refute a suspicion or a `down`, and to rejoin after leaving. `removed` (an
 * operator took a dead member out of the ring: `remove`, Riak's `force-remove`, Cassandra's `removenode`)
 * outranks every record whatever its incarnation and is never refuted, so the member can never come back under
 * that id: a process that starts with it learns it from the first table it merges and stops.
 *
 * `decide` is the failure detector as a pure function of (table, now, settings, probe results): a member
 * whose heartbeat has not risen for `suspicionMs`, or that failed a direct probe, becomes `suspect`; it is
 * declared `down` only when an indirect probe (a ping through another node, the second independent source)
 * failed too. A suspect's rising heartbeat clears the suspicion by the merge order itself. The local
 * bookkeeping (`lastHeartbeatChangeAt`, `statusChangedAt`) is never gossiped.
 */
import { MeshkvError } from "../errors.ts";

export const MEMBER_STATUSES = ["alive", "suspect", "down", "left", "removed"] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];
/** Most members a table may hold (bounds gossip payloads and merge work). */
export const MEMBERS_MAX = 1024;

/** What gossip carries about one member. */
export interface MemberInfo {
  readonly id: string;
  readonly address: string;
  readonly datacenter: string;
  readonly rack?: string;
  readonly capacity: number;
  readonly heartbeat: number;
  readonly incarnation: number;
  readonly status: MemberStatus;
  /**
   * When the node's data directory was created (ms since the epoch; absent or 0 for nodes from before it was
   * gossiped). The ring is built by joining members in this order (`ring_view.ts`), so a new node joins last.
   */
  readonly since?: number;
}

/** A member with this node's own bookkeeping. */
export interface Member extends MemberInfo {
  /** When this node last saw the heartbeat or incarnation rise (ms). */
  readonly lastHeartbeatChangeAt: number;
  readonly statusChangedAt: number;
}

export type MemberTable = ReadonlyMap<string, Member>;

export interface FailureSettings {
  /** A member whose heartbeat has not risen for this long is suspect. */
  readonly suspicionMs: number;
}

export type ProbeOutcome = "ok" | "failed";
export interface ProbeResult {
  readonly direct?: ProbeOutcome;
  readonly indirect?: ProbeOutcome;
}

export interface Transition {
  readonly id: string;
  readonly from: MemberStatus;
  readonly to: MemberStatus;
}

export interface Decision {
  readonly table: MemberTable;
  readonly transitions: readonly Transition[];
  /** Suspects to probe through other nodes; only their failure can make them `down`. */
  readonly probeIndirectly: readonly string[];
}

const TERMINAL: Record<MemberStatus, number> = { alive: 0, suspect: 0, down: 1, left: 2, removed: 3 };
const STATUS_RANK: Record<MemberStatus, number> = { alive: 0, suspect: 1, down: 2, left: 3, removed: 4 };

const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Orders two records of one member: positive when `a` wins the merge. Total, so merging converges. */
export function compareMembers(a: MemberInfo, b: MemberInfo): number {
  return (a.status === "removed" ? 1 : 0) - (b.status === "removed" ? 1 : 0) ||
    a.incarnation - b.incarnation ||
    TERMINAL[a.status] - TERMINAL[b.status] ||
    a.heartbeat - b.heartbeat ||
    STATUS_RANK[a.status] - STATUS_RANK[b.status] ||
    cmpStr(a.address, b.address) ||
    cmpStr(a.datacenter, b.datacenter) ||
    cmpStr(a.rack ?? "", b.rack ?? "") ||
    (a.rack === undefined ? 0 : 1) - (b.rack === undefined ? 0 : 1) ||
    a.capacity - b.capacity ||
    (a.since ?? 0) - (b.since ?? 0);
}

/** Only the gossiped fields, in a fixed shape. */
export function toInfo(m: MemberInfo): MemberInfo {
  const info: MemberInfo = {
    id: m.id,
    address: m.address,
    datacenter: m.datacenter,
    capacity: m.capacity,
    heartbeat: m.heartbeat,
    incarnation: m.incarnation,
    status: m.status,
  };
  return { ...info, ...(m.rack === undefined ? {} : { rack: m.rack }), ...(m.since ? { since: m.since } : {}) };
}

function invalid(what: string, value: unknown): MeshkvError {
  return new MeshkvError("INVALID_ARGUMENT", `Malformed member record: ${what}`, { details: { value: String(value) } });
}

/** Checks a record from gossip (untrusted input); INVALID_ARGUMENT names the bad field. */
export function validateMember(value: unknown): MemberInfo {
  if (typeof value !== "object" || value === null) throw invalid("not an object", value);
  const m = value as Record<string, unknown>;
  const text = (k: string, max: number) => {
    if (typeof m[k] !== "string" || (m[k] as string).length > max || (k === "id" && m[k] === "")) {
      throw invalid(k, m[k]);
    }
    return m[k] as string;
  };
  const count = (k: string) => {
    if (!Number.isSafeInteger(m[k]) || (m[k] as number) < 0) throw invalid(k, m[k]);
    return m[k] as number;
  };
  const id = text("id", 128);
  const address = text("address", 256);
  const datacenter = text("datacenter", 64);
  if (m.rack !== undefined) text("rack", 64);
  if (m.since !== undefined) count("since");
  if (typeof m.capacity !== "number" || !(m.capacity > 0) || !Number.isFinite(m.capacity)) {
    throw invalid("capacity", m.capacity);
  }
  const status = m.status;
  if (!(MEMBER_STATUSES as readonly unknown[]).includes(status)) throw invalid("status", status);
  return toInfo({
    id,
    address,
    datacenter,
    capacity: m.capacity,
    heartbeat: count("heartbeat"),
    incarnation: count("incarnation"),
    status: status as MemberStatus,
    ...(m.rack === undefined ? {} : { rack: m.rack as string }),
    ...(m.since === undefined ? {} : { since: m.since as number }),
  });
}

/** A table holding only this node, alive, at `incarnation` (raise it on every restart that lost state). */
export function createTable(
  self: Omit<MemberInfo, "heartbeat" | "status" | "incarnation"> & { incarnation?: number },
  nowMs: number,
): MemberTable {
  const info = validateMember({ ...self, heartbeat: 0, incarnation: self.incarnation ?? 0, status: "alive" });
  return new Map([[info.id, { ...info, lastHeartbeatChangeAt: nowMs, statusChangedAt: nowMs }]]);
}

/** The gossip payload: every member's gossiped fields, sorted by id. */
export function digest(table: MemberTable): MemberInfo[] {
  return [...table.values()].map(toInfo).sort((a, b) => cmpStr(a.id, b.id));
}

function withSelf(
  table: MemberTable,
  selfId: string,
  nowMs: number,
  change: (m: Member) => Partial<MemberInfo>,
): MemberTable {
  const self = table.get(selfId);
  if (!self) throw new RangeError(`Not in the table: ${selfId}`);
  const next = { ...self, ...change(self), lastHeartbeatChangeAt: nowMs };
  return new Map(table).set(selfId, next.status === self.status ? next : { ...next, statusChangedAt: nowMs });
}

/** Raises this node's own heartbeat (once per gossip interval). */
export function tick(table: MemberTable, selfId: string, nowMs: number): MemberTable {
  return withSelf(table, selfId, nowMs, (m) => ({ heartbeat: m.heartbeat + 1 }));
}

/** Marks this node as leaving gracefully; gossip spreads it and `left` outranks `down`. */
export function leave(table: MemberTable, selfId: string, nowMs: number): MemberTable {
  return withSelf(table, selfId, nowMs, (m) => ({ status: "left", heartbeat: m.heartbeat + 1 }));
}

/**
 * Takes member `id` out of the ring for good (an operator's `remove` of a dead node). The caller checks that
 * it is not this node and not alive; `removed` wins every merge, so the whole cluster converges on it.
 */
export function remove(table: MemberTable, id: string, nowMs: number): MemberTable {
  const m = table.get(id);
  if (!m) throw new RangeError(`Not in the table: ${id}`);
  if (m.status === "removed") return table;
  return new Map(table).set(id, { ...m, status: "removed", heartbeat: m.heartbeat + 1, statusChangedAt: nowMs });
}

/** Comes back after leaving or being declared down: a higher incarnation outranks every older record. */
export function rejoin(table: MemberTable, selfId: string, nowMs: number): MemberTable {
  return withSelf(table, selfId, nowMs, (m) => ({ status: "alive", incarnation: m.incarnation + 1, heartbeat: 0 }));
}

/**
 * Merges a peer's digest into the local table. When `selfId` is given and the peer holds a record of this
 * node that would win (a suspicion, a `down`), this node refutes it by taking a higher incarnation.
 */
export function mergeTables(
  local: MemberTable,
  remote: readonly MemberInfo[],
  nowMs: number,
  selfId?: string,
): MemberTable {
  if (remote.length > MEMBERS_MAX || local.size > MEMBERS_MAX) {
    throw new MeshkvError(
      "LIMIT_EXCEEDED",
      `Member table over membersMax: ${Math.max(remote.length, local.size)} > ${MEMBERS_MAX}`,
    );
  }
  const out = new Map(local);
  for (const theirs of remote) {
    const mine = out.get(theirs.id);
    if (mine && compareMembers(theirs, mine) <= 0) continue;
    // A member that was removed does not refute it: it takes the record, and its process stops (`gossip.ts`).
    if (mine && theirs.id === selfId && theirs.status !== "removed") {
      out.set(selfId, { ...mine, incarnation: theirs.incarnation + 1, lastHeartbeatChangeAt: nowMs });
      continue;
    }
    const risen = !mine || theirs.heartbeat !== mine.heartbeat || theirs.incarnation !== mine.incarnation;
    // `since` is fixed for a node's life (a node that lost its disk gets a later one), and nodes from before it
    // was gossiped relay records without it: keep the latest seen, so the ring's join order does not flap.
    const since = Math.max(theirs.since ?? 0, mine?.since ?? 0);
    out.set(theirs.id, {
      ...toInfo(theirs),
      ...(since > 0 ? { since } : {}),
      lastHeartbeatChangeAt: risen ? nowMs : mine.lastHeartbeatChangeAt,
      statusChangedAt: !mine || mine.status !== theirs.status ? nowMs : mine.statusChangedAt,
    });
  }
  if (out.size > MEMBERS_MAX) {
    throw new MeshkvError("LIMIT_EXCEEDED", `Member table over membersMax: ${out.size} > ${MEMBERS_MAX}`);
  }
  return out;
}

/**
 * The failure decision at `nowMs`. `probes` holds this round's probe results by member id. Never changes
 * `selfId`, `down`, `left` or `removed` members.
 */
export function decide(
  table: MemberTable,
  selfId: string,
  nowMs: number,
  settings: FailureSettings,
  probes: ReadonlyMap<string, ProbeResult> = new Map(),
): Decision {
  if (!(settings.suspicionMs > 0)) throw new RangeError(`suspicionMs must be positive: ${settings.suspicionMs}`);
  const out = new Map(table);
  const transitions: Transition[] = [];
  const probeIndirectly: string[] = [];
  for (const m of table.values()) {
    if (m.id === selfId || m.status === "down" || m.status === "left" || m.status === "removed") continue;
    const probe = probes.get(m.id) ?? {};
    const stalled = nowMs - m.lastHeartbeatChangeAt >= settings.suspicionMs;
    const suspicious = m.status === "suspect" || stalled || probe.direct === "failed";
    if (!suspicious) continue;
    const to: MemberStatus = probe.indirect === "failed" ? "down" : "suspect";
    if (to !== m.status) {
      out.set(m.id, { ...m, status: to, statusChangedAt: nowMs });
      transitions.push({ id: m.id, from: m.status, to });
    }
    if (to === "suspect") probeIndirectly.push(m.id);
  }
  return { table: out, transitions, probeIndirectly: probeIndirectly.sort() };
}

/** Members believed unreachable (`down`, `left` or `removed`): the `down` set placement's `targets` takes. */
export function downSet(table: MemberTable): Set<string> {
  const out = new Set<string>();
  for (const m of table.values()) {
    if (m.status === "down" || m.status === "left" || m.status === "removed") out.add(m.id);
  }
  return out;
}

/** A member as the admin API shows it. */
export interface MemberView extends MemberInfo {
  self: boolean;
  /** Since this node last saw the member's heartbeat rise. */
  lastHeartbeatAgoMs: number;
  /** Since the member's status last changed in this node's table. */
  statusAgeMs: number;
}

/** The members of `table` as the admin API shows them, sorted by id; ages are measured from `nowMs` (monotonic). */
export function memberViews(table: MemberTable, selfId: string, nowMs: number): MemberView[] {
  return [...table.values()]
    .map((m) => ({
      id: m.id,
      address: m.address,
      datacenter: m.datacenter,
      ...(m.rack === undefined ? {} : { rack: m.rack }),
      capacity: m.capacity,
      heartbeat: m.heartbeat,
      incarnation: m.incarnation,
      status: m.status,
      ...(m.since ? { since: m.since } : {}),
      self: m.id === selfId,
      lastHeartbeatAgoMs: Math.round(nowMs - m.lastHeartbeatChangeAt),
      statusAgeMs: Math.round(nowMs - m.statusChangedAt),
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
