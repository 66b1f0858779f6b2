/**
 * bench/_http.ts, the load generator's lean `fetch`, against real servers on loopback: a `node:http` server for
 * what a server normally sends, and a raw `node:net` server where the test needs exact bytes (a response in
 * 1-byte writes, a connection closed at a chosen moment). Last, the SDK itself through it against a real node.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { httpFetch } from "../../bench/_http.ts";
import { createClient } from "../../src/client/mod.ts";
import { startNode } from "../client/_server.ts";

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A node:http server on 127.0.0.1:0 that counts the connections it accepted. */
async function httpServer(handler: Handler): Promise<{ url: string; conns: Socket[]; close(): Promise<void> }> {
  const conns: Socket[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, Buffer.concat(chunks).toString("utf8"), res));
  });
  server.on("connection", (s: Socket) => conns.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    for (const s of conns) s.destroy();
    await new Promise((r) => server.close(r));
  };
  return { url, conns, close };
}

/** A raw TCP server: `onRequest(socket, n)` runs for each request head received (n counts per connection). */
async function rawServer(
  onRequest: (s: Socket, n: number, connIndex: number) => void,
): Promise<{ url: string; conns: Socket[]; close(): Promise<void> }> {
  const conns: Socket[] = [];
  const server: NetServer = createNetServer((s) => {
    const index = conns.push(s) - 1;
    s.setNoDelay(true);
    let seen = "", n = 0;
    s.on("data", (d) => {
      seen += d.toString("latin1");
      while (seen.includes("\r\n\r\n")) { // the tests send no request bodies here
        seen = seen.slice(seen.indexOf("\r\n\r\n") + 4);
        onRequest(s, n++, index);
      }
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    for (const s of conns) s.destroy();
    await new Promise((r) => server.close(r));
  };
  return { url, conns, close };
}

/** Writes `text` one byte per write, yielding between them so each byte leaves in its own segment. */
async function dribble(s: Socket, text: string): Promise<void> {
  for (const b of Buffer.from(text)) {
    s.write(Buffer.from([b]));
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection, but it resolved");
}

const echo: Handler = (req, body, res) => {
  const payload = JSON.stringify({ method: req.method, url: req.url, body, length: req.headers["content-length"] });
  const length = Buffer.byteLength(payload);
  res.writeHead(200, { "content-type": "application/json", "content-length": length, "X-Custom": "Yes" }).end(payload);
};

test("GET answers with status, case-insensitive headers and a Content-Length body", async () => {
  const s = await httpServer(echo);
  try {
    const res = await httpFetch()(`${s.url}/a/b?x=1#frag`, { headers: { "x-test": "1" } });
    assert.is(res.status, 200);
    assert.is(res.statusText, "OK");
    assert.ok(res.ok);
    assert.is(res.headers.get("X-CUSTOM"), "Yes");
    assert.ok(res.headers.has("content-type"));
    assert.is(res.headers.get("absent"), null);
    const seen: string[] = [];
    res.headers.forEach((_v, k) => seen.push(k));
    assert.ok(seen.includes("x-custom") && seen.includes("content-length"));
    assert.equal(await res.json(), { method: "GET", url: "/a/b?x=1", body: "" });
  } finally {
    await s.close();
  }
});

test("PUT sends string and byte bodies with their length in bytes", async () => {
  const s = await httpServer(echo);
  try {
    const f = httpFetch();
    const a = await (await f(`${s.url}/k`, { method: "PUT", body: "héllo" })).json();
    assert.equal(a, { method: "PUT", url: "/k", body: "héllo", length: "6" });
    const bytes = new TextEncoder().encode("bytes ✓");
    const b = await (await f(`${s.url}/k`, { method: "POST", body: bytes })).json();
    assert.equal(b, { method: "POST", url: "/k", body: "bytes ✓", length: String(bytes.byteLength) });
  } finally {
    await s.close();
  }
});

test("a chunked response is read whole, and its headers survive `new Response` as the SDK re-wraps it", async () => {
  const s = await httpServer((_req, _body, res) => {
    res.writeHead(201, { "x-meshkv-context": "ctx1" });
    res.write("first,");
    setTimeout(() => res.end("second"), 5);
  });
  try {
    const res = await httpFetch()(`${s.url}/`);
    assert.is(res.status, 201);
    assert.is(res.headers.get("transfer-encoding"), "chunked");
    const copy = new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
    assert.is(copy.headers.get("x-meshkv-context"), "ctx1");
    assert.is(await copy.text(), "first,second");
  } finally {
    await s.close();
  }
});

test("responses written one byte at a time parse the same, framed by length or by chunks", async () => {
  const s = await rawServer((sock, n) => {
    const answers = [
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
    ];
    void dribble(sock, answers[n]!);
  });
  try {
    const f = httpFetch();
    const a = await f(`${s.url}/`);
    assert.is(a.headers.get("x-a"), "1");
    assert.is(await a.text(), "hello");
    assert.is(await (await f(`${s.url}/`)).text(), "abc0123456789");
    assert.is(s.conns.length, 1, "both answers came over one kept-alive connection");
  } finally {
    await s.close();
  }
});

test("headers are found by whole name at a line's start: repeated fields join, names inside values do not count", async () => {
  const s = await rawServer((sock) => {
    sock.write(
      "HTTP/1.1 200 OK\r\nX-Note: content-length: 99\r\nSet-Thing: a\r\nCONTENT-LENGTH:  2 \r\n" +
        "x-content-length: 7\r\nset-thing:b\r\n\r\nok",
    );
  });
  try {
    const res = await httpFetch()(`${s.url}/`);
    assert.is(await res.text(), "ok", "framed by the real Content-Length, whatever its case and spaces");
    assert.is(res.headers.get("Content-Length"), "2");
    assert.is(res.headers.get("set-thing"), "a, b");
    assert.is(res.headers.get("x-note"), "content-length: 99");
    assert.is(res.headers.get("length"), null);
    assert.equal([...new Headers(res.headers as unknown as Headers)].map(([k]) => k), [
      "content-length",
      "set-thing",
      "x-content-length",
      "x-note",
    ]);
  } finally {
    await s.close();
  }
});

test("an answer with neither length nor chunks ends with the connection, which is not reused", async () => {
  const s = await rawServer((sock) => sock.end("HTTP/1.0 200 OK\r\nX-Old: 1\r\n\r\nuntil the end"));
  try {
    const f = httpFetch();
    assert.is(await (await f(`${s.url}/`)).text(), "until the end");
    assert.is(await (await f(`${s.url}/`)).text(), "until the end");
    assert.is(s.conns.length, 2);
  } finally {
    await s.close();
  }
});

test("204 and HEAD answers have no body, and the connection stays usable after them", async () => {
  const s = await httpServer((req, _body, res) => {
    if (req.method === "DELETE") res.writeHead(204).end();
    else res.writeHead(200, { "content-type": "text/plain", "content-length": 8 }).end("the body");
  });
  try {
    const f = httpFetch();
    const del = await f(`${s.url}/k`, { method: "DELETE" });
    assert.is(del.status, 204);
    assert.is(del.body, null);
    assert.is(await del.text(), "");
    const head = await f(`${s.url}/k`, { method: "HEAD" });
    assert.is(head.headers.get("content-length"), "8");
    assert.is(await head.text(), "");
    assert.is(await (await f(`${s.url}/k`)).text(), "the body");
    assert.is(s.conns.length, 1);
  } finally {
    await s.close();
  }
});

test("sequential requests reuse one connection, and requests over maxSockets wait for it", async () => {
  const s = await httpServer(echo);
  try {
    const f = httpFetch();
    for (let i = 0; i < 5; i++) assert.is((await f(`${s.url}/${i}`)).status, 200);
    assert.is(s.conns.length, 1, "five sequential requests, one connection");
    const one = httpFetch(1);
    const all = await Promise.all([1, 2, 3, 4].map((i) => one(`${s.url}/q${i}`).then((r) => r.json())));
    assert.equal(all.map((a) => (a as { url: string }).url), ["/q1", "/q2", "/q3", "/q4"]);
    assert.is(s.conns.length, 2, "maxSockets 1: four concurrent requests shared one more connection");
  } finally {
    await s.close();
  }
});

test("Connection: close from the server ends the connection, and the next request opens another", async () => {
  const s = await httpServer((_req, _body, res) => res.writeHead(200, { connection: "close" }).end("bye"));
  try {
    const f = httpFetch();
    assert.is(await (await f(`${s.url}/`)).text(), "bye");
    assert.is(await (await f(`${s.url}/`)).text(), "bye");
    assert.is(s.conns.length, 2);
  } finally {
    await s.close();
  }
});

test("an idle connection the server closed is dropped, and the next request succeeds on a new one", async () => {
  const s = await httpServer(echo);
  try {
    const f = httpFetch();
    assert.is((await f(`${s.url}/1`)).status, 200);
    s.conns[0]!.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.is((await f(`${s.url}/2`)).status, 200);
    assert.is(s.conns.length, 2);
  } finally {
    await s.close();
  }
});

test("a reused connection closed before any answer byte is retried once on a new connection", async () => {
  // The keep-alive race, made deterministic: the first connection answers once, then drops the next request.
  const s = await rawServer((sock, n) => {
    if (n === 0) sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    else sock.destroy();
  });
  try {
    const f = httpFetch();
    assert.is(await (await f(`${s.url}/`)).text(), "ok");
    assert.is(await (await f(`${s.url}/`)).text(), "ok");
    assert.is(s.conns.length, 2);
  } finally {
    await s.close();
  }
});

test("a connection closed mid-answer, or before answering on a new connection, rejects with TypeError", async () => {
  const s = await rawServer((sock, _n, conn) => {
    if (conn === 0) sock.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
    else sock.destroy();
  });
  try {
    const f = httpFetch();
    const mid = await rejection(f(`${s.url}/`));
    assert.instance(mid, TypeError);
    assert.match((mid as Error).message, /^fetch failed: /);
    const fresh = await rejection(f(`${s.url}/`));
    assert.instance(fresh, TypeError);
    assert.is(s.conns.length, 2, "a request that failed on a new connection is not retried");
  } finally {
    await s.close();
  }
});

test("aborting the signal rejects with its reason, and the client keeps working", async () => {
  const s = await httpServer((req, body, res) => {
    if (req.url !== "/hang") echo(req, body, res);
  });
  try {
    const f = httpFetch();
    const ac = new AbortController();
    const pending = f(`${s.url}/hang`, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 20));
    const reason = new Error("stop");
    ac.abort(reason);
    assert.is(await rejection(pending), reason);
    assert.is(await rejection(f(`${s.url}/x`, { signal: ac.signal })), reason, "an aborted signal rejects at once");
    assert.is((await f(`${s.url}/after`)).status, 200);
    // A request waiting for a connection (maxSockets 1, the only one busy) leaves the queue when aborted.
    const one = httpFetch(1);
    const busy = new AbortController(), queued = new AbortController();
    const first = one(`${s.url}/hang`, { signal: busy.signal });
    const second = one(`${s.url}/x`, { signal: queued.signal });
    queued.abort(reason);
    assert.is(await rejection(second), reason);
    busy.abort(reason);
    assert.is(await rejection(first), reason);
    assert.is((await one(`${s.url}/after`)).status, 200);
  } finally {
    await s.close();
  }
});

test("a refused connection rejects with TypeError", async () => {
  const s = await httpServer(echo);
  const url = s.url;
  await s.close();
  const err = await rejection(httpFetch()(`${url}/`));
  assert.instance(err, TypeError);
  assert.match((err as Error).message, /^fetch failed: /);
});

test("the SDK runs through it against a real node: put, get, delete", async () => {
  const node = await startNode();
  try {
    const kv = createClient({ endpoints: node.urls, fetch: httpFetch(), timeoutMs: 5000 });
    await kv.put("greeting", { text: "hi", at: new Date(0) });
    const got = await kv.get<{ text: string; at: Date }>("greeting");
    assert.equal(got?.value, { text: "hi", at: new Date(0) });
    assert.ok(got?.context);
    await kv.delete("greeting", { context: got!.context });
    assert.is(await kv.get("greeting"), null);
  } finally {
    await node.close();
  }
});

test.run();
