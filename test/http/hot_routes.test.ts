/**
 * The direct path of the hot routes (`fetchHandler(app, { hot: true }).hot`, which the Node adapter takes instead
 * of building a `Request`; `meshkv start` asks for it on Node) answers exactly as the Hono app does: for each request below, the same status, headers and body
 * through `app.request()` and through the direct path, on two keys side by side; metrics count it alike; and
 * whatever it is not sure to answer alike it leaves to the app. Then the same over real sockets: a server with
 * the direct path and one without send the same answers (every runtime's adapter takes the direct path).
 */
import { connect } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fetchHandler } from "../../src/http/app.ts";
import { DATA_LIMITS } from "../../src/kv/limits.ts";
import type { PlainRequest, PlainResponse } from "../../src/runtime/types.ts";
import { realRuntime } from "../_helpers.ts";
import { CONTEXT, type Harness, harness, TOKENS } from "./_setup.ts";

interface Case {
  name: string;
  method: string;
  /** `{k}` stands for the key, a different one on each path. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Requests run first on both paths (same `{k}`), e.g. to create the key. */
  before?: Omit<Case, "name" | "before">[];
}

const W = { authorization: `Bearer ${TOKENS.write}` };
const R = { authorization: `Bearer ${TOKENS.read}` };
const TEXT = { ...W, "content-type": "text/plain" };

const CASES: Case[] = [
  {
    name: "GET of a value",
    method: "GET",
    path: "/v1/kv/{k}",
    headers: R,
    before: [{ method: "PUT", path: "/v1/kv/{k}", headers: TEXT, body: "hello" }],
  },
  { name: "GET of an absent key", method: "GET", path: "/v1/kv/{k}", headers: R },
  {
    name: "GET of a deleted key (404 with its context)",
    method: "GET",
    path: "/v1/kv/{k}",
    headers: R,
    before: [{ method: "PUT", path: "/v1/kv/{k}", headers: TEXT, body: "x" }, {
      method: "DELETE",
      path: "/v1/kv/{k}",
      headers: W,
    }],
  },
  {
    name: "GET of siblings (300 JSON)",
    method: "GET",
    path: "/v1/kv/{k}?consistency=one",
    headers: R,
    before: [{ method: "PUT", path: "/v1/kv/{k}", headers: TEXT, body: "a" }, {
      method: "PUT",
      path: "/v1/kv/{k}",
      headers: TEXT,
      body: "b",
    }],
  },
  {
    name: "GET with a percent-encoded key",
    method: "GET",
    path: "/v1/kv/a%20b%2F{k}",
    headers: R,
    before: [{ method: "PUT", path: "/v1/kv/a%20b%2F{k}", headers: TEXT, body: "enc" }],
  },
  { name: "GET without a token (401)", method: "GET", path: "/v1/kv/{k}" },
  {
    name: "GET with an unknown token (401)",
    method: "GET",
    path: "/v1/kv/{k}",
    headers: { authorization: "Bearer nope-nope-nope-nope-nope" },
  },
  { name: "GET with an unknown level (400)", method: "GET", path: "/v1/kv/{k}?consistency=bogus", headers: R },
  {
    name: "GET with a body it does not read (Connection: close)",
    method: "GET",
    path: "/v1/kv/{k}",
    headers: R,
    body: "abc",
  },
  { name: "GET of a malformed percent-encoding (400)", method: "GET", path: "/v1/kv/%ZZ{k}", headers: R },
  {
    name: "GET of a key over keyBytesMax (413)",
    method: "GET",
    path: `/v1/kv/{k}${"x".repeat(DATA_LIMITS.keyBytesMax)}`,
    headers: R,
  },
  { name: "PUT creating a key (201)", method: "PUT", path: "/v1/kv/{k}?w=1", headers: TEXT, body: "v1" },
  {
    name: "PUT replacing a key (204)",
    method: "PUT",
    path: "/v1/kv/{k}",
    headers: TEXT,
    body: "v2",
    before: [{ method: "PUT", path: "/v1/kv/{k}", headers: TEXT, body: "v1" }],
  },
  {
    name: "PUT with a read token (403, body unread)",
    method: "PUT",
    path: "/v1/kv/{k}",
    headers: { ...R, "content-type": "text/plain" },
    body: "v",
  },
  {
    name: "PUT create-only over a value (409)",
    method: "PUT",
    path: "/v1/kv/{k}",
    headers: { ...TEXT, "if-none-match": "*" },
    body: "v",
    before: [{ method: "PUT", path: "/v1/kv/{k}", headers: TEXT, body: "v0" }],
  },
  {
    name: "PUT with a bad If-None-Match (400)",
    method: "PUT",
    path: "/v1/kv/{k}",
    headers: { ...TEXT, "if-none-match": '"etag"' },
    body: "v",
  },
  { name: "PUT with a bad ttl (400)", method: "PUT", path: "/v1/kv/{k}?ttl=soon", headers: TEXT, body: "v" },
  { name: "PUT with a ttl", method: "PUT", path: "/v1/kv/{k}?ttl=60000", headers: TEXT, body: "v" },
  {
    name: "PUT with a bad context (400)",
    method: "PUT",
    path: "/v1/kv/{k}",
    headers: { ...TEXT, [CONTEXT]: "not-a-context!" },
    body: "v",
  },
  {
    name: "PUT over valueBytesMax (413, body unread)",
    method: "PUT",
    path: "/v1/kv/{k}",
    headers: { ...TEXT, "content-length": String(DATA_LIMITS.valueBytesMax + 1) },
    body: "v",
  },
  { name: "PUT without a content type", method: "PUT", path: "/v1/kv/{k}", headers: W, body: "raw" },
  {
    name: "DELETE (204)",
    method: "DELETE",
    path: "/v1/kv/{k}",
    headers: W,
    before: [{ method: "PUT", path: "/v1/kv/{k}", headers: TEXT, body: "x" }],
  },
  { name: "DELETE with a read token (403)", method: "DELETE", path: "/v1/kv/{k}", headers: R },
  { name: "DELETE with a bad strict flag (400)", method: "DELETE", path: "/v1/kv/{k}?strict=maybe", headers: W },
];

