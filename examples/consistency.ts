/**
 * Per-request consistency. Every read and write can choose how many replicas must answer before the node
 * replies: `one` (fastest, may read a stale replica), `quorum` (a majority: with W + R > N a read sees every
 * acknowledged write), `all` (every replica, fails when any is down), the `local_*` and `each_quorum` levels
 * for multi-datacenter clusters, or an explicit count (`{ r: 2 }` for reads, `{ w: 2 }` for writes). A client
 * sets a default in createClient; each call can override it.
 *
 * On a single node (N = 1) every named level means "this one node", so they all succeed; an explicit count
 * above 1 can never be met there and the node refuses it up front with INVALID_ARGUMENT (a cluster with a
 * replica down answers QUORUM_UNMET instead, HTTP 503).
 *
 *   npx meshkv start --data ./data/demo
 *   node --import tsx examples/consistency.ts   # or: deno run -A ..., bun examples/consistency.ts
 */
import { type Consistency, createClient, isMeshkvClientError } from "../src/client/mod.ts";
import { clientOptions, endpoint, run } from "./_env.ts";

const kv = createClient({ ...clientOptions(), consistency: "quorum" }); // the default for every call
const key = `consistency/${run}/profile`;
console.log(`Talking to ${endpoint}`);

await kv.put(key, { theme: "dark" });
console.log("put with the client's default level (quorum): ok");

const levels: [Consistency, string][] = [
  ["one", "first replica to answer: lowest latency, may be stale in a cluster"],
  ["quorum", "a majority of replicas: read-your-writes when writes use quorum too"],
  ["all", "every replica: strongest, but unavailable while any replica is down"],
  ["local_quorum", "a majority in this datacenter: no cross-region round trip"],
  [{ r: 1 }, "an explicit replica count"],
];
for (const [level, meaning] of levels) {
  const entry = await kv.get<{ theme: string }>(key, { consistency: level });
  console.log(`get ${JSON.stringify(level)}: ${entry?.value.theme} (${meaning})`);
}

// Writes choose their level the same way: `one` acknowledges after one replica has it.
await kv.put(key, { theme: "light" }, { consistency: "one", context: (await kv.get(key))?.context ?? null });
console.log(`put "one": ok, now ${(await kv.get<{ theme: string }>(key, { consistency: "all" }))?.value.theme}`);

// Asking for more replicas than exist: refused before anything is read or written.
for (
  const [what, attempt] of [
    ["get { r: 2 }", () => kv.get(key, { consistency: { r: 2 } })],
    ["put { w: 3 }", () => kv.put(key, { theme: "blue" }, { consistency: { w: 3 } })],
  ] as const
) {
  try {
    await attempt();
    console.log(`${what}: ok (this endpoint has more than one replica)`);
  } catch (e) {
    if (!isMeshkvClientError(e)) throw e;
    console.log(`${what}: ${e.code} (status ${e.status}): ${e.message}`);
  }
}
kv.close();
console.log("done");
