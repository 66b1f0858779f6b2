/**
 * The dashboard's routes through `app.request()` against a real ClusterBackend (simulated one-node cluster):
 * the page, its live-data endpoint, key placement, the key browser, the membership plan, authentication (header
 * and cookie), and the per-interval traffic samples behind its charts. The browser test (dashboard_browser.test.ts) loads the
 * same page in Chromium from a real three-node cluster.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { RequestSamples, UI_SAMPLE_INTERVAL_MS, UI_SAMPLES_MAX } from "../../src/http/ui/samples.ts";
import { UI_KEYS_PAGE } from "../../src/http/ui/assets.ts";
import { UI_COOKIE } from "../../src/http/ui/routes.tsx";
import { createApp } from "../../src/http/app.ts";
import { drive, kvCluster, put as simPut, replicasOf } from "../cluster/_kv_sim.ts";
import { expectError, harness, NODE_ID, TOKENS } from "./_setup.ts";

const put = (body: string): RequestInit => ({ method: "PUT", body, headers: { "content-type": "text/plain" } });

test("GET /ui serves one self-contained page: node, ring picture, members, charts, key browser, inline script", async () => {
  const h = await harness();
  const res = await h.req("/ui");
  assert.is(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  const html = await res.text();
  assert.ok(html.startsWith("<!doctype html>"));
  assert.match(html, `<dd id="node-id">${NODE_ID}</dd>`);
  const ring = await (await h.req("/v1/admin/ring")).json();
  const count = (text: string, part: string) => text.split(part).length - 1;
  assert.is(count(html, "<path d="), ring.partitions, "one arc per partition");
  assert.is(count(html, " data-p="), ring.partitions);
  assert.match(html, 'id="ring-svg"');
  assert.match(html, `<tr data-node="${NODE_ID}" class="self">`);
  assert.match(html, 'id="placement-form"');
  assert.match(html, 'id="browse-form"');
  assert.is(count(html, 'class="spark"'), 3, "rate, latency and error charts");
  assert.match(html, "/ui/data");
  // Links to the members' own dashboards keep the scheme the page was reached with.
  assert.ok(html.includes('<a href="http://'), "members link to their dashboards");
  const tls = await (await h.app.request("https://localhost/ui")).text();
  assert.ok(tls.includes('<a href="https://') && !tls.includes('<a href="http://'), "over https, the links are https");
  // Nothing is loaded from elsewhere: no external script, stylesheet or image.
  assert.not.match(html, /<script[^>]+src=/);
  assert.not.match(html, /<link[^>]+stylesheet/);
  assert.not.match(html, /<img/);
  await h.close();
});

test("GET /ui/data renders the live parts, and leaves the ring out while the page's epoch is current", async () => {
  const h = await harness();
  const first = await (await h.req("/ui/data")).json();
  assert.is(first.nodeId, NODE_ID);
  assert.type(first.epoch, "number");
  for (
    const id of [
      "part-summary",
      "part-ring",
      "part-members",
      "part-traffic",
      "part-hints",
      "part-ae",
      "part-moves",
      "part-config",
    ]
  ) {
    assert.type(first.parts[id], "string", `part ${id}`);
  }
  assert.match(first.parts["part-ring"], 'id="ring-svg"');
  assert.match(first.parts["part-config"], "same settings");
  const again = await (await h.req(`/ui/data?epoch=${first.epoch}`)).json();
  assert.is(again.parts["part-ring"], undefined);
  assert.type(again.parts["part-members"], "string");
  const stale = await (await h.req(`/ui/data?epoch=${first.epoch - 1}`)).json();
  assert.type(stale.parts["part-ring"], "string");
  await h.close();
});

test("the traffic samples count client requests and errors, not the dashboard's own requests", async () => {
  const h = await harness();
  for (let i = 0; i < 5; i++) assert.is((await h.req(`/v1/kv/t${i}`, put("x"))).status, 201);
  assert.is((await h.req("/v1/kv/absent")).status, 404);
  for (let i = 0; i < 3; i++) await h.req("/ui/data");
  const d = await (await h.req("/ui/data")).json();
  assert.is(d.traffic.length, UI_SAMPLES_MAX);
  const sum = (f: string) => d.traffic.reduce((a: number, s: Record<string, number>) => a + s[f]!, 0);
  assert.is(sum("requests"), 6);
  assert.is(sum("clientErrors"), 1);
  assert.is(sum("serverErrors"), 0);
  await h.close();
});

test("RequestSamples keeps per-interval rate, p50/p99 and errors for the last UI_SAMPLES_MAX intervals only", () => {
  const s = new RequestSamples();
  const t0 = 1_000 * UI_SAMPLE_INTERVAL_MS;
  for (let i = 0; i < 98; i++) s.record(t0 + i, 1, 200);
  s.record(t0 + 100, 50, 503);
  s.record(t0 + 101, 400, 404);
  let series = s.series(t0 + UI_SAMPLE_INTERVAL_MS); // the interval has ended: the next one is current
  const done = series.at(-2)!;
  assert.is(done.agoMs, UI_SAMPLE_INTERVAL_MS);
  assert.is(done.requests, 100);
  assert.is(done.ratePerSec, 100 / (UI_SAMPLE_INTERVAL_MS / 1000));
  assert.ok(done.p50Ms! >= 1 && done.p50Ms! < 1.2, `p50 ${done.p50Ms} is within one bucket of 1 ms`);
  assert.ok(done.p99Ms! >= 50 && done.p99Ms! < 60, `p99 ${done.p99Ms} is within one bucket of 50 ms`);
  assert.is(done.serverErrors, 1);
  assert.is(done.clientErrors, 1);
  assert.is(series.at(-1)!.requests, 0);
  assert.is(series.at(-1)!.p50Ms, null);
  // Once UI_SAMPLES_MAX more intervals have passed, the interval is gone (its slot reused or reported empty).
  s.record(t0 + UI_SAMPLES_MAX * UI_SAMPLE_INTERVAL_MS, 2, 200);
  series = s.series(t0 + UI_SAMPLES_MAX * UI_SAMPLE_INTERVAL_MS);
  assert.is(series.length, UI_SAMPLES_MAX);
  assert.is(series.reduce((a, x) => a + x.requests, 0), 1);
  assert.is(series.at(-1)!.p50Ms! >= 2 && series.at(-1)!.p50Ms! < 2.4, true);
});

test("GET /ui/placement names the key's partition and the replicas the ring assigns it; a missing key is 400", async () => {
  const h = await harness();
  const p = await (await h.req("/ui/placement?key=user%3A42")).json();
  const ring = await (await h.req("/v1/admin/ring")).json();
  assert.ok(Number.isInteger(p.partition) && p.partition >= 0 && p.partition < ring.partitions);
  assert.equal(p.replicas, ring.owners[p.partition].nodes);
  assert.equal(p.replicas, [NODE_ID]);
  assert.match(
    (await expectError(await h.req("/ui/placement"), 400, "INVALID_ARGUMENT")).message as string,
    "Missing query parameter: key",
  );
  await h.close();
});

test("the key browser lists keys by prefix in pages with a cursor, and shows siblings with their context", async () => {
  const h = await harness();
  const total = UI_KEYS_PAGE + 3;
  for (let i = 0; i < total; i++) await h.req(`/v1/kv/user:${String(i).padStart(3, "0")}`, put(`v${i}`));
  await h.req("/v1/kv/other", put("o"));
  const first = await (await h.req("/ui/keys?prefix=user%3A")).json();
  assert.is(first.keys.length, UI_KEYS_PAGE);
  assert.is(first.keys[0], "user:000");
  assert.type(first.cursor, "string");
  const second = await (await h.req(`/ui/keys?prefix=user%3A&cursor=${first.cursor}`)).json();
  assert.equal(second.keys, ["user:050", "user:051", "user:052"]);
  assert.is(second.cursor, null);
  await expectError(await h.req("/ui/keys?cursor=%%%"), 400, "INVALID_ARGUMENT");
  // Two blind writes to one key are concurrent: the browser shows both siblings and the context covering them.
  await h.req("/v1/kv/twin", put("left"));
  await h.req("/v1/kv/twin", put("right"));
  const twin = await (await h.req("/ui/key?key=twin")).json();
  assert.equal(twin.values.map((v: { value: string }) => v.value).sort(), ["left", "right"]);
  assert.type(twin.context, "string");
  const absent = await (await h.req("/ui/key?key=nothing")).json();
  assert.equal(absent.values, []);
  await h.close();
});

test("with tokens, /ui needs read scope: 401 with a token form, then a read token by header or by the login cookie", async () => {
  const h = await harness({ auth: true });
  const none = await h.req("/ui", { token: null });
  assert.is(none.status, 401);
  assert.match(await none.text(), '<form method="post" action="/ui/login">');
  await expectError(await h.req("/ui/data", { token: null }), 401, "UNAUTHORIZED");
  await expectError(await h.req("/ui/data", { token: "not-a-known-token-at-all" }), 401, "UNAUTHORIZED");
  assert.is((await h.req("/ui", { token: TOKENS.read })).status, 200);
  assert.is((await h.req("/ui/data", { token: TOKENS.read })).status, 200);

  const form = (token: string): RequestInit & { token: null } => ({
    method: "POST",
    body: `token=${encodeURIComponent(token)}`,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    token: null,
  });
  const wrong = await h.req("/ui/login", form("wrong-token-0123456789abcdef"));
  assert.is(wrong.status, 401);
  assert.is(wrong.headers.get("set-cookie"), null);
  const login = await h.req("/ui/login", form(TOKENS.read));
  assert.is(login.status, 303);
  assert.is(login.headers.get("location"), "/ui");
  const cookie = login.headers.get("set-cookie") ?? "";
  assert.match(cookie, `${UI_COOKIE}=`);
  assert.match(cookie, "HttpOnly");
  assert.match(cookie, "SameSite=Strict");
  assert.match(cookie, "Path=/ui");
  const pair = cookie.split(";")[0]!;
  assert.is((await h.req("/ui", { token: null, headers: { cookie: pair } })).status, 200);
  assert.is((await h.req("/ui/keys", { token: null, headers: { cookie: pair } })).status, 200);
  // The cookie opens the dashboard only: the data API still wants the header.
  await expectError(await h.req("/v1/kv/x", { token: null, headers: { cookie: pair } }), 401, "UNAUTHORIZED");
  await h.close();
});

interface Move {
  partition: number;
  to: string[];
  from: string[];
  drop: string[];
  keys: number | null;
  bytes: number | null;
}

test("GET /ui/plan answers the admin route's plan of a leave and its panel: a row per move, the moves add up to the totals", async () => {
  // Four nodes, three replicas: n04's partitions each gain a copy on another node when it leaves.
  const c = await kvCluster(1903, { size: 4, replication: { n: 3 } });
  try {
    for (let i = 0; i < 40; i++) await simPut(c, "n01", `plan:${i}`, `value ${i}`, { level: "all" });
    const app = createApp({
      nodeId: "n01",
      runtime: "memory",
      runtimeVersion: "0",
      backend: c.kv("n01"),
      clock: c.clock,
      peerFetch: null, // the simulated members have no HTTP address: the page charts this node only
    });
    const get = (path: string) => drive(c, Promise.resolve(app.request(`http://localhost${path}`)));
    const res = await get("/ui/plan?change=leave&node=n04");
    assert.is(res.status, 200);
    const { plan, html } = await res.json() as { plan: Record<string, unknown> & { moves: Move[] }; html: string };
    const admin = await drive(
      c,
      Promise.resolve(app.request("/v1/admin/plan", { method: "POST", body: '{"change":"leave","node":"n04"}' })),
    );
    assert.equal(plan, await admin.json(), "the same JSON as POST /v1/admin/plan");
    assert.is(plan.change, "leave");
    assert.is(plan.status, "alive");
    assert.ok(plan.moves.length > 0, "n04 holds partitions");
    assert.is(plan.partitionsMoving, plan.moves.length);
    assert.is(plan.partitionsUncounted, 0);
    assert.ok(plan.moves.every((m) => m.drop.includes("n04") && !m.to.includes("n04") && m.to.length === 1));
    assert.is(plan.moves.reduce((n, m) => n + m.keys!, 0), plan.keys);
    assert.is(plan.moves.reduce((n, m) => n + m.bytes!, 0), plan.bytes);
    assert.ok((plan.keys as number) > 0, "some of the keys move");
    // The panel: one row per move, from → to, keys, then the totals.
    assert.is(html.split("<tr data-p=").length - 1, plan.moves.length);
    for (const m of plan.moves) {
      assert.ok(
        html.includes(
          `<tr data-p="${m.partition}"><td>${m.partition}</td><td>${m.from.join(", ")} → ${
            m.to.join(", ")
          }</td><td>n04</td><td>${m.keys}</td>`,
        ),
        `the row of partition ${m.partition}`,
      );
    }
    assert.match(html, `${plan.moves.length} partitions move, ${plan.keys} keys`);
    // Without the script: /ui?plan=leave&node=n04 renders the same panel in the page, with the form filled in.
    const page = await get("/ui?plan=leave&node=n04");
    assert.is(page.status, 200);
    const text = await page.text();
    assert.ok(text.includes(`<div id="plan">${html}</div>`), "the page holds the same panel");
    assert.match(text, '<form id="plan-form" method="get" action="/ui">');
    assert.match(text, '<option value="leave" selected="">leave</option>');
    assert.match(text, 'name="node" list="plan-nodes"');
    assert.match(text, 'value="n04"');
    for (const id of ["n01", "n02", "n03", "n04"]) assert.match(text, `<option value="${id}">`);
    // Nothing changed: n04 is still an alive member.
    assert.is(c.nodes.get("n01")!.gossip.table.get("n04")?.status, "alive");
  } finally {
    await c.stopAll();
  }
});

test("GET /ui/plan refuses what POST /v1/admin/plan refuses, with the same status, code and message", async () => {
  const c = await kvCluster(1904, { size: 3 });
  try {
    const app = createApp({
      nodeId: "n01",
      runtime: "memory",
      runtimeVersion: "0",
      backend: c.kv("n01"),
      clock: c.clock,
      peerFetch: null, // the simulated members have no HTTP address: the page charts this node only
    });
    const cases: [Record<string, string | number>, number, string][] = [
      [{ change: "grow", node: "n02" }, 400, "INVALID_ARGUMENT"],
      [{ node: "n02" }, 400, "INVALID_ARGUMENT"],
      [{ change: "leave" }, 400, "INVALID_ARGUMENT"],
      [{ change: "leave", node: "" }, 400, "INVALID_ARGUMENT"],
      [{ change: "leave", node: "x".repeat(129) }, 400, "INVALID_ARGUMENT"],
      [{ change: "leave", node: "n02", capacity: 2 }, 400, "INVALID_ARGUMENT"],
      [{ change: "join", node: "n09", capacity: 0 }, 400, "INVALID_ARGUMENT"],
      [{ change: "join", node: "n09", capacity: 1.5 }, 400, "INVALID_ARGUMENT"],
      [{ change: "leave", node: "n09" }, 404, "NODE_UNKNOWN"],
      [{ change: "remove", node: "n09" }, 404, "NODE_UNKNOWN"],
      [{ change: "remove", node: "n02" }, 409, "NODE_ALIVE"],
      [{ change: "join", node: "n02" }, 409, "NODE_MEMBER"],
    ];
    for (const [fields, status, code] of cases) {
      const query = new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)]));
      const ui = await expectError(await drive(c, Promise.resolve(app.request(`/ui/plan?${query}`))), status, code);
      const body = JSON.stringify(fields);
      const admin = await expectError(
        await drive(c, Promise.resolve(app.request("/v1/admin/plan", { method: "POST", body }))),
        status,
        code,
      );
      assert.is(ui.message, admin.message, body);
    }
    // A join's joiner comes from the query too, as numbers and names.
    const join = await drive(
      c,
      Promise.resolve(app.request("/ui/plan?change=join&node=n09&capacity=2&datacenter=dc1&rack=r1")),
    );
    assert.is(join.status, 200);
    assert.equal((await join.json()).plan.joiner, { capacity: 2, datacenter: "dc1", rack: "r1" });
    // The page shows a refusal in its panel, with the refusal's status, and keeps the form.
    const bad = await drive(c, Promise.resolve(app.request("/ui?plan=grow&node=n02")));
    assert.is(bad.status, 400);
    const badText = await bad.text();
    assert.match(
      badText,
      '<p class="bad" data-code="INVALID_ARGUMENT">INVALID_ARGUMENT: Malformed plan: change must be',
    );
    assert.match(badText, '<form id="plan-form" method="get" action="/ui">');
    const unknown = await drive(c, Promise.resolve(app.request("/ui?plan=leave&node=n09")));
    assert.is(unknown.status, 404);
    assert.match(await unknown.text(), '<p class="bad" data-code="NODE_UNKNOWN">');
  } finally {
    await c.stopAll();
  }
});

test("with tokens, GET /ui/plan needs read scope (a preview) while POST /v1/admin/plan still needs admin", async () => {
  const h = await harness({ auth: true });
  const path = "/ui/plan?change=join&node=n09";
  await expectError(await h.req(path, { token: null }), 401, "UNAUTHORIZED");
  await expectError(await h.req(path, { token: "not-a-known-token-at-all" }), 401, "UNAUTHORIZED");
  const res = await h.req(path, { token: TOKENS.read });
  assert.is(res.status, 200);
  const { plan } = await res.json();
  assert.is(plan.change, "join");
  assert.is(plan.status, "new");
  const none = await h.req("/ui?plan=join&node=n09", { token: null });
  assert.is(none.status, 401);
  assert.match(await none.text(), '<form method="post" action="/ui/login">');
  const admin = (token: string) =>
    h.req("/v1/admin/plan", { method: "POST", body: '{"change":"join","node":"n09"}', token });
  await expectError(await admin(TOKENS.read), 403, "FORBIDDEN");
  assert.is((await admin(TOKENS.admin)).status, 200);
  await h.close();
});

test("with a replica down, a node's dashboard shows it down, the hints it holds for it, and the key's replicas", async () => {
  // Four nodes, three replicas: a write whose replica n04 is down lands on a stand-in, which keeps a hint for n04.
  const c = await kvCluster(7, { size: 4, replication: { n: 3 } });
  try {
    await c.crash("n04");
    const seen = await c.runUntil(
      () => c.nodes.get("n01")!.gossip.members().find((m) => m.id === "n04")?.status === "down",
      30_000,
    );
    assert.ok(seen !== null, "n01 saw n04 down");
    let i = 0;
    while (!replicasOf(c, "n01", `user:${i}`).includes("n04")) i++;
    const key = `user:${i}`;
    await simPut(c, "n01", key, "v", { level: "quorum" });
    const holderOf = () => ["n01", "n02", "n03"].find((id) => c.kv(id).hints.stats().perTarget["n04"] !== undefined);
    assert.ok((await c.runUntil(() => holderOf() !== undefined, 5_000)) !== null, "a stand-in keeps a hint for n04");
    const holder = holderOf()!;
    // The other alive members' traffic comes from their /ui/traffic: one answers, one does not.
    const members = await c.kv(holder).members();
    const [answers, silent] = members.filter((m) => m.id !== holder && m.status === "alive").map((m) => m.id);
    const asked: string[] = [];
    const peerFetch = async (url: string) => {
      const m = members.find((x) => url === `http://${x.address}/ui/traffic`);
      asked.push(m?.id ?? url);
      if (m?.id !== answers) throw new Error("connection refused");
      return Response.json({
        nodeId: answers,
        traffic: [{ agoMs: 0, requests: 10, ratePerSec: 2, p50Ms: 1, p99Ms: 3, serverErrors: 0, clientErrors: 1 }],
      });
    };
    const app = createApp({
      nodeId: holder,
      runtime: "memory",
      runtimeVersion: "0",
      backend: c.kv(holder),
      clock: c.clock,
      peerFetch,
    });
    const d = await (await app.request("http://localhost/ui/data")).json();
    assert.equal(asked.sort(), [answers, silent].sort(), "the alive members were asked, the down one was not");
    const traffic = d.parts["part-traffic"] as string;
    assert.ok(
      traffic.includes(`<div class="node-traffic" data-node="${answers}"><h3>${answers}</h3><div class="charts">`),
      traffic,
    );
    assert.ok(
      traffic.includes(
        `<div class="node-traffic" data-node="${silent}"><h3>${silent}</h3><p class="muted">No traffic from this member: connection refused</p>`,
      ),
      traffic,
    );
    const own = await (await app.request("http://localhost/ui/traffic")).json();
    assert.is(own.nodeId, holder);
    assert.is(own.traffic.length, UI_SAMPLES_MAX);
    const row = (d.parts["part-members"] as string).split("<tr ").find((r) => r.startsWith('data-node="n04"')) ?? "";
    assert.ok(row.includes('<td class="st-down">down</td>'), `n04's row says down: ${row}`);
    assert.ok(
      (d.parts["part-hints"] as string).includes("<td>n04</td><td>1</td>"),
      `one hint waits for n04: ${d.parts["part-hints"]}`,
    );
    const p = await (await app.request(`http://localhost/ui/placement?key=${encodeURIComponent(key)}`)).json();
    assert.equal(p.replicas, replicasOf(c, holder, key));
    assert.ok(
      d.parts["part-ring"].includes(`data-p="${p.partition}" data-replicas="${p.replicas.join(" ")}"`),
      "the ring picture names the same replicas",
    );
  } finally {
    await c.stopAll();
  }
});

test.run();
