/**
 * The replicated cluster as real processes on loopback, started from the CLI: three nodes (one each on Node,
 * Deno and Bun when the suite runs on Node; three of the host runtime otherwise) under a write load at
 * quorum; one node is killed with SIGKILL while the writes go on, then restarted; once anti-entropy has run,
 * every acknowledged key is on every replica (checked by opening each node's store after the processes end).
 * Keys under `two/` belong to a keyspace with two replicas (`--keyspaces two/=replicas:2`): each of those ends
 * on exactly two of the three nodes, its replicas.
 */
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { partitionOf } from "../../src/core/ring.ts";
import { values } from "../../src/core/version.ts";
import { visibleValues } from "../../src/cluster/records.ts";
import { openReplicaStore } from "../../src/cluster/replica.ts";
import { type ReplicationConfig, RingView } from "../../src/cluster/ring_view.ts";
import { eventually, realRuntime, tempDir } from "../_helpers.ts";
import {
  type NodeProcess,
  nodeStatus,
  quorumWriteLoad,
  type RuntimeKind,
  serving,
  startProcess,
  waitFormed,
} from "../_process.ts";

const rt = await realRuntime();
const host = (process.env.MESHKV_TEST_RUNTIME ?? rt.name) as RuntimeKind;
const SECRET = "replication-test-secret";
const PARTITIONS = 64;
const KEYSPACES = "two/=replicas:2";
/** The same settings the nodes get from their flags, to find a key's store partition. */
const CONFIG: ReplicationConfig = {
  partitions: PARTITIONS,
  n: 3,
  sloppy: true,
  keyspaces: [{ prefix: "two/", replicas: { n: 2 } }],
};

async function start(runtime: RuntimeKind, id: string, data: string, seeds: string[]): Promise<NodeProcess> {
  const args = [
    "start",
    "--id",
    id,
    "--port",
    "0",
    "--data",
    data,
    "--mesh-preset",
    "fast",
    "--secret",
    SECRET,
    "--partitions",
    String(PARTITIONS),
    "--durability",
    "always",
    "--keyspaces",
    KEYSPACES,
  ];
  if (seeds.length) args.push("--seeds", seeds.join(","));
  return await startProcess(runtime, args);
}

async function scenario(runtimes: [RuntimeKind, RuntimeKind, RuntimeKind]) {
  const dirs = await Promise.all(runtimes.map((_, i) => tempDir(rt.fs, `repl-${i}`)));
  const ids = runtimes.map((r, i) => `${r}-${i + 1}`);
  const procs: NodeProcess[] = [];
  try {
    procs.push(await start(runtimes[0], ids[0]!, dirs[0]!, []));
    const seed = procs[0]!.url.replace(/^http:\/\//, "");
    procs.push(...(await Promise.all([1, 2].map((i) => start(runtimes[i]!, ids[i]!, dirs[i]!, [seed])))));
    await waitFormed(procs.map((p) => p.url), 3, 15_000);

    let phase = 0;
    const urls = () => (phase === 1 ? procs.slice(0, 2) : procs).map((p) => p.url);
    const loads = [
      quorumWriteLoad(urls, () => phase === 3, { prefix: "k", workers: 8 }),
      quorumWriteLoad(urls, () => phase === 3, { prefix: "two/", workers: 8 }),
    ];
    await new Promise((r) => setTimeout(r, 400));
    await procs[2]!.kill9();
    phase = 1;
    await new Promise((r) => setTimeout(r, 1500));
    procs[2] = await start(runtimes[2], ids[2]!, dirs[2]!, [seed]);
    await eventually(() => serving(procs[2]!.url), 15_000, 50, `${ids[2]} back`);
    phase = 2;
    await new Promise((r) => setTimeout(r, 500));
    phase = 3;
    const [acked, ackedTwo] = await Promise.all(loads) as [Map<string, string>, Map<string, string>];
    assert.ok(acked.size > 50, `enough writes were acknowledged: ${acked.size}`);
    assert.ok(ackedTwo.size > 50, `enough writes to the two-replica keyspace were acknowledged: ${ackedTwo.size}`);

    // Anti-entropy brings the restarted node up to date without any operator action.
    await eventually(
      async () => {
        const s = await nodeStatus(procs[2]!.url);
        return s.antiEntropy.exchanges >= s.partitions.replicated * 2 && s.hints.pending === 0;
      },
      40_000,
      200,
      "anti-entropy sweeps",
    );
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));

    const view = new RingView(CONFIG);
    const holders = new Map<string, number>();
    for (const [i, dir] of dirs.entries()) {
      const store = await openReplicaStore({
        fs: rt.fs,
        dir: `${dir}/store`,
        clock: rt.clock,
        random: rt.random(),
        nodeId: ids[i]!,
        engineValueBytesMax: 64 * 1024 * 1024,
      });
      try {
        const missing: string[] = [];
        for (const [key, value] of acked) {
          const s = await store.read(partitionOf(key, PARTITIONS), key);
          const texts = visibleValues(values(s.set), false).map((v) => new TextDecoder().decode(v.data));
          if (!texts.includes(value)) missing.push(key);
        }
        assert.equal(
          missing.slice(0, 5),
          [],
          `${ids[i]} holds every acknowledged key (${missing.length} of ${acked.size} missing)`,
        );
        for (const [key, value] of ackedTwo) {
          const s = await store.read(view.partitionOf(key), key);
          const texts = visibleValues(values(s.set), false).map((v) => new TextDecoder().decode(v.data));
          if (texts.includes(value)) holders.set(key, (holders.get(key) ?? 0) + 1);
        }
      } finally {
        await store.close();
      }
    }
    const wrong = [...ackedTwo.keys()].filter((k) => holders.get(k) !== 2);
    assert.equal(
      wrong.slice(0, 5).map((k) => [k, holders.get(k) ?? 0]),
      [],
      `every two/ key is on exactly two nodes (${wrong.length} of ${ackedTwo.size} are not)`,
    );
  } finally {
    await Promise.all(procs.map((p) => p.kill9().catch(() => {})));
    for (const d of dirs) await rt.fs.remove(d, { recursive: true }).catch(() => {});
  }
}

const mix: [RuntimeKind, RuntimeKind, RuntimeKind] = host === "node" ? ["node", "deno", "bun"] : [host, host, host];
test(`three nodes (${mix.join(", ")}) under a quorum write load survive a kill -9 and restart: every acknowledged key ends on every replica`, async () => {
  await scenario(mix);
});

test.run();