const encoder = new TextEncoder();

function plain(method: string, target: string, headers: Record<string, string>, body?: string): PlainRequest {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method,
    target,
    url: `http://localhost${target}`,
    header: (name) => lower[name],
    body: () => Promise.resolve(encoder.encode(body ?? "")),
  };
}

function withLength(headers: Record<string, string> = {}, body?: string): Record<string, string> {
  if (body === undefined || Object.keys(headers).some((k) => k.toLowerCase() === "content-length")) return headers;
  return { ...headers, "content-length": String(encoder.encode(body).length) };
}

interface Seen {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function viaApp(h: Harness, c: Omit<Case, "name" | "before">, path: string): Promise<Seen> {
  // A `Request` cannot carry a GET body; its Content-Length still says one came, which is what the app acts on.
  const sendsBody = c.body !== undefined && c.method !== "GET";
  const init: RequestInit = {
    method: c.method,
    headers: withLength(c.headers, c.body),
    ...(sendsBody ? { body: c.body } : {}),
  };
  const res = await h.app.request(`http://localhost${path}`, init, { rawTarget: path });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

async function viaHot(h: Harness, c: Omit<Case, "name" | "before">, path: string): Promise<Seen> {
  const hot = fetchHandler(h.app, { hot: true }).hot!;
  const answer = hot(plain(c.method, path, withLength(c.headers, c.body), c.body));
  assert.ok(answer !== null, `the direct path took ${c.method} ${path}`);
  const a: PlainResponse = await answer!;
  const body = a.body === null ? "" : typeof a.body === "string" ? a.body : new TextDecoder().decode(a.body);
  return { status: a.status, headers: a.headers, body };
}

const key = (path: string, k: string) => path.replace("{k}", k);

test("the direct path answers every hot request exactly as the app does: status, headers and body", async () => {
  const h = await harness({ auth: true });
  for (const c of CASES) {
    for (const b of c.before ?? []) {
      await viaApp(h, b, key(b.path, "app-key"));
      await viaHot(h, b, key(b.path, "hot-key"));
    }
    const app = await viaApp(h, c, key(c.path, "app-key"));
    const hot = await viaHot(h, c, key(c.path, "hot-key"));
    // Header order is not behaviour (Hono's Headers iterate sorted); names, values, status and body are.
    const same = (s: Seen) =>
      JSON.stringify({
        ...s,
        headers: Object.entries(s.headers).sort(),
        body: s.body.replaceAll("hot-key", "app-key"),
      });
    assert.is(same(hot), same(app), c.name);
  }
  assert.equal(h.errors, []);
  await h.close();
});

test("a request through the direct path is counted in /metrics as through the app, and both paths feed one count", async () => {
  const h = await harness();
  const count = async () => {
    const text = await (await h.req("/metrics")).text();
    const line = text.split("\n").find((l) =>
      l.startsWith("meshkv_http_requests_total{") && l.includes('op="get"') && l.includes('level="one"') &&
      l.includes('status="404"')
    );
    return line === undefined ? 0 : Number(line.split(" ").pop());
  };
  assert.is(await count(), 0);
  await viaApp(h, { method: "GET", path: "" }, "/v1/kv/missing?consistency=one");
  assert.is(await count(), 1);
  await viaHot(h, { method: "GET", path: "" }, "/v1/kv/missing?consistency=one");
  assert.is(await count(), 2);
  await h.close();
});

test("a request through the direct path is counted in the dashboard's traffic as through the app", async () => {
  const h = await harness();
  const requests = async () => {
    const body = await (await h.req("/ui/traffic")).json() as { traffic: { requests: number }[] };
    return body.traffic.reduce((n, s) => n + s.requests, 0);
  };
  const before = await requests();
  await viaApp(h, { method: "GET", path: "" }, "/v1/kv/missing");
  assert.is(await requests(), before + 1);
  await viaHot(h, { method: "GET", path: "" }, "/v1/kv/missing");
  await viaHot(h, { method: "PUT", path: "", body: "v" }, "/v1/kv/k");
  assert.is(await requests(), before + 3);
  await h.close();
});

test("the direct path leaves to the app what it is not sure to answer alike: other routes and methods, raw targets the app refuses, an empty key, chunked bodies", async () => {
  const h = await harness();
  const hot = fetchHandler(h.app, { hot: true }).hot!;
  const declined: [string, string, Record<string, string>?][] = [
    ["GET", "/v1/kv"],
    ["GET", "/v1/kv?prefix=a"],
    ["GET", "/v1/kv/"],
    ["GET", "/v1/kv/?x=1"],
    ["POST", "/v1/kv/a"],
    ["HEAD", "/v1/kv/a"],
    ["OPTIONS", "/v1/kv/a"],
    ["GET", "/v1/kv/a/../b"],
    ["GET", "/v1/kv/%2e%2e/b"],
    ["PUT", "/v1/kv/a#b"],
    ["GET", "/v1/admin/status"],
    ["GET", "/health"],
    ["PUT", "/v1/kv/a", { "transfer-encoding": "chunked" }],
  ];
  for (const [method, target, headers] of declined) {
    assert.is(hot(plain(method, target, headers ?? {})), null, `${method} ${target}`);
  }
  await h.close();
});

/** Whether `got` holds a whole answer: its head, and its body by Content-Length or up to the last chunk. */
function complete(got: string): boolean {
  const at = got.indexOf("\r\n\r\n");
  if (at < 0) return false;
  const head = got.slice(0, at);
  const length = /^content-length: *(\d+)/im.exec(head);
  if (length) return got.length - at - 4 >= Number(length[1]);
  if (/^transfer-encoding: *chunked/im.test(head)) return got.endsWith("0\r\n\r\n");
  return /^HTTP\/1\.1 (204|304)/.test(head);
}

/**
 * Sends `request` on a new connection and returns the answer with its Date header taken out, head lines
 * sorted. It ends the connection itself once the answer is whole (Deno keeps one that still owes body bytes).
 */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let got = "";
    const done = () => {
      socket.destroy();
      const at = got.indexOf("\r\n\r\n");
      const [status, ...lines] = got.slice(0, at).split("\r\n");
      resolve([status, ...lines.filter((l) => !/^date:/i.test(l)).sort(), "", got.slice(at + 4)].join("\r\n"));
    };
    socket.on("data", (d) => {
      got += d;
      if (complete(got)) done();
    });
    socket.on("error", reject);
    socket.on("close", done);
    socket.write(request);
  });
}

