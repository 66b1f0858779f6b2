/**
 * Gossip and failure-detection settings with their defaults (convention 6), and the replication layer's
 * timings (`ClusterTimings`) with theirs. Faster or slower sets of all timers together are the presets in
 * `presets.ts`.
 */

export interface GossipSettings {
  /** How often a node raises its heartbeat, runs the failure decision and gossips. */
  gossipIntervalMs: number;
  /** Peers each round's digest goes to. */
  fanout: number;
  /** A member whose heartbeat has not risen for this long becomes suspect and is probed. */
  suspicionMs: number;
  /** Deadline of one ping; an indirect probe (ping through a helper) gets twice this. */
  probeTimeoutMs: number;
  /** Helpers asked to ping a suspect on our behalf; the suspect is down only if none reaches it. */
  indirectProbes: number;
  /**
   * How long a node keeps sending one digest per round to a member it considers down, so a member declared
   * down by mistake (or on the far side of a healed partition) hears of it and refutes.
   */
  downGossipMs: number;
}

export const GOSSIP_DEFAULTS: GossipSettings = {
  gossipIntervalMs: 1000,
  fanout: 3,
  suspicionMs: 5000,
  probeTimeoutMs: 1000,
  indirectProbes: 3,
  downGossipMs: 10 * 60_000,
};

export function gossipSettings(over: Partial<GossipSettings> = {}): GossipSettings {
  const s = { ...GOSSIP_DEFAULTS, ...over };
  for (const [k, v] of Object.entries(s)) {
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
      throw new RangeError(`Gossip setting ${k} must be a positive number: got ${String(v)}`);
    }
  }
  if (!Number.isInteger(s.fanout) || !Number.isInteger(s.indirectProbes)) {
    throw new RangeError("fanout and indirectProbes must be whole numbers");
  }
  return s;
}

/**
 * How long after a crash every live node in a cluster of `size` has declared it down: the last heartbeat
 * takes up to about 2·log2(size) rounds to reach everyone, then it must stall for `suspicionMs`, the next round
 * starts the probe, the probe takes up to two ping deadlines, and the round after applies its result.
 */
export function failureDetectionBoundMs(s: GossipSettings, size: number): number {
  const spread = 2 * Math.ceil(Math.log2(Math.max(2, size)));
  return s.suspicionMs + 2 * s.probeTimeoutMs + s.gossipIntervalMs * (3 + spread);
}

export interface ClusterTimings {
  /** Deadline of a whole client request. Default 5000. */
  requestTimeoutMs: number;
  /** Deadline of one replica's answer. Default 2000. */
  replicaTimeoutMs: number;
  /** One anti-entropy exchange per interval. Default 1000. */
  antiEntropyIntervalMs: number;
  /** Hint delivery rounds. Default 200. */
  hintIntervalMs: number;
  /** Partition mover steps. Default 200. */
  moverIntervalMs: number;
  /** The ring must be stable this long before partitions are handed off. Default 2000. */
  settleMs: number;
  /** A deleted key's history is kept at least this long after the delete, and until every replica holds it. Default 1 h. */
  tombstoneGraceMs: number;
  /** Bound on how long a leave waits for its handoff. Default 10 min. */
  leaveTimeoutMs: number;
  /** Rounds of asking new peers for their replication settings (`config_check.ts`). Default 5000. */
  configCheckIntervalMs: number;
}

export const CLUSTER_TIMINGS: ClusterTimings = {
  requestTimeoutMs: 5000,
  replicaTimeoutMs: 2000,
  antiEntropyIntervalMs: 1000,
  hintIntervalMs: 200,
  moverIntervalMs: 200,
  settleMs: 2000,
  tombstoneGraceMs: 3_600_000,
  leaveTimeoutMs: 600_000,
  configCheckIntervalMs: 5000,
};
