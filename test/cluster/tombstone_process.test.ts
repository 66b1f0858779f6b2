/**
 * The reproduction of a deleted key coming back, as real processes on loopback (three nodes of the host
 * runtime, started from the CLI with a short `--tombstone-grace-ms` and a small `--memtable-bytes` so that
 * compactions, where tombstones are purged, happen within the test): put `k` at `all`, kill -9 the third node,
 * delete `k` at `quorum`, let the grace pass while the two others write and compact, restart the third node with
 * its old data; after anti-entropy a read at `all` finds nothing, and no store holds a live value of `k`.
 */
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { partitionOf } from "../../src/core/ring.ts";
import { values } from "../../src/core/version.ts";
import { visibleValues } from "../../src/cluster/records.ts";
import { openReplicaStore } from "../../src/cluster/replica.ts";
import { eventually, realRuntime, tempDir } from "../_helpers.ts";
import { type NodeProcess, nodeStatus, type RuntimeKind, serving, startProcess, waitFormed } from "../_process.ts";

const rt = await realRuntime();
const host = (process.env.MESHKV_TEST_RUNTIME ?? rt.name) as RuntimeKind;
const PARTITIONS = 8;

function start(id: string, data: string, seeds: string[]): Promise<NodeProcess> {
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
    "tombstone-test-secret",
    "--partitions",
    String(PARTITIONS),
    "--durability",
    "always",
    "--tombstone-grace-ms",
    "1500",
    "--memtable-bytes",
    "4096",
  ];
  if (seeds.length) args.push("--seeds", seeds.join(","));
  return startProcess(host, args);
}

/** Writes `count` filler keys of 300 bytes at quorum through `urls`, so memtables flush and tables compact. */
async function filler(urls: string[], prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${urls[i % urls.length]}/v1/kv/${prefix}${i}?consistency=quorum`, {
      method: "PUT",
      body: "f".repeat(300),
      headers: { "content-type": "text/plain" },
    });
    await res.body?.cancel();
  }
}

test(`a replica that missed a delete and stayed away past the tombstone grace does not bring the key back (${host} processes)`, async () => {
  const dirs = await Promise.all([1, 2, 3].map((i) => tempDir(rt.fs, `tomb-${i}`)));
  const ids = ["t1", "t2", "t3"];
  const procs: NodeProcess[] = [];
  try {
    procs.push(await start(ids[0]!, dirs[0]!, []));
    const seed = procs[0]!.url.replace(/^http:\/\//, "");
    procs.push(...(await Promise.all([1, 2].map((i) => start(ids[i]!, dirs[i]!, [seed])))));
    await waitFormed(procs.map((p) => p.url), 3, 15_000);

    const put = await fetch(`${procs[0]!.url}/v1/kv/k?consistency=all`, {
      method: "PUT",
      body: "old value",
      headers: { "content-type": "text/plain" },
    });
    assert.is(put.status, 201);
    await procs[2]!.kill9();
    const del = await fetch(`${procs[0]!.url}/v1/kv/k?consistency=quorum`, { method: "DELETE" });
    assert.is(del.status, 204);
    await new Promise((r) => setTimeout(r, 2500)); // past the grace; the two nodes that are up keep exchanging
    const live = procs.slice(0, 2).map((p) => p.url);
    await filler(live, "a", 150);
    await eventually(
      async () => {
        await filler(live, "b", 20);
        return (await nodeStatus(live[0]!)).tombstones.byReplica[ids[2]!] >= 1;
      },
      30_000,
      100,
      "t1 to report the tombstone waiting for t3",
    );
    assert.ok((await nodeStatus(live[0]!)).storage.compactions > 0, "compactions ran while t3 was away");

    procs[2] = await start(ids[2]!, dirs[2]!, [seed]);
    await eventually(() => serving(procs[2]!.url), 15_000, 50, "t3 back");
    await eventually(
      async () => {
        const s = await nodeStatus(procs[2]!.url);
        return s.antiEntropy.exchanges >= s.partitions.replicated * 2;
      },
      40_000,
      200,
      "anti-entropy sweeps",
    );
    const read = await fetch(`${procs[1]!.url}/v1/kv/k?consistency=all`);
    assert.is(read.status, 404, `the deleted key stays deleted: ${read.status} ${await read.text()}`);
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));

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
        const s = await store.read(partitionOf("k", PARTITIONS), "k");
        assert.equal(visibleValues(values(s.set), false).length, 0, `${ids[i]} holds no live value of k`);
      } finally {
        await store.close();
      }
    }
  } finally {
    await Promise.all(procs.map((p) => p.kill9().catch(() => {})));
    for (const d of dirs) await rt.fs.remove(d, { recursive: true }).catch(() => {});
  }
});

test.run();
