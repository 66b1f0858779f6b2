/**
 * Timing presets: the one place that says how fast a node's timers run. A preset sets the gossip and
 * failure-detection timers (`GossipSettings`), the mesh's deadlines and reconnect backoff (`MeshSettings`) and
 * the replication layer's timers (`ClusterTimings`) together, because they only make sense together: a replica
 * deadline shorter than one mesh round trip, or a suspicion window shorter than a gossip round, turns a slow
 * link into a "down" member.
 *
 * - `default`: a production cluster in one region (1 s gossip rounds, 5 s suspicion, 2 s replica deadline).
 * - `fast`: local clusters and tests on one machine, where peers answer in microseconds (a crash is declared
 *   in about two seconds).
 * - `wan`: clusters spread over regions, where a round trip can take 300 ms and a congested link seconds:
 *   longer deadlines and suspicion, so a slow region is not declared down or timed out.
 * `SIMULATION_PRESET` is the deterministic simulation's (fast, with deadlines matched to its simulated links);
 * the CLI does not offer it.
 */
import type { MeshSettings } from "../mesh/settings.ts";
import type { ClusterTimings, GossipSettings } from "./settings.ts";

export interface TimingPreset {
  gossip: Partial<GossipSettings>;
  mesh: Partial<MeshSettings>;
  cluster: Partial<ClusterTimings>;
}

export const GOSSIP_FAST: Partial<GossipSettings> = { gossipIntervalMs: 100, suspicionMs: 800, probeTimeoutMs: 200 };

export const MESH_FAST: Partial<MeshSettings> = {
  handshakeTimeoutMs: 1000,
  connectTimeoutMs: 1000,
  requestTimeoutMs: 1000,
  backoffBaseMs: 50,
  backoffMaxMs: 1000,
};

export const CLUSTER_FAST: Partial<ClusterTimings> = {
  antiEntropyIntervalMs: 50,
  hintIntervalMs: 100,
  moverIntervalMs: 100,
  settleMs: 500,
  configCheckIntervalMs: 500,
};

/** Named presets for the CLI's `--mesh-preset` (append only: operators name them in their configs). */
export const TIMING_PRESETS = {
  default: { gossip: {}, mesh: {}, cluster: {} },
  fast: { gossip: GOSSIP_FAST, mesh: MESH_FAST, cluster: CLUSTER_FAST },
  wan: {
    gossip: { suspicionMs: 10_000, probeTimeoutMs: 2500 },
    mesh: { handshakeTimeoutMs: 10_000, connectTimeoutMs: 6000, requestTimeoutMs: 10_000 },
    cluster: { requestTimeoutMs: 10_000, replicaTimeoutMs: 5000, settleMs: 5000 },
  },
} as const satisfies Record<string, TimingPreset>;

export type PresetName = keyof typeof TIMING_PRESETS;

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(TIMING_PRESETS, name);
}

/** The simulation's timers: `fast`, with deadlines matched to its simulated links of a few ms. */
export const SIMULATION_PRESET: TimingPreset = {
  gossip: GOSSIP_FAST,
  mesh: {
    requestTimeoutMs: 1000,
    handshakeTimeoutMs: 1000,
    connectTimeoutMs: 1000,
    backoffBaseMs: 50,
    backoffMaxMs: 1000,
  },
  cluster: { ...CLUSTER_FAST, requestTimeoutMs: 3000, replicaTimeoutMs: 1000 },
};
