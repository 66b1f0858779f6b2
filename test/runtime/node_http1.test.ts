/**
 * Node's HTTP/1.1 front for the hot routes (`src/runtime/_node_http1.ts`), over real sockets with a raw
 * `node:net` client: it answers the plainest hot requests itself, byte for byte as `node:http` would (but the
 * Date), in request order when pipelined, and hands every other connection to the `node:http` server with the
 * bytes it has not answered, which serves it from then on: another route, a partial request, a malformed one,
 * a chunked body, an upgrade. Node only (the Deno and Bun adapters keep their runtimes' servers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type Server as NetServer, type Socket } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { http1Front, plainRequest, writePlain } from "../../src/runtime/_node_http1.ts";
import type { PlainRequest, PlainResponse } from "../../src/runtime/types.ts";
import { eventually, realRuntime } from "../_helpers.ts";
import { type Answer, answers } from "../_http_answers.ts";

const rt = await realRuntime();
const test = suite("Node's HTTP/1.1 front for the hot routes");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The hot routes under test: answers chosen by the key, so each behaviour has a request. */
function hot(req: PlainRequest): Promise<PlainResponse> | null {
  if (!req.target.startsWith("/v1/kv/")) return null;
  const key = req.target.slice(7);
  return req.body().then(async (body) => {
    if (key.startsWith("slow")) await sleep(60);
    if (key === "fail") throw new Error("boom");
    if (key === "gone") return { status: 204, headers: {}, body: null };
    if (key === "empty") return { status: 200, headers: { etag: "e1" }, body: null };
    if (key === "bye") return { status: 200, headers: { connection: "close" }, body: "bye" };
    if (key === "bad-header") return { status: 200, headers: { "x-v": "a\r\nb" }, body: "x" };
    const text = `${req.method} ${key} ${req.header("x-tag") ?? "-"} ${new TextDecoder().decode(body)}`;
    return { status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: text };
  });
}

/** A `node:http` server answering like the adapter does: hot requests through `hot`, the rest as "app ...". */
function httpServer(seen: string[]): Server {
  const s = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const plain = plainRequest(req.method!, req.url!, req.headers.host, req.rawHeaders, false, async () => body);
      const answer = plain && req.headers["transfer-encoding"] === undefined ? hot(plain) : null;
      if (answer === null) {
        res.end(`app ${req.method} ${req.url} ${body.toString()}`);
        return;
      }
      // As the Node adapter answers a hot request that reached node:http.
      answer.then((a) => writePlain(res, a), () => writePlain(res, { status: 500, headers: {}, body: null }));
    });
  });
  s.on("upgrade", (req: IncomingMessage, sock: Socket) => {
    seen.push(`upgrade ${req.url}`);
    sock.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
  });
  return s;
}

interface Ctx {
  front: NetServer;
  port: number;
  /** Requests the `node:http` server saw (everything the front handed over). */
  viaHttp: string[];
  /** A `node:http` server alone, with the same answers, to compare bytes with. */
  plain: Server;
  plainPort: number;
}

const listen = (s: NetServer) =>
  new Promise<number>((resolve) => s.listen(0, "127.0.0.1", () => resolve((s.address() as { port: number }).port)));

test.before.each(async (ctx) => {
  ctx.viaHttp = [];
  ctx.front = http1Front(httpServer(ctx.viaHttp), hot);
  ctx.port = await listen(ctx.front);
  ctx.plain = httpServer([]);
  ctx.plainPort = await listen(ctx.plain);
});

test.after.each(async (ctx) => {
  await new Promise((r) => ctx.front.close(r));
  ctx.plain.closeAllConnections();
  await new Promise((r) => ctx.plain.close(r));
});

/**
 * Writes `parts` to a new connection (a number waits that many ms), then reads until `count` answers came or
 * the server closed. `end` half-closes the client's side after the last part.
 */
