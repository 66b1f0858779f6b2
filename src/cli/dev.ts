/**
 * `meshkv dev`: a three-region cluster in one process, for trying meshkv and developing against it. It calls
 * `startNode` (the same code as `meshkv start`) three times, once per emulated region, with the fast gossip
 * preset and realistic one-way delays between the regions (`src/mesh/regions.ts`), waits until every node sees
 * the other two alive in gossip, answers `/health` and has pulled its partitions, and prints the endpoints, an SDK snippet and curl lines. Node ids are fixed
 * and each node keeps its data under `<data>/<id>`, so a restart on the same directory brings back the same
 * cluster with its data. SIGINT or SIGTERM stops the nodes one by one (each leaves gracefully).
 */
import { MeshkvError } from "../errors.ts";
import { parseRegionDelays } from "../mesh/regions.ts";
import type { Runtime } from "../runtime/types.ts";
import { type FlagTable, type FlagValues, helpText, parseFlags } from "./args.ts";
import { START_FLAGS, type StartedNode, startNode } from "./start.ts";

/** The three nodes, in start order; the first is every other node's seed. */
export const DEV_NODES = [
  { id: "us-east-1", datacenter: "us-east" },
  { id: "eu-west-1", datacenter: "eu-west" },
  { id: "ap-south-1", datacenter: "ap-south" },
] as const;

/** One-way delays in ms, roughly half the public round trips between Virginia, Ireland and Mumbai. */
export const DEV_REGION_DELAYS = "us-east|eu-west=40,us-east|ap-south=95,eu-west|ap-south=60";

/** One replica per region, passed when `meshkv start` has a `--replication` flag. */
export const DEV_REPLICATION = "us-east:1,eu-west:1,ap-south:1";

/** How long the nodes get to see each other alive before `meshkv dev` gives up. */
export const DEV_READY_TIMEOUT_MS = 30_000;
const DEV_READY_POLL_MS = 50;

export const DEV_FLAGS: FlagTable = {
  port: {
    type: "int",
    description: "Port of the first node; the others take the next two (0: each picks a free one)",
    default: 7400,
    min: 0,
    max: 65533,
  },
  data: {
    type: "string",
    description: "Root data directory: each node keeps its data in DIR/<node id>",
    default: "./data/dev",
  },
  "region-delays": {
    type: "string",
    description: "Emulated one-way delays between the regions in ms",
    default: DEV_REGION_DELAYS,
  },
  "no-delays": { type: "bool", description: "Turn the emulated delays off (every region as if next door)" },
  help: { type: "bool", description: "Show this help" },
};

const SUMMARY = `Run a local three-region cluster in this process until SIGINT or SIGTERM: nodes ${
  DEV_NODES.map((n) => `${n.id} (${n.datacenter})`).join(", ")
}
on --port, --port+1 and --port+2 of 127.0.0.1, with the fast gossip preset and emulated delays between the regions.
A restart on the same --data keeps the data and the node ids.`;

export interface DevNodePlan {
  id: string;
  datacenter: string;
  dir: string;
  /** `meshkv start` flags for this node, without `--seeds` (the first node's address, known once it listens). */
  argv: string[];
}

/** Which nodes to start with which `meshkv start` flags: pure, so the layout is testable without sockets. */
export function planDevCluster(flags: FlagValues, startFlags: FlagTable = START_FLAGS): DevNodePlan[] {
  const root = String(flags.data).replace(/(.)\/+$/, "$1");
  const port = Number(flags.port);
  const delays = flags["no-delays"] === true ? null : String(flags["region-delays"]);
  if (delays !== null) parseRegionDelays(delays); // a bad value fails here, before any node starts
  return DEV_NODES.map(({ id, datacenter }, i) => {
    const dir = `${root}/${id}`;
    const argv = [
      "--id",
      id,
      "--datacenter",
      datacenter,
      "--host",
      "127.0.0.1",
      "--port",
      String(port === 0 ? 0 : port + i),
      "--data",
      dir,
      "--mesh-preset",
      "fast",
    ];
    if (delays !== null && delays !== "") argv.push("--region-delays", delays);
    if ("replication" in startFlags) argv.push("--replication", DEV_REPLICATION);
    return { id, datacenter, dir, argv };
  });
}

/** Ids each node does not (yet) see alive; empty when the cluster is formed. */
function missingAlive(nodes: readonly StartedNode[]): string[] {
  const out: string[] = [];
  for (const node of nodes) {
    const table = node.cluster.gossip.table;
    for (const other of nodes) {
      if (table.get(other.nodeId)?.status !== "alive") out.push(`${node.nodeId} does not see ${other.nodeId}`);
    }
  }
  return out;
}

/** GETs `path` from a node; null when it does not answer 200 with JSON. */
async function getJson(url: string): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(url);
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/**
 * What keeps the cluster from serving every request yet, empty when nothing does: a node that does not see
 * another alive, a node whose `/health` is not 200, or a replicated node still pulling partitions it gained
 * (its replies do not count toward a read quorum until it has them, so reads right after start would fail).
 */
