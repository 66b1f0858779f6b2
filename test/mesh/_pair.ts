/**
 * Test support: meshes on a simulated network with a manual clock, so link tests are fast and exact.
 */
import { pureAuthenticator } from "../../src/mesh/auth.ts";
import { Mesh, type MeshOptions } from "../../src/mesh/mesh.ts";
import { SimNetwork } from "../../src/testing/sim_net.ts";
import { ManualClock, SeededRandom } from "../../src/runtime/memory.ts";
import type { RunningServer, TcpListener } from "../../src/runtime/types.ts";

export interface World {
  clock: ManualClock;
  net: SimNetwork;
  random: SeededRandom;
  logs: string[];
  /** With `tcp`, the mesh also listens on a plain-TCP port (`tcpListener`) and announces it. */
  add(
    id: string,
    over?: Partial<MeshOptions> & { secret?: string; tcp?: boolean },
  ): Promise<{ mesh: Mesh; server: RunningServer; address: string; tcp: TcpListener | null }>;
}

export function world(seed = 1): World {
  const clock = new ManualClock();
  const random = new SeededRandom(seed);
  const net = new SimNetwork({ clock, random: random.fork() });
  const logs: string[] = [];
  return {
    clock,
    net,
    random,
    logs,
    async add(id, over = {}) {
      const { secret = "s3cret", tcp: withTcp = false, ...rest } = over;
      const mesh = new Mesh({
        nodeId: id,
        cluster: "test",
        datacenter: "dc1",
        runtime: {
          clock,
          dial: (url, o) => net.dial(id, url, o),
          dialTcp: (host, port, o) => net.dialTcp(id, host, port, o),
        },
        random: random.fork(),
        auth: pureAuthenticator(secret),
        log: (level, message) => logs.push(`${id} ${level} ${message}`),
        ...rest,
      });
      const server = await net.serve(id, {
        hostname: id,
        port: 7000,
        fetch: () => new Response("ok"),
        websocket: mesh.websocket(),
      });
      const address = `${id}:7000`;
      mesh.setSelfAddress(address);
      const tcp = withTcp ? await net.listenTcp(id, { hostname: id, port: 0, ...mesh.tcpListener() }) : null;
      if (tcp) mesh.setTcpPort(tcp.port);
      return { mesh, server, address, tcp };
    },
  };
}