function talk(
  port: number,
  parts: (string | number)[],
  count: number,
  end = false,
): Promise<{ answers: Answer[]; closed: boolean; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let got = "";
    let closed = false;
    const done = () => resolve({ answers: answers(got), closed, raw: got });
    socket.on("data", (d) => {
      got += d.toString("latin1");
      if (answers(got).length >= count) {
        socket.destroy();
        done();
      }
    });
    socket.on("error", reject);
    socket.on("close", () => {
      closed = true;
      done();
    });
    (async () => {
      for (const p of parts) {
        if (typeof p === "number") await sleep(p);
        else socket.write(p);
      }
      if (end) socket.end();
    })();
  });
}

const get = (key: string, extra = "") => `GET /v1/kv/${key} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
const put = (key: string, body: string, extra = "") =>
  `PUT /v1/kv/${key} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

if (rt.name === "node") {
  test("hot requests on one keep-alive connection are answered by the front, head and body as node:http writes them", async (ctx) => {
    const requests = [
      put("a", "hello", "X-Tag: one\r\n"),
      get("a", "x-tag:  two  \r\nX-Tag: three\r\n"),
      `DELETE /v1/kv/a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n`,
      get("gone"),
      get("empty"),
      get("fail"),
      put("utf8", "héllo wörld"),
    ];
    const front = await talk(ctx.port, requests.flatMap((r) => [r, 20]), requests.length);
    const plain = await talk(ctx.plainPort, requests.flatMap((r) => [r, 20]), requests.length);
    assert.equal(ctx.viaHttp, [], "node:http saw none of them");
    assert.is(front.answers.length, requests.length);
    assert.equal(front.answers, plain.answers);
    assert.is(front.answers[1]!.body, "GET a two, three ");
    assert.is(front.answers[3]!.status, "HTTP/1.1 204 No Content");
    assert.ok(front.answers[4]!.head.includes("Transfer-Encoding: chunked"), "an empty body, as node:http sends it");
    assert.is(front.answers[5]!.status, "HTTP/1.1 500 Internal Server Error");
    assert.ok(front.answers[0]!.head.includes("Keep-Alive: timeout=5"));
    assert.ok(/\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/.test(front.raw));
    assert.not.ok(front.closed);
  });

  test("pipelined requests are answered in request order: a slow first answer holds back the quick ones", async (ctx) => {
    const r = await talk(ctx.port, [get("slow-1") + put("b", "x") + get("c")], 3);
    assert.equal(r.answers.map((a) => a.body), ["GET slow-1 - ", "PUT b - x", "GET c - "]);
    assert.equal(ctx.viaHttp, []);
  });

  test("the first request it does not take hands the connection to node:http, with every byte after it, answers still in order", async (ctx) => {
    const r = await talk(ctx.port, [get("slow-a") + "GET /other HTTP/1.1\r\nHost: x\r\n\r\n" + put("c", "after")], 3);
    assert.equal(r.answers.map((a) => a.body), ["GET slow-a - ", "app GET /other ", "PUT c - after"]);
    assert.equal(ctx.viaHttp, ["GET /other", "PUT /v1/kv/c"]);
    // The connection stays node:http's: a later hot request goes through it too.
    const again = await talk(ctx.port, ["GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 20, get("d")], 2);
    assert.equal(again.answers.map((a) => a.body), ["app GET /health ", "GET d - "]);
  });

  test("a request that comes in pieces, a chunked body and a head over 16 KiB are node:http's: served as before", async (ctx) => {
    const split = await talk(ctx.port, [
      "PUT /v1/kv/p HTTP/1.1\r\nHost: x\r\nContent-Le",
      30,
      "ngth: 4\r\n\r\nab",
      30,
      "cd",
    ], 1);
    assert.is(split.answers[0]!.body, "PUT p - abcd");
    const chunked = await talk(ctx.port, [
      "PUT /v1/kv/q HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ], 1);
    assert.is(chunked.answers[0]!.body, "app PUT /v1/kv/q abc");
    const big = await talk(ctx.port, [get("r", `X-Big: ${"y".repeat(17 * 1024)}\r\n`)], 1);
    assert.is(big.answers[0]!.status, "HTTP/1.1 431 Request Header Fields Too Large");
    assert.equal(ctx.viaHttp, ["PUT /v1/kv/p", "PUT /v1/kv/q"]);
  });

  test("malformed requests get node:http's 400 and the connection closes; nothing reaches the routes", async (ctx) => {
    for (
      const bad of [
        "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\nX: a\nb\r\n\r\n",
        "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n",
        "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
      ]
    ) {
      const r = await talk(ctx.port, [bad], 1);
      assert.is(r.answers[0]?.status, "HTTP/1.1 400 Bad Request", JSON.stringify(bad));
      assert.ok(r.closed || r.answers[0]!.head.includes("Connection: close"), JSON.stringify(bad));
    }
    assert.equal(ctx.viaHttp, []);
  });

  test("Connection: close is answered with Connection: close and the front closes; bytes after it are not read", async (ctx) => {
    const r = await talk(ctx.port, [get("a", "Connection: close\r\n") + get("b")], 2);
    assert.is(r.answers.length, 1);
    assert.ok(r.answers[0]!.head.includes("Connection: close"));
    assert.ok(r.closed);
    // An answer that says close itself (the direct path's unread body) closes too.
    const bye = await talk(ctx.port, [get("bye") + get("b")], 2);
    assert.equal(bye.answers.map((a) => a.body), ["bye"]);
    assert.ok(bye.answers[0]!.head.includes("connection: close"));
    assert.ok(bye.closed);
  });

  test("a client that half-closes after its request still gets the answer, then the front ends the connection", async (ctx) => {
    const r = await talk(ctx.port, [get("slow-h")], 2, true);
    assert.equal(r.answers.map((a) => a.body), ["GET slow-h - "]);
    assert.ok(r.closed);
  });

  test("an answer header that cannot be sent becomes a 500 that closes the connection", async (ctx) => {
    const r = await talk(ctx.port, [get("bad-header") + get("a")], 2);
    assert.equal(r.answers.map((a) => a.status), ["HTTP/1.1 500 Internal Server Error"]);
    assert.ok(r.closed);
  });

  test("an upgrade is node:http's, and an idle keep-alive connection is closed after its timeout", async (ctx) => {
    const up = await talk(ctx.port, [get("a", "Connection: Upgrade\r\nUpgrade: websocket\r\n")], 1);
    assert.is(up.answers[0]!.status, "HTTP/1.1 404 Not Found");
    assert.equal(ctx.viaHttp, ["upgrade /v1/kv/a"]);
    const quick = http1Front(createServer(), hot, 1200);
    const port = await listen(quick);
    try {
      const started = Date.now();
      const idle = await talk(port, [get("a"), 1000, get("b")], 3);
      assert.equal(idle.answers.map((a) => a.body), ["GET a - ", "GET b - "]);
      assert.ok(idle.answers[0]!.head.includes("Keep-Alive: timeout=1"));
      assert.ok(idle.closed);
      const took = Date.now() - started;
      assert.ok(took >= 2100 && took < 4000, `closed ${took} ms after the first request`);
    } finally {
      await new Promise((r) => quick.close(r));
    }
  });

  test("close() drops every connection it accepted, ours and those handed to node:http", async (ctx) => {
    const ours = connect(ctx.port, "127.0.0.1");
    const handed = connect(ctx.port, "127.0.0.1");
    const closed: string[] = [];
    ours.on("close", () => closed.push("ours"));
    handed.on("close", () => closed.push("handed"));
    ours.on("data", () => {});
    ours.write(get("a"));
    handed.write("PUT /v1/kv/p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"); // waits for its body
    await sleep(50);
    await new Promise((r) => ctx.front.close(r));
    await eventually(() => closed.length === 2, 2000);
    assert.equal(closed.sort(), ["handed", "ours"]);
    ctx.front = http1Front(createServer(), hot);
    await listen(ctx.front);
  });
} else {
  test.skip(`(Node pass only: the ${rt.name} adapter serves with its runtime's own server)`, () => {});
}

test.run();
