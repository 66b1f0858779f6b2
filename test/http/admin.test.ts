/**
 * Admin API, /metrics, /health and authentication scopes, through `app.request()`.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { constantTimeEqual, TokenChecker } from "../../src/http/auth.ts";
import { createApp } from "../../src/http/app.ts";
import { createMemoryRuntime } from "../../src/runtime/memory.ts";
import type { KvBackend } from "../../src/kv/backend.ts";
import { appFor, expectError, harness, NODE_ID, TOKENS } from "./_setup.ts";
import { drive, kvCluster } from "../cluster/_kv_sim.ts";

const put = (body: string): RequestInit => ({ method: "PUT", body, headers: { "content-type": "text/plain" } });

test("admin status, ring and members describe the node and its cluster", async () => {
  const h = await harness();
  const status = await (await h.req("/v1/admin/status")).json();
  assert.is(status.nodeId, NODE_ID);
  assert.is(status.mode, "cluster");
  assert.is(status.ready, true);
  assert.is(status.version, "0.1.0");
  assert.is(status.hints.pending, 0);
  assert.is(status.hints.bytes, 0);
  assert.type(status.storage.sequence, "number");
  const ring = await (await h.req("/v1/admin/ring")).json();
  assert.is(ring.replicas, 1);
  assert.is(ring.owners.length, ring.partitions);
  assert.ok(
    ring.owners.every((o: { nodes: string[] }) => o.nodes.length === 1 && o.nodes[0] === NODE_ID),
    "one node owns every partition",
  );
  const members = await (await h.req("/v1/admin/members")).json();
  assert.is(members.members.length, 1);
  assert.is(members.members[0].id, NODE_ID);
  assert.is(members.members[0].status, "alive");
  assert.is(members.members[0].self, true);
  await h.close();
});

test("a members() function given to the app (from the mesh) answers /v1/admin/members", async () => {
  const h = await harness({ app: { members: () => [{ id: "n1" }, { id: "n2", status: "suspect" }] } });
  assert.equal((await (await h.req("/v1/admin/members")).json()).members, [{ id: "n1" }, {
    id: "n2",
    status: "suspect",
  }]);
  await h.close();
});

test("join checks its body, then contacts the seeds and says when none answered", async () => {
  const h = await harness();
  await expectError(await h.req("/v1/admin/join", { method: "POST", body: "{}" }), 400, "INVALID_ARGUMENT");
  await expectError(await h.req("/v1/admin/join", { method: "POST", body: '{"seeds":[]}' }), 400, "INVALID_ARGUMENT");
  const joined = await h.drive(h.req("/v1/admin/join", { method: "POST", body: '{"seeds":["n09:7000"]}' }));
  assert.is(joined.status, 200);
  const body = await joined.json();
  assert.is(body.joined, false);
  assert.match(body.message, "No seed answered");
  await h.close();
});

test("a backend that cannot change membership (join, leave and remove are optional in the contract) gets 501", async () => {
  const h = await harness();
  const fixed: KvBackend = Object.assign(Object.create(h.backend) as KvBackend, {
    join: undefined,
    leave: undefined,
    remove: undefined,
  });
  const app = appFor(h.sim, { backend: fixed });
  await expectError(
    await app.request("/v1/admin/join", { method: "POST", body: '{"seeds":["a:1"]}' }),
    501,
    "UNSUPPORTED",
  );
  await expectError(await app.request("/v1/admin/leave", { method: "POST" }), 501, "UNSUPPORTED");
  await expectError(
    await app.request("/v1/admin/remove", { method: "POST", body: '{"node":"n2"}' }),
    501,
    "UNSUPPORTED",
  );
  await h.close();
});

test("remove of an unknown node is 404 on a one-node cluster, and a malformed body is 400 before the backend sees it", async () => {
  const h = await harness();
  await expectError(await h.req("/v1/admin/remove", { method: "POST", body: '{"node":"n2"}' }), 404, "NODE_UNKNOWN");
  const asked: unknown[] = [];
  (h.backend as KvBackend).remove = async (
    node: string,
    o: { dryRun: boolean },
  ) => (asked.push([node, o.dryRun]), { removed: true });
  for (
    const body of [
      "",
      "not json",
      "[]",
      "null",
      '{"node":""}',
      '{"node":7}',
      '{"nodes":"n2"}',
      '{"node":"n2","dryRun":"yes"}',
      '{"node":"n2","force":true}',
      `{"node":"${"x".repeat(129)}"}`,
    ]
  ) {
    await expectError(await h.req("/v1/admin/remove", { method: "POST", body }), 400, "INVALID_ARGUMENT");
  }
  assert.equal(asked, [], "no malformed body reached the backend");
  assert.equal(
    await (await h.req("/v1/admin/remove", { method: "POST", body: '{"node":"n2","dryRun":true}' })).json(),
    { removed: true },
  );
  assert.equal(asked, [["n2", true]]);
  await h.close();
});

test("remove on a cluster node refuses an unknown node (404), a live one (409) and itself (400), and changes nothing", async () => {
  const c = await kvCluster(1901, { size: 3 });
  const app = createApp({
    nodeId: "n01",
    runtime: "memory",
    runtimeVersion: "0",
    backend: c.kv("n01"),
    clock: c.clock,
  });
  const remove = (body: unknown) => app.request("/v1/admin/remove", { method: "POST", body: JSON.stringify(body) });
  const unknown = await expectError(await remove({ node: "n09" }), 404, "NODE_UNKNOWN");
  assert.match(String(unknown.message), "n09");
  const alive = await expectError(await remove({ node: "n02" }), 409, "NODE_ALIVE");
  assert.match(String(alive.message), "alive");
  await expectError(await remove({ node: "n01", dryRun: true }), 400, "INVALID_ARGUMENT");
  assert.equal(
    [...c.nodes.get("n01")!.gossip.table.values()].map((m) => m.status),
    ["alive", "alive", "alive"],
    "nothing changed",
  );
  await c.stopAll();
});

test("/metrics counts requests and latencies per operation, level and status, with storage gauges", async () => {
  const h = await harness();
  await h.req("/v1/kv/k?consistency=quorum", put("v"));
  await h.req("/v1/kv/k?consistency=quorum");
  await h.req("/v1/kv/k?r=1");
  await h.req("/v1/kv/missing");
  const res = await h.req("/metrics");
  assert.is(res.status, 200);
  assert.match(res.headers.get("content-type")!, "text/plain; version=0.0.4");
  const text = await res.text();
  assert.match(text, 'meshkv_http_requests_total{op="put",level="quorum",status="201"} 1');
  assert.match(text, 'meshkv_http_requests_total{op="get",level="quorum",status="200"} 1');
  assert.match(text, 'meshkv_http_requests_total{op="get",level="r=1",status="200"} 1');
  assert.match(text, 'meshkv_http_requests_total{op="get",level="default",status="404"} 1');
  assert.match(text, "# TYPE meshkv_http_request_duration_seconds histogram");
  assert.match(text, 'meshkv_http_request_duration_seconds_count{op="get",level="quorum"} 1');
  assert.match(text, 'meshkv_http_request_duration_seconds_bucket{op="get",level="quorum",le="+Inf"} 1');
  assert.match(text, "# TYPE meshkv_storage_table_bytes gauge");
  assert.match(text, "meshkv_hints_pending 0");
  assert.match(text, "meshkv_anti_entropy_repairs_total 0");
  // What an autoscaler reads besides the request rate and latency: CPU, bytes stored, partitions held and moving.
  assert.match(text, /^meshkv_process_cpu_seconds_total [\d.e+-]+$/m);
  assert.match(text, /^meshkv_bytes_stored [1-9]\d*$/m);
  assert.match(text, /^meshkv_partitions_replicated [1-9]\d*$/m);
  assert.match(text, /^meshkv_partitions_held [1-9]\d*$/m);
  assert.match(text, "meshkv_partitions_handing_off 0");
  assert.match(text, "meshkv_partitions_acquiring 0");
  for (const line of text.trim().split("\n")) {
    assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [\d.e+-]+|\w+(\{[^}]*\})? NaN)$/, line);
  }
  await h.close();
});

test("/health is open and says ok; without a backend the node serves health and answers 501 on data routes", async () => {
  const h = await harness({ auth: true });
  const health = await h.req("/health", { token: null });
  assert.is(health.status, 200);
  assert.is((await health.json()).ready, true);
  await h.close();
  const bare = createApp({ nodeId: "solo", runtime: "node", runtimeVersion: "20", clock: createMemoryRuntime().clock });
  const body = await (await bare.request("/health")).json();
  assert.is(body.status, "ok");
  assert.is(body.nodeId, "solo");
  await expectError(await bare.request("/v1/kv/k"), 501, "UNSUPPORTED");
  assert.is((await bare.request("/metrics")).status, 200);
});

test("scopes nest: read reads, write also writes, admin also administers; 401 carries WWW-Authenticate", async () => {
  const h = await harness({ auth: true });
  assert.is((await h.req("/v1/kv/k", { ...put("v"), token: TOKENS.write })).status, 201);
  assert.is((await h.req("/v1/kv/k", { token: TOKENS.read })).status, 200);
  assert.is((await h.req("/v1/kv", { token: TOKENS.read })).status, 200);
  assert.is((await h.req("/metrics", { token: TOKENS.read })).status, 200);
  await expectError(await h.req("/v1/kv/k", { method: "DELETE", token: TOKENS.read }), 403, "FORBIDDEN");
  await expectError(await h.req("/v1/admin/ring", { token: TOKENS.read }), 403, "FORBIDDEN");
  assert.is((await h.req("/v1/kv/k", { method: "DELETE", token: TOKENS.admin })).status, 204);
  assert.is((await h.req("/v1/admin/ring", { token: TOKENS.admin })).status, 200);
  const missing = await h.req("/v1/kv/k", { token: null });
  assert.match(missing.headers.get("www-authenticate")!, "Bearer");
  await expectError(missing, 401, "UNAUTHORIZED");
  await expectError(
    await h.req("/v1/kv/k", { token: null, headers: { authorization: `Basic ${TOKENS.admin}` } }),
    401,
    "UNAUTHORIZED",
  );
  await expectError(await h.req("/v1/watch", { token: null }), 401, "UNAUTHORIZED");
  await expectError(await h.req("/metrics", { token: null }), 401, "UNAUTHORIZED");
  await h.close();
});

test("tokens compare in constant time over the longer length and must be long enough to configure", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.ok(constantTimeEqual(enc("abc"), enc("abc")));
  assert.not.ok(constantTimeEqual(enc("abc"), enc("abd")));
  assert.not.ok(constantTimeEqual(enc("abc"), enc("abcd")));
  assert.not.ok(constantTimeEqual(enc(""), enc("a")));
  assert.throws(() => new TokenChecker({ tokens: [{ token: "short", scope: "read" }] }), /16 to 512 characters/);
  assert.throws(
    () => new TokenChecker({ tokens: [{ token: "x".repeat(20), scope: "root" as "read" }] }),
    /unknown scope/,
  );
  assert.throws(() => new TokenChecker({ tokens: [] }), /non-empty/);
});

test("plan checks its body (400 before the backend sees it), refuses changes that could not happen with stable codes, and previews a join without changing anything", async () => {
  const c = await kvCluster(1902, { size: 3 });
  const app = createApp({
    nodeId: "n01",
    runtime: "memory",
    runtimeVersion: "0",
    backend: c.kv("n01"),
    clock: c.clock,
  });
  const plan = (body: unknown) =>
    drive(
      c,
      Promise.resolve(
        app.request("/v1/admin/plan", { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) }),
      ),
    );
  for (
    const body of [
      "[]",
      "null",
      "{",
      { node: "n02" },
      { change: "grow", node: "n02" },
      { change: "join" },
      { change: "join", node: "" },
      { change: "leave", node: "n02", capacity: 2 },
      { change: "join", node: "n09", capacity: 0 },
      { change: "join", node: "n09", capacity: 1.5 },
      { change: "join", node: "n09", datacenter: 7 },
      { change: "remove", node: "n02", dryRun: true },
    ]
  ) {
    const e = await expectError(await plan(body), 400, "INVALID_ARGUMENT");
    assert.match(String(e.message), /plan|JSON/, JSON.stringify(body));
  }
  await expectError(await plan({ change: "join", node: "n02" }), 409, "NODE_MEMBER");
  await expectError(await plan({ change: "leave", node: "n09" }), 404, "NODE_UNKNOWN");
  await expectError(await plan({ change: "remove", node: "n02" }), 409, "NODE_ALIVE");
  const res = await plan({ change: "join", node: "n09", capacity: 2, datacenter: "dc1", rack: "r1" });
  assert.is(res.status, 200);
  const body = await res.json();
  assert.is(body.change, "join");
  assert.equal(body.joiner, { capacity: 2, datacenter: "dc1", rack: "r1" });
  assert.ok(
    body.partitionsMoving > 0 && body.moves.every((m: { to: string[] }) => m.to.includes("n09")),
    "the joiner gains copies",
  );
  assert.equal([...c.nodes.get("n01")!.gossip.table.keys()].sort(), ["n01", "n02", "n03"], "nothing changed");
  const fixed: KvBackend = Object.assign(Object.create(c.kv("n01")) as KvBackend, { plan: undefined });
  const bare = createApp({ nodeId: "n01", runtime: "memory", runtimeVersion: "0", backend: fixed, clock: c.clock });
  await expectError(
    await bare.request("/v1/admin/plan", { method: "POST", body: '{"change":"leave","node":"n02"}' }),
    501,
    "UNSUPPORTED",
  );
  await c.stopAll();
});

test.run();
