/**
 * A running cluster node: one server for the client API and the mesh (same port, path `/mesh`), a plain-TCP
 * listener that peers move their mesh links to (`meshPort`), the mesh, and
 * gossip membership on top. `assembleNode` (src/cli/assemble.ts) builds one for `meshkv start` on the real
 * runtime and many for the simulation on a simulated network; the replicated backend then registers its
 * handlers on `node.mesh` and reads `node.gossip` for the member table.
 */
import type { Authenticator } from "../mesh/auth.ts";
import type { Logger } from "../mesh/link.ts";
import { Mesh } from "../mesh/mesh.ts";
import type { RegionDelays } from "../mesh/regions.ts";
import type { MeshSettings } from "../mesh/settings.ts";
import type { Random, RunningServer, Runtime, ServeOptions } from "../runtime/types.ts";
import { Gossip } from "./gossip.ts";
import type { GossipSettings } from "./settings.ts";

export interface ClusterNodeOptions {
  runtime: Runtime;
  id: string;
  /** Address to listen on. */
  host: string;
  /** Port for the client API and the mesh (0 picks one). */
  port: number;
  /**
   * Port for mesh traffic over plain TCP (`Runtime.listenTcp`), announced to peers, which then move their links
   * to it (cheaper per message than the WebSocket on `port`); 0 (the default) picks a free one; null keeps the
   * mesh on the WebSocket only. Not used with `tls` or on a runtime without `listenTcp`.
   */
  meshPort?: number | null;
  /** `host:port` peers should dial (default: host and the port listened on; `0.0.0.0` becomes 127.0.0.1). */
  advertise?: string;
  /** Nodes only talk to nodes of the same cluster name (default "meshkv"). */
  cluster?: string;
  secret?: string;
  auth?: Authenticator;
  datacenter?: string;
  rack?: string;
  capacity?: number;
  /** `host:port` of nodes to join through; a host name is resolved to every address it has (`resolveHost`). */
  seeds?: readonly string[];
  /** What a seed's host name resolves to (default: the runtime's `resolveHost`; the simulation has its own). */
  resolveHost?: (host: string) => Promise<string[]>;
  incarnation?: number;
  /** When this node's data directory was created (ms since the epoch; see `MemberInfo.since`). */
  since?: number;
  gossip?: Partial<GossipSettings>;
  mesh?: Partial<MeshSettings>;
  regionDelays?: RegionDelays;
  /**
   * Serve HTTPS and the mesh over `wss://` with this certificate and key (PEM), and dial peers over `wss://`,
   * trusting `ca` (PEM) besides the system's CAs. Every node of a cluster must use TLS or none.
   */
  tls?: { cert: string; key: string; ca?: string };
  random?: Random;
  /** The HTTP handler served on the same port (the Hono app); 404 when absent. */
  fetch?: ServeOptions["fetch"];
  log?: Logger;
}

export interface ClusterNode {
  readonly id: string;
  /** `http://host:port` (`https://` with TLS) of the client API. */
  readonly url: string;
  /** `host:port` peers dial. */
  readonly address: string;
  readonly mesh: Mesh;
  readonly gossip: Gossip;
  /** Leaves gracefully (peers see `left`), then closes links and the server. */
  stop(): Promise<void>;
  /** Stops at once without telling peers (they must detect it). */
  kill(): Promise<void>;
}

export async function startClusterNode(o: ClusterNodeOptions): Promise<ClusterNode> {
  const rt = o.runtime;
  const random = o.random ?? rt.random();
  const mesh = new Mesh({
    nodeId: o.id,
    cluster: o.cluster ?? "meshkv",
    datacenter: o.datacenter ?? "dc1",
    runtime: rt,
    random: random.fork(),
    ...(o.secret === undefined ? {} : { secret: o.secret }),
    ...(o.auth === undefined ? {} : { auth: o.auth }),
    ...(o.mesh === undefined ? {} : { settings: o.mesh }),
    ...(o.regionDelays === undefined ? {} : { regionDelays: o.regionDelays }),
    ...(o.tls === undefined ? {} : { tls: true, ...(o.tls.ca === undefined ? {} : { ca: o.tls.ca }) }),
    ...(o.log === undefined ? {} : { log: o.log }),
  });
  const fetch = o.fetch ??
    (() => new Response(JSON.stringify({ error: { code: "NOT_FOUND", message: "No route" } }), { status: 404 }));
  const server: RunningServer = await rt.serve({
    hostname: o.host,
    port: o.port,
    fetch,
    websocket: mesh.websocket(),
    ...(o.tls === undefined ? {} : { tls: { cert: o.tls.cert, key: o.tls.key } }),
  });
  const meshPort = o.meshPort === undefined ? 0 : o.meshPort;
  const tcp = meshPort === null || o.tls !== undefined || rt.listenTcp === undefined
    ? null
    : await rt.listenTcp({ hostname: o.host, port: meshPort, ...mesh.tcpListener() }).catch(async (err) => {
      await server.close();
      throw err;
    });
  if (tcp !== null) mesh.setTcpPort(tcp.port);
  const host = server.hostname === "0.0.0.0" || server.hostname === "::" ? "127.0.0.1" : server.hostname;
  const address = o.advertise ?? `${host.includes(":") ? `[${host}]` : host}:${server.port}`;
  mesh.setSelfAddress(address);
  const resolve = o.resolveHost ?? (rt.resolveHost === undefined ? undefined : (host: string) => rt.resolveHost!(host));
  const gossip = new Gossip({
    mesh,
    clock: rt.clock,
    random: random.fork(),
    self: {
      id: o.id,
      address,
      datacenter: o.datacenter ?? "dc1",
      capacity: o.capacity ?? 1,
      ...(o.rack === undefined ? {} : { rack: o.rack }),
      ...(o.incarnation === undefined ? {} : { incarnation: o.incarnation }),
      ...(o.since === undefined ? {} : { since: o.since }),
    },
    seeds: o.seeds ?? [],
    ...(resolve === undefined ? {} : { resolve }),
    ...(o.gossip === undefined ? {} : { settings: o.gossip }),
    ...(o.log === undefined ? {} : { log: o.log }),
  });
  gossip.start();
  let stopped = false;
  const shut = async (graceful: boolean) => {
    if (stopped) return;
    stopped = true;
    if (graceful) await gossip.leave();
    gossip.stop();
    mesh.close();
    await Promise.all([server.close(), tcp?.close()]);
  };
  return {
    id: o.id,
    url: `${o.tls ? "https" : "http"}://${address}`,
    address,
    mesh,
    gossip,
    stop: () => shut(true),
    kill: () => shut(false),
  };
}
