/**
 * Node's HTTP/1.1 front for the hot routes (`src/runtime/_node_http1.ts`), over real sockets with a raw
 * `node:net` client: it answers the plainest hot requests itself, byte for byte as `node:http` would (but the
 * Date), in request order when pipelined, gathers requests that come in pieces, relays every other complete
 * request to the `node:http` server on a stand-in connection (`_node_relay.ts`) and keeps the connection, and
 * hands the whole connection over only for what it cannot read as `node:http` would: a malformed request, a
 * chunked body, an upgrade, a head or body over its bounds, a request that stalls. Node only (the Deno and Bun
 * adapters keep their runtimes' servers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type Server as NetServer, type Socket } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { http1Front } from "../../src/runtime/_node_http1.ts";
import { plainRequest, writePlain } from "../../src/runtime/_node_plain.ts";
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
    if (req.url === "/stream") {
      // An answer written in parts over time, until the client goes away (a watch stream).
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first");
      const timer = setInterval(() => res.write("more"), 20);
      res.on("close", () => {
        clearInterval(timer);
        seen.push("closed /stream");
      });
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const plain = plainRequest(req.method!, req.url!, req.headers.host, req.rawHeaders, false, async () => body);
      const answer = plain && req.headers["transfer-encoding"] === undefined ? hot(plain) : null;
      if (answer === null) {
        const text = `app ${req.method} ${req.url} ${body.length > 64 ? `${body.length} bytes` : body.toString()}`;
        if (req.url === "/slow-app") setTimeout(() => res.end(text), 60);
        else if (req.url === "/close") res.writeHead(200, { connection: "close" }).end(text);
        else res.end(text);
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
    const done = () => {
      clearTimeout(giveUp);
      resolve({ answers: answers(got), closed, raw: got });
    };
    // An answer that never comes fails the test's assertions rather than hanging it.
    const giveUp = setTimeout(() => {
      socket.destroy();
      done();
    }, 5000);
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

  test("another route's request is relayed to node:http and the connection stays the front's: answers in order", async (ctx) => {
    const r = await talk(ctx.port, [get("slow-a") + "GET /other HTTP/1.1\r\nHost: x\r\n\r\n" + put("c", "after")], 3);
    assert.equal(r.answers.map((a) => a.body), ["GET slow-a - ", "app GET /other ", "PUT c - after"]);
    assert.equal(ctx.viaHttp, ["GET /other"], "node:http saw only the request the front does not answer");
    // A slow relayed answer holds back the hot request pipelined after it; later ones are the front's again.
    const again = await talk(ctx.port, ["GET /slow-app HTTP/1.1\r\nHost: x\r\n\r\n" + get("d"), 20, get("e")], 3);
    assert.equal(again.answers.map((a) => a.body), ["app GET /slow-app ", "GET d - ", "GET e - "]);
    assert.equal(ctx.viaHttp, ["GET /other", "GET /slow-app"]);
    assert.not.ok(again.closed);
    // Byte for byte what node:http alone answers (keep-alive included), but the Date.
    const alone = await talk(ctx.plainPort, ["GET /slow-app HTTP/1.1\r\nHost: x\r\n\r\n" + get("d"), 20, get("e")], 3);
    assert.equal(again.answers, alone.answers);
  });

  test("a relayed request's body reaches node:http as it comes, whatever its length; the connection stays the front's", async (ctx) => {
    const body = "b".repeat(200 * 1024);
    const head = `POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`;
    const r = await talk(ctx.port, [head + body.slice(0, 70_000), 20, body.slice(70_000), 20, get("after")], 2);
    assert.equal(r.answers.map((a) => a.body), [`app POST /v1/batch ${body.length} bytes`, "GET after - "]);
    assert.equal(ctx.viaHttp, ["POST /v1/batch"]);
    const big = "c".repeat(3 * 1024 * 1024);
    const long = await talk(ctx.port, [
      `POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n${big}`,
      20,
      get("late"),
    ], 2);
    assert.equal(long.answers.map((a) => a.body), [`app POST /v1/batch ${big.length} bytes`, "GET late - "]);
    assert.equal(ctx.viaHttp, ["POST /v1/batch", "POST /v1/batch"]);
  });

  test("hot and relayed requests pipelined in one write, bodies split across reads, are answered in order", async (ctx) => {
    const batch = (n: number) => {
      const body = `batch-${n}-${"q".repeat(3000)}`;
      return `POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };
    const all = get("slow-1") + batch(1) + put("m", "mid") + "GET /slow-app HTTP/1.1\r\nHost: x\r\n\r\n" + batch(2) +
      get("last");
    // Split at odd places: inside a head, inside a body.
    const parts = [all.slice(0, 100), 20, all.slice(100, 2000), 20, all.slice(2000, 6500), 20, all.slice(6500)];
    const r = await talk(ctx.port, parts, 6);
    assert.equal(r.answers.map((a) => a.body), [
      "GET slow-1 - ",
      "app POST /v1/batch 3008 bytes",
      "PUT m - mid",
      "app GET /slow-app ",
      "app POST /v1/batch 3008 bytes",
      "GET last - ",
    ]);
    assert.equal(ctx.viaHttp, ["POST /v1/batch", "GET /slow-app", "POST /v1/batch"]);
    assert.not.ok(r.closed);
  });

  test("a relayed answer that closes the connection closes it; a request node:http refuses gets its 400", async (ctx) => {
    const r = await talk(ctx.port, ["GET /close HTTP/1.1\r\nHost: x\r\n\r\n" + get("b")], 2);
    assert.equal(r.answers.map((a) => a.body), ["app GET /close "]);
    assert.ok(r.answers[0]!.head.includes("connection: close"));
    assert.ok(r.closed);
    const bad = await talk(ctx.port, ["BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n" + get("b")], 2);
    assert.equal(bad.answers.map((a) => a.status), ["HTTP/1.1 400 Bad Request"]);
    assert.ok(bad.closed);
    assert.equal(ctx.viaHttp, ["GET /close"]);
  });

  test("a relayed answer that streams reaches the client as it is written; the client leaving ends it", async (ctx) => {
    const socket = connect(ctx.port, "127.0.0.1");
    let got = "";
    socket.on("data", (d) => (got += d.toString("latin1")));
    socket.write("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    await eventually(() => got.includes("first") && got.includes("more"), 2000);
    assert.ok(got.startsWith("HTTP/1.1 200 OK\r\n"));
    assert.ok(got.includes("Transfer-Encoding: chunked"));
    socket.destroy();
    await eventually(() => ctx.viaHttp.includes("closed /stream"), 2000);
    // A client that half-closes goes away too, as node:http takes it on its own socket.
    const half = connect(ctx.port, "127.0.0.1");
    let closed = false;
    let text = "";
    half.on("data", (d) => (text += d.toString("latin1")));
    half.on("close", () => (closed = true));
    half.write("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    await eventually(() => text.includes("more"), 2000);
    half.end();
    await eventually(() => closed && ctx.viaHttp.filter((s: string) => s === "closed /stream").length === 2, 2000);
  });

  test("a request in pieces is the front's; a chunked body, a head over 16 KiB and a slow head are node:http's", async (ctx) => {
    const split = await talk(ctx.port, [
      "PUT /v1/kv/p HTTP/1.1\r\nHost: x\r\nContent-Le",
      30,
      "ngth: 4\r\n\r\nab",
      30,
      "cd",
    ], 1);
    assert.is(split.answers[0]!.body, "PUT p - abcd");
    // A body that comes in pieces, pipelined behind a quick request and before another.
    const long = put("big", "x".repeat(100_000));
    const body = await talk(ctx.port, [get("a") + long.slice(0, 5000), 30, long.slice(5000) + get("z")], 3);
    assert.equal(body.answers.map((a) => a.body), ["GET a - ", `PUT big - ${"x".repeat(100_000)}`, "GET z - "]);
    // One that closes the connection still reads its body to the end, then closes.
    const last = put("last", "x".repeat(10_000), "Connection: close\r\n");
    const closing = await talk(ctx.port, [last.slice(0, 3000), 30, last.slice(3000) + get("never")], 2);
    assert.equal(closing.answers.map((a) => a.body), [`PUT last - ${"x".repeat(10_000)}`]);
    assert.ok(closing.closed);
    const chunked = await talk(ctx.port, [
      "PUT /v1/kv/q HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ], 1);
    assert.is(chunked.answers[0]!.body, "app PUT /v1/kv/q abc");
    const big = await talk(ctx.port, [get("r", `X-Big: ${"y".repeat(17 * 1024)}\r\n`)], 1);
    assert.is(big.answers[0]!.status, "HTTP/1.1 431 Request Header Fields Too Large");
    assert.equal(ctx.viaHttp, ["PUT /v1/kv/q"]);
    // A head still coming in after a keep-alive timeout is handed over (node:http's timeouts judge it).
    const seen: string[] = [];
    const quick = http1Front(httpServer(seen), hot, 600);
    const port = await listen(quick);
    try {
      const slow = await talk(port, [
        "PUT /v1/kv/s HTTP/1.1\r\nHo",
        400,
        "st: x\r\nConte",
        400,
        "nt-Length: 3\r\n\r\nabc",
      ], 1);
      assert.equal(slow.answers.map((a) => a.body), ["PUT s - abc"]);
      const stalled = await talk(
        port,
        ["PUT /v1/kv/t HTTP/1.1\r\nHost: x\r\n", 900, "Content-Length: 3\r\n\r\nabc"],
        1,
      );
      assert.equal(stalled.answers.map((a) => a.body), ["PUT t - abc"]);
      assert.equal(seen, ["PUT /v1/kv/s", "PUT /v1/kv/t"]);
    } finally {
      await new Promise((r) => quick.close(r));
    }
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

  test("close() drops every connection it accepted: ours, those handed to node:http and those relaying", async (ctx) => {
    const ours = connect(ctx.port, "127.0.0.1");
    const handed = connect(ctx.port, "127.0.0.1");
    const relaying = connect(ctx.port, "127.0.0.1");
    const closed: string[] = [];
    ours.on("close", () => closed.push("ours"));
    handed.on("close", () => closed.push("handed"));
    relaying.on("close", () => closed.push("relaying"));
    ours.on("data", () => {});
    relaying.on("data", () => {});
    ours.write(get("a"));
    // A chunked body waits for its next chunk inside node:http; the stream never ends by itself.
    handed.write("PUT /v1/kv/p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n");
    relaying.write("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    await sleep(50);
    await new Promise((r) => ctx.front.close(r));
    await eventually(() => closed.length === 3, 2000);
    assert.equal(closed.sort(), ["handed", "ours", "relaying"]);
    await eventually(() => ctx.viaHttp.includes("closed /stream"), 2000);
    ctx.front = http1Front(createServer(), hot);
    await listen(ctx.front);
  });
} else {
  test.skip(`(Node pass only: the ${rt.name} adapter serves with its runtime's own server)`, () => {});
}

test.run();
