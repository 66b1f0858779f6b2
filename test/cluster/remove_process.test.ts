/**
 * Removing a node that is gone for good, as real processes on loopback started from the CLI (four nodes of the
 * host runtime): one is killed with SIGKILL for good while writes go on at quorum; `meshkv remove --dry-run`
 * prints the plan and changes nothing; `meshkv remove` takes it out; once the survivors rebuilt its copies every
 * acknowledged key reads at `all` and has N = 3 copies on the three remaining nodes (checked by opening their
 * stores after the processes end). The removed node's data directory then cannot start a node any more.
 */
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { partitionOf } from "../../src/core/ring.ts";
import { values } from "../../src/core/version.ts";
import { visibleValues } from "../../src/cluster/records.ts";
import { openReplicaStore } from "../../src/cluster/replica.ts";
import { eventually, realRuntime, tempDir } from "../_helpers.ts";
import {
  type NodeProcess,
  nodeStatus,
  quorumWriteLoad,
  runCli,
  type RuntimeKind,
  serving,
  startProcess,
  waitFormed,
} from "../_process.ts";

const rt = await realRuntime();
const host = (process.env.MESHKV_TEST_RUNTIME ?? rt.name) as RuntimeKind;
const PARTITIONS = 32;
const SECRET = "remove-test-secret";

function startArgs(id: string, data: string, seeds: string[]): string[] {
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
  ];
  if (seeds.length) args.push("--seeds", seeds.join(","));
  return args;
}

test(`a node killed for good is removed with meshkv remove: the three others rebuild N copies of every acknowledged key (${host} processes)`, async () => {
  const dirs = await Promise.all([1, 2, 3, 4].map((i) => tempDir(rt.fs, `remove-${i}`)));
  const ids = ["r1", "r2", "r3", "r4"];
  const procs: NodeProcess[] = [];
  try {
    procs.push(await startProcess(host, startArgs(ids[0]!, dirs[0]!, [])));
    const seed = procs[0]!.url.replace(/^http:\/\//, "");
    for (const i of [1, 2, 3]) procs.push(await startProcess(host, startArgs(ids[i]!, dirs[i]!, [seed])));
    await waitFormed(procs.map((p) => p.url), 4, 20_000);

    const survivors = procs.slice(0, 3);
    const urls = survivors.map((p) => p.url);
    let stop = false;
    const load = quorumWriteLoad(() => urls, () => stop);
    await new Promise((r) => setTimeout(r, 300));
    await procs[3]!.kill9();
    await eventually(
      async () =>
        (await Promise.all(urls.map((u) => nodeStatus(u)))).every((s) =>
          s.members.find((m: any) => m.id === "r4")?.status === "down"
        ),
      20_000,
      100,
      "r4 down everywhere",
    );

    const endpoint = ["--endpoint", urls[1]!];
    const alive = await runCli(host, ["remove", "r3", ...endpoint]);
    assert.is(alive.code, 1, alive.stderr);
    assert.match(alive.stderr, "NODE_ALIVE");
    const dry = await runCli(host, ["remove", "r4", "--dry-run", ...endpoint]);
    assert.is(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, "plan to remove r4");
    assert.ok(
      /partition \d+: to r\d from [r\d,]+(, dropped by [r\d,]+)?, \d+ keys, \d+ bytes/.test(dry.stdout),
      dry.stdout,
    );
    assert.match(dry.stdout, /\d+ partitions move, [1-9]\d* keys, [1-9]\d* bytes/);
    assert.ok(
      (await nodeStatus(urls[0]!)).members.find((m: any) => m.id === "r4").status === "down",
      "the dry run changed nothing",
    );

    const done = await runCli(host, ["remove", "r4", ...endpoint]);
    assert.is(done.code, 0, done.stderr);
    assert.match(done.stdout, "removed r4");
    await eventually(
      async () => {
        const all = await Promise.all(urls.map((u) => nodeStatus(u)));
        return all.every((s) =>
          s.ring.owners.length === 3 && s.removed.members.includes("r4") && s.removed.rebuild?.done === true &&
          s.rebalance.handingOff.length === 0
        );
      },
      40_000,
      200,
      "the rebuild to finish",
    );
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    const acked = await load;
    assert.ok(acked.size > 50, `enough writes were acknowledged: ${acked.size}`);
    await eventually(
      async () => (await Promise.all(urls.map((u) => nodeStatus(u)))).every((s) => s.hints.pending === 0),
      20_000,
      200,
      "hints delivered",
    );

    const sample = [...acked.keys()].filter((_, i) => i % 10 === 0);
    for (const key of sample) {
      const res = await fetch(`${urls[0]}/v1/kv/${key}?consistency=all`);
      assert.is(res.status, 200, `${key} reads at all: ${res.status} ${await res.text()}`);
    }
    await Promise.all(survivors.map((p) => p.stop("SIGTERM")));

    for (const [i, dir] of dirs.slice(0, 3).entries()) {
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
          if (!visibleValues(values(s.set), false).map((v) => new TextDecoder().decode(v.data)).includes(value)) {
            missing.push(key);
          }
        }
        assert.equal(
          missing.slice(0, 5),
          [],
          `${ids[i]} holds every acknowledged key (${missing.length} of ${acked.size} missing)`,
        );
      } finally {
        await store.close();
      }
    }
  } finally {
    await Promise.all(procs.map((p) => p.kill9().catch(() => {})));
    for (const d of dirs) await rt.fs.remove(d, { recursive: true }).catch(() => {});
  }
});

test(`a removed node's process restarted with its old data directory is refused and exits non-zero (${host} processes)`, async () => {
  const dirs = await Promise.all([1, 2, 3].map((i) => tempDir(rt.fs, `removed-${i}`)));
  const procs: NodeProcess[] = [];
  try {
    procs.push(await startProcess(host, startArgs("s1", dirs[0]!, [])));
    const seed = procs[0]!.url.replace(/^http:\/\//, "");
    for (const i of [1, 2]) procs.push(await startProcess(host, startArgs(`s${i + 1}`, dirs[i]!, [seed])));
    await eventually(
      async () => (await Promise.all(procs.map((p) => serving(p.url)))).every(Boolean),
      20_000,
      50,
      "three nodes serving",
    );
    await procs[2]!.kill9();
    await eventually(
      async () => (await nodeStatus(procs[0]!.url)).members.find((m: any) => m.id === "s3")?.status === "down",
      20_000,
      100,
      "s3 down",
    );
    const res = await fetch(`${procs[0]!.url}/v1/admin/remove`, {
      method: "POST",
      body: JSON.stringify({ node: "s3" }),
    });
    assert.is(res.status, 200, await res.text());

    const back = await runCli(host, startArgs("s3", dirs[2]!, [seed]), 30_000);
    assert.is(back.code, 1, back.stdout + back.stderr);
    assert.match(back.stderr, /NODE_REMOVED: node s3 was removed from the cluster/);
    const again = await runCli(host, startArgs("s3", dirs[2]!, [seed]), 30_000);
    assert.is(again.code, 1);
    assert.match(again.stderr, /NODE_REMOVED: Node s3 was removed from the cluster/);
    assert.not.match(again.stdout, "listening on", "refused before it serves");
    assert.is((await nodeStatus(procs[0]!.url)).members.find((m: any) => m.id === "s3").status, "removed");
  } finally {
    await Promise.all(procs.map((p) => p.kill9().catch(() => {})));
    for (const d of dirs) await rt.fs.remove(d, { recursive: true }).catch(() => {});
  }
});

test.run();