test("over real sockets a server with the direct path and one without send the same answers (head lines in any order)", async () => {
  const rt = await realRuntime();
  const h = await harness();
  const handler = fetchHandler(h.app, { hot: true });
  const hot = handler.hot!;
  let taken = 0;
  handler.hot = (r) => {
    const answer = hot(r);
    if (answer !== null) taken++;
    return answer;
  };
  const direct = await rt.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
  const viaHono = await rt.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, info) => h.app.fetch(req, info ?? {}),
  });
  try {
    const requests = (k: string, port: number) => [
      `PUT /v1/kv/${k} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
      `GET /v1/kv/${k} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      `GET /v1/kv/${k}?consistency=bogus HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      `PUT /v1/kv/${k}-big HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${
        DATA_LIMITS.valueBytesMax + 1
      }\r\n\r\n`,
      `DELETE /v1/kv/${k} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      `GET /v1/kv/${k} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      `GET /v1/kv/zz/../${k} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    ];
    const a = requests("app-key", viaHono.port);
    const d = requests("hot-key", direct.port);
    for (let i = 0; i < a.length; i++) {
      const fromApp = await exchange(viaHono.port, a[i]!);
      const fromDirect = await exchange(direct.port, d[i]!);
      assert.ok(/^HTTP\/1\.1 \d{3}/.test(fromApp), fromApp);
      // (Deno's raw target, echoed in a BAD_PATH message, is the whole URL, with the server's port.)
      assert.is(
        fromDirect.replaceAll("hot-key", "app-key").replaceAll(`:${direct.port}/`, `:${viaHono.port}/`),
        fromApp,
        a[i],
      );
    }
    // Every runtime's adapter takes the direct path: all but the dot-segment request went through it.
    assert.is(taken, a.length - 1);
  } finally {
    await direct.close();
    await viaHono.close();
    await h.close();
  }
});

test("a server handler carries the direct path only when asked for it (meshkv start asks for it unless MESHKV_HTTP=hono)", async () => {
  const h = await harness();
  assert.is(fetchHandler(h.app).hot, undefined);
  assert.type(fetchHandler(h.app, { hot: true }).hot, "function");
  await h.close();
});

test.run();
