/**
 * Gossip and failure-detection settings with their defaults (convention 6). `GOSSIP_FAST` is for tests and
 * local clusters: a crash is declared within about two seconds instead of about ten.
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

export const GOSSIP_FAST: Partial<GossipSettings> = {
  gossipIntervalMs: 100,
  suspicionMs: 800,
  probeTimeoutMs: 200,
};

/** Named presets for the CLI's `--mesh-preset`. */
export const PRESETS = { default: {}, fast: GOSSIP_FAST } as const;
export type PresetName = keyof typeof PRESETS;

export function gossipSettings(over: Partial<GossipSettings> = {}): GossipSettings {
  const s = { ...GOSSIP_DEFAULTS, ...over };
  for (const [k, v] of Object.entries(s)) {
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new RangeError(`Gossip setting ${k} must be a positive number: got ${String(v)}`);
  }
  if (!Number.isInteger(s.fanout) || !Number.isInteger(s.indirectProbes)) throw new RangeError("fanout and indirectProbes must be whole numbers");
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
