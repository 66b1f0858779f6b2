/**
 * Gossip handlers treat peers' bodies as untrusted: malformed digests and probe requests are refused or
 * dropped with a log line, and the member table stays as it was. Also the CLI's mesh flags reject bad values.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GOSSIP_FAST } from "../../src/cluster/presets.ts";
import { SimCluster } from "../../src/testing/sim_cluster.ts";
import { isMeshkvError } from "../../src/errors.ts";
import { pureAuthenticator } from "../../src/mesh/auth.ts";
import { Mesh } from "../../src/mesh/mesh.ts";
import { SeededRandom } from "../../src/runtime/memory.ts";
import { realRuntime } from "../_helpers.ts";
import { runCli, type RuntimeKind } from "../_process.ts";

test("malformed gossip, sync and pingReq bodies are refused and leave the member table unchanged", async () => {
  const c = await SimCluster.create({ seed: 5, size: 3, gossip: GOSSIP_FAST });
  await c.runUntil(() => c.allSee("alive") && c.converged(), 5000);
  const evil = new Mesh({
    nodeId: "evil",
    cluster: "meshkv",
    datacenter: "dc1",
    auth: pureAuthenticator("sim-secret"),
    random: new SeededRandom(1),
    runtime: { clock: c.clock, dial: (url, o) => c.net.dial("evil", url, o) },
  });
  evil.setAddress("n01", "n01:7000");
  const ask = async (kind: "sync" | "pingReq", body: unknown) => {
    const p = evil.request("n01", kind, body).then(() => null, (e: unknown) => e);
    await c.run(100, 10);
    return await p;
  };
  const bad = [
    null,
    "members",
    { members: "x" },
    { members: [{ id: "" }] },
    {
      members: [{
        id: "z",
        address: "a",
        datacenter: "d",
        capacity: -1,
        heartbeat: 0,
        incarnation: 0,
        status: "alive",
      }],
    },
    { members: Array.from({ length: 2000 }, (_, i) => ({ id: `m${i}` })) },
  ];
  for (const body of bad) {
    const err = await ask("sync", body);
    assert.ok(isMeshkvError(err, "PROTOCOL_ERROR"), `sync ${JSON.stringify(body)?.slice(0, 60)}: ${String(err)}`);
    await evil.send("n01", "gossip", body);
  }
  await c.run(200, 10);
  const err = await ask("pingReq", { target: 42 });
  assert.ok(isMeshkvError(err, "INVALID_ARGUMENT"), String(err));
  const table = c.nodes.get("n01")!.gossip.table;
  assert.equal([...table.keys()].sort(), ["n01", "n02", "n03"]);
  assert.ok(c.allSee("alive"));
  evil.close();
  await c.stopAll();
});

test("meshkv start rejects bad mesh flags with exit status 2 and a message naming the flag", async () => {
  const kind = (await realRuntime()).name as RuntimeKind;
  const cases: [string[], RegExp][] = [
    [["start", "--mesh-preset", "turbo"], /--mesh-preset takes default, fast, wan/],
    [["start", "--seeds", "no-port"], /--seeds takes host:port/],
    [["start", "--secret", "short"], /--secret must be at least 8/],
    [["start", "--region-delays", "a-b=4"], /Region delay key/],
    [["start", "--mesh-port", "70000"], /--mesh-port takes a port \(0 to 65535; 0 picks a free one\) or off/],
    [["start", "--mesh-port", "tcp"], /--mesh-port takes a port/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(kind, [...args, "--data", ".tmp/never-created"]);
    assert.is(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test.run();
