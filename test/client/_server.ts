/**
 * Real nodes on loopback for SDK tests: `startNode` from src/cli/start.ts, the code `meshkv start` runs (the
 * replicated backend on a data directory of the real file system, the runtime's own HTTP server, the mesh and
 * gossip), in this process. Several endpoints are nodes of one cluster of at least three, each holding every
 * key (`--replicas` = the number of nodes) at the default levels (quorum): a write through one endpoint is read
 * and watched through another, and with one endpoint stopped the others still meet quorum.
 */
import { START_FLAGS, type StartedNode, startNode as startRealNode } from "../../src/cli/start.ts";
import { applyDefaults } from "../../src/cli/args.ts";
import type { AuthConfig } from "../../src/http/auth.ts";
import type { FlagValues } from "../../src/cli/args.ts";
import { eventually, realRuntime, tempDir } from "../_helpers.ts";

export interface TestNode {
  /** One URL per endpoint asked for, in start order (a two-endpoint cluster has a third node behind them). */
  urls: string[];
  nodes: StartedNode[];
  /** Stops the node behind one endpoint (the others keep serving its data: they hold every key). */
  closeEndpoint(url: string): Promise<void>;
  /** `GET /v1/admin/status` of the node behind `url` (the first one by default). */
  status(url?: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startNode(options: { endpoints?: number; auth?: AuthConfig } = {}): Promise<TestNode> {
  const rt = await realRuntime();
  const endpoints = options.endpoints ?? 1;
  const count = endpoints === 1 ? 1 : Math.max(3, endpoints);
  const root = await tempDir(rt.fs, "sdk");
  const admin = options.auth?.tokens.find((t) => t.scope === "admin")?.token;
  const flagsFor = (i: number, seeds: string[]): FlagValues =>
    applyDefaults({
      id: `n${i + 1}`,
      host: "127.0.0.1",
      port: 0,
      data: `${root}/n${i + 1}`,
      "mesh-preset": "fast",
      durability: "always",
      replicas: count,
      partitions: 16,
      secret: "sdk-test-secret",
      tokens: (options.auth?.tokens ?? []).map((t) => `${t.scope}:${t.token}`),
      ...(seeds.length > 0 ? { seeds } : {}),
    }, START_FLAGS);
  const nodes: StartedNode[] = [];
  const closed = new Set<StartedNode>();
  const stop = async (n: StartedNode) => {
    if (closed.has(n)) return;
    closed.add(n);
    await n.stop();
  };
  try {
    for (let i = 0; i < count; i++) {
      const seeds = i === 0 ? [] : [nodes[0]!.url.replace(/^https?:\/\//, "")];
      nodes.push(await startRealNode(rt, flagsFor(i, seeds), { label: `n${i + 1}`, warn: false }));
    }
    // As `meshkv dev` waits: every node sees every other alive, answers /health, and has pulled the partitions
    // it gained (until then its replies do not count toward a quorum, so a read right away could fail).
    const ready = async () => {
      for (const n of nodes) {
        if ([...n.cluster.gossip.table.values()].filter((m) => m.status === "alive").length !== count) return false;
        const health = await fetch(`${n.url}/health`);
        await health.body?.cancel();
        if (health.status !== 200) return false;
        const res = await fetch(
          `${n.url}/v1/admin/status`,
          admin ? { headers: { authorization: `Bearer ${admin}` } } : {},
        );
        const rebalance =
          ((await res.json()) as { rebalance?: { acquiring?: unknown[]; handingOff?: unknown[] } }).rebalance;
        if ((rebalance?.acquiring?.length ?? 0) + (rebalance?.handingOff?.length ?? 0) > 0) return false;
      }
      return true;
    };
    await eventually(ready, 15_000, 20, `${count} real nodes to form a cluster and serve`);
  } catch (err) {
    for (const n of nodes) await stop(n);
    throw err;
  }
  const byUrl = (url: string) => nodes.find((n) => n.url === url)!;
  return {
    nodes,
    urls: nodes.slice(0, endpoints).map((n) => n.url),
    closeEndpoint: (url) => stop(byUrl(url)),
    async status(url = nodes[0]!.url) {
      const res = await fetch(`${url}/v1/admin/status`, admin ? { headers: { authorization: `Bearer ${admin}` } } : {});
      return (await res.json()) as Record<string, unknown>;
    },
    async close() {
      for (const n of nodes) await stop(n);
      await rt.fs.remove(root, { recursive: true });
    },
  };
}
