/**
 * Assembling a node: the one function that puts the parts of a running node together, used by `meshkv start`
 * (and through it `meshkv dev`) on a real runtime and by the deterministic simulation on a simulated one, so
 * the simulation runs the same wiring users run (DESIGN.md §1: `src/cli/` assembles a node).
 *
 * The order matters and is the same everywhere: open the replicated backend (replica store and hint store on
 * the data directory), build the HTTP app over it, start the cluster node (one server for the client API and
 * the mesh, gossip on top), then attach the backend to the node's mesh and gossip. A node assembled without
 * `kv` has only membership (the gossip simulations); it serves no client API.
 */
import { type ClusterBackend, type ClusterBackendOptions, openClusterBackend } from "../cluster/cluster_backend.ts";
import { type ClusterNode, type ClusterNodeOptions, startClusterNode } from "../cluster/node.ts";
import type { TimingPreset } from "../cluster/presets.ts";
import { type AppOptions, createApp, fetchHandler } from "../http/app.ts";
import type { AuthConfig } from "../http/auth.ts";
import type { FileSystem, Random, Runtime, ServeOptions } from "../runtime/types.ts";

export interface AssembleOptions {
  runtime: Runtime;
  /** Seeded source for everything the node draws: the backend (if any) and the node each get a fork, in that order. */
  random: Random;
  nodeId: string;
  datacenter: string;
  rack?: string;
  /** Timers of gossip, mesh and replication together (`presets.ts`). */
  timings: TimingPreset;
  /** Membership, mesh and server settings (`startClusterNode`); timers come from `timings`. */
  node: Omit<ClusterNodeOptions, "runtime" | "id" | "datacenter" | "rack" | "random" | "gossip" | "mesh" | "fetch">;
  /** The replicated backend and its client API; absent for a membership-only node. */
  kv?: {
    /** The disk the stores use (default the runtime's; the simulation passes a disk it can cut off at a crash). */
    fs?: FileSystem;
    dir: string;
    options: Omit<
      ClusterBackendOptions,
      "fs" | "dir" | "clock" | "random" | "nodeId" | "datacenter" | "rack" | "timings"
    >;
    /** Client API authentication (null: open, loopback only). */
    auth: AuthConfig | null;
    /** Request body deadlines and minimum rate (tuning knobs; defaults in src/http/limits.ts). */
    bodyLimits?: AppOptions["bodyLimits"];
  };
}

export interface AssembledNode {
  readonly nodeId: string;
  readonly cluster: ClusterNode;
  /** Null for a membership-only node. */
  readonly backend: ClusterBackend | null;
  /** The client API's handler (the Hono app), null for a membership-only node. */
  readonly fetch: ServeOptions["fetch"] | null;
}

export async function assembleNode(o: AssembleOptions): Promise<AssembledNode> {
  const rt = o.runtime;
  const rack = o.rack === undefined ? {} : { rack: o.rack };
  const backend = o.kv === undefined ? null : await openClusterBackend({
    ...o.kv.options,
    fs: o.kv.fs ?? rt.fs,
    dir: o.kv.dir,
    clock: rt.clock,
    random: o.random.fork(),
    nodeId: o.nodeId,
    datacenter: o.datacenter,
    timings: o.timings.cluster,
    ...rack,
    cpuSeconds: () => rt.cpuSeconds(),
  });
  let cluster: ClusterNode | null = null;
  const app = backend === null || o.kv === undefined ? null : createApp({
    nodeId: o.nodeId,
    runtime: rt.name,
    runtimeVersion: rt.version,
    backend,
    auth: o.kv.auth,
    clock: rt.clock,
    members: () => cluster?.gossip.members() ?? [],
    ...(o.kv.bodyLimits === undefined ? {} : { bodyLimits: o.kv.bodyLimits }),
  });
  const fetch: ServeOptions["fetch"] | null = app === null
    ? null
    : fetchHandler(app, { hot: rt.env("MESHKV_HTTP") !== "hono" });
  try {
    cluster = await startClusterNode({
      ...o.node,
      runtime: rt,
      id: o.nodeId,
      datacenter: o.datacenter,
      ...rack,
      random: o.random.fork(),
      gossip: o.timings.gossip,
      mesh: o.timings.mesh,
      ...(fetch === null ? {} : { fetch }),
    });
  } catch (err) {
    await backend?.close();
    throw err;
  }
  backend?.attach(cluster);
  return { nodeId: o.nodeId, cluster, backend, fetch };
}
