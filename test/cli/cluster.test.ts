/**
 * `meshkv cluster status|plan|leave` as real processes against a three-node cluster started with `meshkv start`
 * (with admin tokens), on the runtime running this test file: the status table, the plans of a join and a leave,
 * the refusals (exit 1 with the node's code, exit 2 for bad flags and arguments) and a leave.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { eventually, realRuntime, tempDir } from "../_helpers.ts";
import { type NodeProcess, runCli, type RuntimeKind, startProcess } from "../_process.ts";

const rt = await realRuntime();
const kind = rt.name as RuntimeKind;
const TOKEN = "cluster-admin-token-0123456789";

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
    "cluster-cli-secret",
    "--partitions",
    "32",
    "--tokens",
    `admin:${TOKEN}`,
  ];
  if (seeds.length) args.push("--seeds", seeds.join(","));
  return args;
}

test(`meshkv cluster status, plan and leave on ${kind} show and change a running cluster, and refuse bad input`, async () => {
  const dirs = await Promise.all([1, 2, 3].map((i) => tempDir(rt.fs, `cluster-cli-${i}`)));
  const procs: NodeProcess[] = [];
  const auth = { authorization: `Bearer ${TOKEN}` };
  try {
    procs.push(await startProcess(kind, startArgs("c1", dirs[0]!, [])));
    const seed = procs[0]!.url.replace(/^http:\/\//, "");
    for (const i of [1, 2]) procs.push(await startProcess(kind, startArgs(`c${i + 1}`, dirs[i]!, [seed])));
    const url = procs[0]!.url;
    await eventually(
      async () => {
        const all = await Promise.all(
          procs.map(async (p) => (await fetch(`${p.url}/v1/admin/status`, { headers: auth })).json() as Promise<any>),
        );
        return all.every((s) => s.ready && s.ring?.owners.length === 3 && s.rebalance.acquiring.length === 0);
      },
      20_000,
      100,
      "three nodes serving one ring",
    );
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${url}/v1/kv/k${i}?consistency=all`, {
        method: "PUT",
        body: `value-${i}`,
        headers: { ...auth, "content-type": "text/plain" },
      });
      assert.is(res.status, 201);
    }
    const cli = (...args: string[]) => runCli(kind, ["cluster", ...args, "--endpoint", url, "--token", TOKEN]);

    const status = await cli("status");
    assert.is(status.code, 0, status.stderr);
    const lines = status.stdout.split("\n");
    assert.match(lines[0]!, /^Node\s+DC\s+Rack\s+Status\s+Load\s+Owns\s+Address$/);
    for (const id of ["c1", "c2", "c3"]) {
      // Three nodes and three replicas: each holds a copy of every partition, and every load was read.
      assert.match(
        status.stdout,
        new RegExp(
          `^${id}( \\*)?\\s+dc1\\s+-\\s+alive\\s+\\d+(\\.\\d)? (B|KiB|MiB)\\s+100\\.0%\\s+127\\.0\\.0\\.1:\\d+$`,
          "m",
        ),
      );
    }
    assert.match(status.stdout, /^c1 \*/m);

    const [join, leave, json] = await Promise.all([
      cli("plan", "join", "c4", "--capacity", "2", "--rack", "r9"),
      cli("plan", "leave", "c3"),
      cli("plan", "join", "c4", "--json"),
    ]);
    assert.is(join.code, 0, join.stderr);
    assert.match(join.stdout, "plan to join c4 (not a member yet); nothing was changed:");
    assert.match(join.stdout, /partition \d+: to c4 from c\d(,c\d)*, dropped by c\d, \d+ keys, \d+ bytes/);
    assert.match(join.stdout, /\d+ partitions move, [1-9]\d* keys, [1-9]\d* bytes/);
    assert.is(leave.code, 0, leave.stderr);
    assert.match(leave.stdout, "plan to leave c3 (alive)");
    assert.match(
      leave.stdout,
      /32 partitions move, 0 keys, 0 bytes/,
      "three nodes, three replicas: a leave drops copies and copies nothing",
    );
    assert.is(json.code, 0, json.stderr);
    const planned = JSON.parse(json.stdout);
    assert.equal(planned.joiner, { capacity: 1, datacenter: "dc1" });
    assert.ok(planned.keys > 0 && planned.keys <= 30, `keys ${planned.keys}`);

    const [alive, member, unknown, badChange, badFlag, noSub, extra, noToken] = await Promise.all([
      cli("plan", "remove", "c2"),
      cli("plan", "join", "c2"),
      cli("plan", "leave", "nobody"),
      cli("plan", "grow", "c2"),
      cli("plan", "leave", "c2", "--capacity", "3"),
      runCli(kind, ["cluster", "--endpoint", url]),
      cli("status", "c1"),
      runCli(kind, ["cluster", "status", "--endpoint", url]),
    ]);
    assert.is(alive.code, 1);
    assert.match(alive.stderr, "meshkv: NODE_ALIVE:");
    assert.is(member.code, 1);
    assert.match(member.stderr, "meshkv: NODE_MEMBER:");
    assert.is(unknown.code, 1);
    assert.match(unknown.stderr, "meshkv: NODE_UNKNOWN:");
    for (const r of [badChange, badFlag, noSub, extra]) {
      assert.is(r.code, 2, r.stderr);
      assert.is(r.stdout, "");
    }
    assert.match(badChange.stderr, 'cluster plan takes join, leave or remove: got "grow"');
    assert.match(badFlag.stderr, "only cluster plan join takes them");
    assert.match(noSub.stderr, "cluster needs a subcommand");
    assert.is(noToken.code, 1);
    assert.match(noToken.stderr, "meshkv: UNAUTHORIZED:");
    assert.is((await runCli(kind, ["cluster", "plan", "join", "c4", "--capacity", "0", "--endpoint", url])).code, 2);

    const left = await runCli(kind, ["cluster", "leave", "--endpoint", procs[2]!.url, "--token", TOKEN], 60_000);
    assert.is(left.code, 0, left.stderr);
    assert.match(left.stdout, /left the cluster: every partition handed off in \d+ ms/);
    await eventually(
      async () => /^c3\s+dc1\s+-\s+left\s+\?\s+0\.0%/m.test((await cli("status")).stdout),
      20_000,
      200,
      "c3 shown as left, owning nothing",
    );
  } finally {
    await Promise.all(procs.map((p) => p.kill9().catch(() => {})));
    for (const d of dirs) await rt.fs.remove(d, { recursive: true }).catch(() => {});
  }
});

test.run();