async function notReady(nodes: readonly StartedNode[]): Promise<string[]> {
  const missing = missingAlive(nodes);
  if (missing.length > 0) return missing;
  const out: string[] = [];
  await Promise.all(nodes.map(async (n) => {
    if (!(await getJson(`${n.url}/health`))) return void out.push(`${n.nodeId} is not ready`);
    const status = await getJson(`${n.url}/v1/admin/status`);
    const rebalance = status?.rebalance as { acquiring?: unknown[]; handingOff?: unknown[] } | null | undefined;
    const moving = (rebalance?.acquiring?.length ?? 0) + (rebalance?.handingOff?.length ?? 0);
    if (status === null) out.push(`${n.nodeId} has no status yet`);
    else if (moving > 0) out.push(`${n.nodeId} is moving ${moving} partitions`);
  }));
  return out;
}

async function waitUntilFormed(rt: Runtime, nodes: readonly StartedNode[], stopping: () => boolean): Promise<void> {
  const deadline = rt.clock.monotonic() + DEV_READY_TIMEOUT_MS;
  for (;;) {
    if (stopping()) return;
    const missing = await notReady(nodes);
    if (missing.length === 0) return;
    if (rt.clock.monotonic() > deadline) {
      throw new MeshkvError(
        "TIMEOUT",
        `The dev nodes did not all see each other alive and ready within ${DEV_READY_TIMEOUT_MS} ms: ${
          missing.join(", ")
        }`,
      );
    }
    await rt.clock.sleep(DEV_READY_POLL_MS);
  }
}

/** What a user needs to start: endpoints, an SDK snippet to paste, curl lines. */
export function devBanner(
  rt: Runtime,
  nodes: readonly { nodeId: string; url: string }[],
  plans: readonly DevNodePlan[],
  delays: string | null,
  replicated: boolean,
): string {
  const urls = nodes.map((n) => n.url);
  const lines = [`meshkv dev: a three-region cluster is running in this process (${rt.name} ${rt.version})`];
  nodes.forEach((n, i) =>
    lines.push(`  ${n.nodeId.padEnd(11)} ${plans[i]!.datacenter.padEnd(9)} ${n.url.padEnd(24)} data ${plans[i]!.dir}`)
  );
  lines.push(`  region delays (one-way, ms): ${delays ? delays.replaceAll(",", ", ") : "off"}`);
  lines.push(`meshkv dev: endpoints ${urls.join(" ")}`, "");
  lines.push("SDK (meshkv/client):", "");
  lines.push(`  import { createClient } from "meshkv/client";`);
  lines.push(`  const kv = createClient({ endpoints: [${urls.map((u) => JSON.stringify(u)).join(", ")}] });`);
  lines.push(`  await kv.put("greeting", "hello");`);
  lines.push(`  console.log((await kv.get<string>("greeting"))?.value); // hello`, "");
  // Without replication a value lives only on the node that took the write: read it back there.
  const reader = replicated ? urls[1]! : urls[0]!;
  lines.push("curl:", "");
  // Another key than the SDK's: a second blind write to one key would leave two siblings.
  lines.push(`  curl -X PUT -H 'content-type: text/plain' --data world ${urls[0]}/v1/kv/hello`);
  lines.push(`  curl ${reader}/v1/kv/hello`);
  lines.push(`  curl ${urls[2]}/v1/admin/members`, "");
  lines.push("Stop with Ctrl-C; meshkv dev --data with the same directory brings the cluster back with its data.");
  return lines.join("\n");
}

async function stopAll(nodes: StartedNode[]): Promise<void> {
  let first: unknown = null;
  // Last started first, so the seed stays up to hear the others leave.
  for (const node of [...nodes].reverse()) {
    try {
      await node.stop();
    } catch (err) {
      console.error(`meshkv dev: node ${node.nodeId} did not stop cleanly: ${(err as Error).message}`);
      first ??= err;
    }
  }
  if (first !== null) throw first;
}

/** Runs `meshkv dev`; resolves with the exit status once the nodes stopped after SIGINT or SIGTERM. */
export async function runDev(rt: Runtime, argv: string[]): Promise<number> {
  const { flags, positional } = parseFlags(argv, DEV_FLAGS);
  if (flags.help) {
    console.log(helpText("dev", SUMMARY, DEV_FLAGS));
    return 0;
  }
  if (positional.length > 0) {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `meshkv dev takes no arguments: got ${JSON.stringify(positional[0])} (see meshkv dev --help)`,
    );
  }
  const plans = planDevCluster(flags);
  let stopping = false;
  let wake = () => {};
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  const onStop = () => {
    stopping = true;
    wake();
  };
  const removers = [rt.onSignal("SIGINT", onStop), rt.onSignal("SIGTERM", onStop)];
  const nodes: StartedNode[] = [];
  try {
    for (const plan of plans) {
      if (stopping) break;
      const seeds = nodes[0] ? ["--seeds", nodes[0].cluster.address] : [];
      nodes.push(
        await startNode(rt, parseFlags([...plan.argv, ...seeds], START_FLAGS).flags, {
          label: plan.id,
          warn: nodes.length === 0,
        }),
      );
    }
    await waitUntilFormed(rt, nodes, () => stopping);
    if (!stopping) {
      const delays = flags["no-delays"] === true ? null : String(flags["region-delays"]);
      console.log(devBanner(rt, nodes, plans, delays, "replication" in START_FLAGS));
      await stopped;
    }
  } finally {
    for (const remove of removers) remove();
    await stopAll(nodes);
  }
  console.log(`meshkv dev: stopped ${nodes.map((n) => n.nodeId).join(", ")}`);
  return 0;
}
