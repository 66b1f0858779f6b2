/**
 * Hostile requests sent over raw sockets (node:net, on every runtime), so they reach a real `meshkv start`
 * process exactly as written: paths that URL parsing would rewrite, and bodies that never finish. The node
 * runs with short body limits through its documented tuning flags, so no test waits for the defaults.
 */
import { connect } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { realRuntime, tempDir } from "../_helpers.ts";
import { type Answer, answers } from "../_http_answers.ts";
import { type NodeProcess, type RuntimeKind, startProcess } from "../_process.ts";

const rt = await realRuntime();
const kind = rt.name as RuntimeKind;

const LIMITS = { deadlineMs: 2000, rateMin: 200, graceMs: 400 };

interface RawAnswer {
  /** The response head and body as received (empty when the node closed without answering). */
  text: string;
  status: number | null;
  /** Whether the node closed the connection before `waitMs` passed. */
  closed: boolean;
  ms: number;
}

/**
 * Writes `head` (and then `trickle` bytes every `everyMs`, when given) on a new connection and collects what
 * comes back until the node closes it or `waitMs` pass.
 */
function raw(
  port: number,
  head: string,
  o: { waitMs?: number; trickle?: string; everyMs?: number } = {},
): Promise<RawAnswer> {
  const waitMs = o.waitMs ?? 3000;
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, "127.0.0.1");
    let text = "";
    let timer: ReturnType<typeof setInterval> | undefined;
    const finish = (closed: boolean) => {
      clearInterval(timer);
      clearTimeout(give);
      socket.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : null, closed, ms: Date.now() - started });
    };
    const give = setTimeout(() => finish(false), waitMs);
    socket.on("data", (d) => (text += d));
    socket.on("close", () => finish(true));
    socket.on("error", () => {});
    socket.write(head);
    if (o.trickle !== undefined) {
      timer = setInterval(() => socket.writable && socket.write(o.trickle!), o.everyMs ?? 100);
    }
  });
}

/** The response body; a chunked one (Deno cuts its 408 after the first chunk, see src/runtime/deno.ts) unchunked. */
function bodyOf(a: RawAnswer): string {
  const at = a.text.indexOf("\r\n\r\n");
  const body = a.text.slice(at + 4);
  if (!/^transfer-encoding: chunked/im.test(a.text.slice(0, at))) return body;
  let out = "";
  for (let rest = body;;) {
    const eol = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, eol), 16);
    if (!(size > 0)) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}
const codeOf = (a: RawAnswer) => (JSON.parse(bodyOf(a)) as { error: { code: string } }).error.code;

async function startNode(): Promise<{ node: NodeProcess; port: number; data: string }> {
  const data = await tempDir(rt.fs, "raw");
  const node = await startProcess(kind, [
    "start",
    "--port",
    "0",
    "--data",
    data,
    "--replicas",
    "1",
    "--mesh-preset",
    "fast",
    "--body-deadline-ms",
    String(LIMITS.deadlineMs),
    "--body-rate-bytes-per-sec-min",
    String(LIMITS.rateMin),
    "--body-rate-grace-ms",
    String(LIMITS.graceMs),
  ]);
  return { node, port: Number(new URL(node.url).port), data };
}

async function value(url: string, key: string): Promise<string | null> {
  const res = await fetch(`${url}/v1/kv/${encodeURIComponent(key)}`);
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  assert.is(res.status, 200, `GET ${key}`);
  return await res.text();
}

async function put(url: string, key: string, body: string): Promise<number> {
  const res = await fetch(`${url}/v1/kv/${encodeURIComponent(key)}`, { method: "PUT", body });
  await res.body?.cancel();
  return res.status;
}

const request = (method: string, target: string, body = "evil") =>
  `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;

// Deno.serve keeps a connection that still owes request body bytes open after a `Connection: close` answer
// until the client leaves (see src/runtime/deno.ts): there the answer arrives but the socket stays.
const CLOSES_AFTER_408 = kind !== "deno";

/**
 * Sends `requests` one after another on one connection, each once the answer to the one before is whole; a
 * request given as two parts is written in two writes 20 ms apart. Returns the answers (status and head lines), and whether the
 * node closed the connection.
 */
function keptAlive(port: number, requests: string[][]): Promise<{ heads: Answer[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const heads: Answer[] = [];
    let got = "";
    let closed = false;
    const send = async (i: number) => {
      const [first, ...rest] = requests[i]!;
      socket.write(first!);
      for (const part of rest) {
        await new Promise((r) => setTimeout(r, 20));
        socket.write(part);
      }
    };
    socket.on("data", (d) => {
      got += d;
      const whole = answers(got);
      if (whole.length === heads.length) return;
      heads.push(...whole.slice(heads.length));
      if (heads.length === requests.length) {
        socket.destroy();
        resolve({ heads, closed });
      } else void send(heads.length);
    });
    socket.on("close", () => {
      closed = true;
      resolve({ heads, closed });
    });
    socket.on("error", reject);
    void send(0);
  });
}

test(`PUTs of 1 KB values keep their connection alive on ${kind}, body in the head's write or after it`, async () => {
  // Deno.serve before 2.9.6 answered `connection: close` to every request whose body did not come in its first
  // read (denoland/deno#36657), so each such PUT cost a new connection.
  const { node, port, data } = await startNode();
  try {
    const kilobyte = "v".repeat(1000);
    const head = (i: number) =>
      `PUT /v1/kv/kept-${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${kilobyte.length}\r\n\r\n`;
    const requests = Array.from({ length: 12 }, (_, i) => i % 2 === 0 ? [head(i) + kilobyte] : [head(i), kilobyte]);
    const { heads, closed } = await keptAlive(port, requests);
    assert.is(heads.length, requests.length, `answered ${heads.length} of ${requests.length}`);
    assert.not.ok(closed, "the node kept the connection");
    for (const h of heads) {
      assert.match(h.status, /^HTTP\/1\.1 2\d\d /, h.status);
      assert.not.ok(h.head.some((l) => /^connection: *close$/i.test(l)), h.head.join("\n"));
    }
    assert.is(await value(node.url, "kept-0"), kilobyte);
  } finally {
    await node.stop();
    await rt.fs.remove(data, { recursive: true });
  }
});

test(`a raw path with dot segments, backslashes or # is refused with 400 BAD_PATH on ${kind} and the key it would reach is untouched`, async () => {
  const { node, port, data } = await startNode();
  try {
    assert.ok([201, 204].includes(await put(node.url, "victim", "original")));
    const hostile: [string, string][] = [
      ["PUT", "/v1/kv/zz/../victim"],
      ["PUT", "/v1/kv/zz/%2e%2e/victim"],
      ["PUT", "/v1/kv/zz/%2E./victim"],
      ["PUT", "/v1/kv/zz/.%2e/victim"],
      ["PUT", "/v1/kv/./victim"],
      ["PUT", "/v1/kv/zz\\..\\victim"],
      ["PUT", "/v1/kv/victim#suffix"],
      ["PUT", "/v1/kv/zz/../victim?consistency=one"],
      ["PUT", "http://127.0.0.1/v1/kv/zz/../victim"],
      ["DELETE", "/v1/kv/zz/../victim"],
      ["POST", "/v1/kv/../batch"],
      ["GET", "/v1/admin/../kv/victim"],
      ["PUT", `/v1/kv/${"d/".repeat(40)}${"../".repeat(40)}victim`],
    ];
    for (const [method, target] of hostile) {
      const body = method === "POST" ? JSON.stringify({ ops: [{ op: "put", key: "victim", value: "evil" }] }) : "evil";
      const a = await raw(port, request(method, target, body));
      assert.is(a.status, 400, `${method} ${target}: ${a.text}`);
      assert.is(codeOf(a), "BAD_PATH", `${method} ${target}`);
      assert.is(await value(node.url, "victim"), "original", `${method} ${target} left victim alone`);
    }
    // Dots the client percent-encoded together with the slashes are part of the key, not path segments.
    const encoded = await raw(port, request("PUT", "/v1/kv/zz%2F..%2Fvictim", "own key"));
    assert.is(encoded.status, 201, encoded.text);
    assert.is(await value(node.url, "zz/../victim"), "own key");
    for (
      const [target, key] of [["/v1/kv/back%5Cslash", "back\\slash"], ["/v1/kv/a%20b%2Fc%3Fd", "a b/c?d"], [
        "/v1/kv/%C3%A9t%C3%A9",
        "été",
      ]]
    ) {
      const ok = await raw(port, request("PUT", target!, "v"));
      assert.is(ok.status, 201, `${target}: ${ok.text}`);
      assert.is(await value(node.url, key!), "v", `${target} is the key ${key}`);
    }
    assert.is(await value(node.url, "victim"), "original");
  } finally {
    await node.stop();
    await rt.fs.remove(data, { recursive: true });
  }
});

test(`a body that stops short of its Content-Length gets 408 BODY_TIMEOUT on ${kind}, holds no lock on its key, and the node keeps serving`, async () => {
  const { node, port, data } = await startNode();
  try {
    const head = "PUT /v1/kv/stalled HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n0123456789";
    const stalled = raw(port, head, { waitMs: LIMITS.deadlineMs + 4000 });
    // While it hangs: other requests, including a write to the very key the stalled request names, go through.
    await new Promise((r) => setTimeout(r, 100));
    assert.is(await put(node.url, "other", "fine"), 201);
    assert.is(await value(node.url, "other"), "fine");
    assert.is(await put(node.url, "stalled", "written meanwhile"), 201);
    const a = await stalled;
    assert.is(a.status, 408, a.text || "no answer");
    assert.is(codeOf(a), "BODY_TIMEOUT");
    assert.match(a.text.toLowerCase(), "connection: close");
    if (CLOSES_AFTER_408) {
      assert.ok(a.closed, `the node closed the connection after answering: ${JSON.stringify(a.text)}`);
    }
    // 1000 bytes at the minimum rate of 200 bytes/s after a 400 ms grace: due at 5.4 s, so the deadline cuts first.
    assert.ok(a.ms >= LIMITS.deadlineMs - 100, `answered after ${a.ms} ms`);
    if (CLOSES_AFTER_408) assert.ok(a.ms < LIMITS.deadlineMs + 2000, `answered and closed after ${a.ms} ms`);
    assert.is(JSON.parse(bodyOf(a)).error.limit, "bodyDeadlineMs");
    assert.is(await value(node.url, "stalled"), "written meanwhile");
  } finally {
    await node.stop();
    await rt.fs.remove(data, { recursive: true });
  }
});

test(`a chunked body that trickles below the minimum rate gets 408 BODY_TIMEOUT on ${kind} soon after the grace window`, async () => {
  const { node, port, data } = await startNode();
  try {
    const head = "PUT /v1/kv/trickled HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n";
    // One byte every 100 ms is 10 bytes/s, far under 200 bytes/s: the rate rule fires before the deadline.
    const a = await raw(port, head, { waitMs: LIMITS.deadlineMs + 4000, trickle: "1\r\na\r\n", everyMs: 100 });
    assert.is(a.status, 408, a.text || "no answer");
    assert.is(codeOf(a), "BODY_TIMEOUT");
    assert.is(JSON.parse(bodyOf(a)).error.limit, "bodyRateBytesPerSecMin");
    if (CLOSES_AFTER_408) {
      assert.ok(a.ms < LIMITS.deadlineMs, `answered and closed after ${a.ms} ms, before the deadline`);
    }
    if (CLOSES_AFTER_408) {
      assert.ok(a.closed, `the node closed the connection after answering: ${JSON.stringify(a.text)}`);
    }
    assert.is(await value(node.url, "trickled"), null);
  } finally {
    await node.stop();
    await rt.fs.remove(data, { recursive: true });
  }
});

test(`a chunked body fast enough but never ending gets 408 at bodyDeadlineMs on ${kind}`, async () => {
  const { node, port, data } = await startNode();
  try {
    const head = "PUT /v1/kv/endless HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    // 100 bytes every 100 ms is 1000 bytes/s, above the minimum rate, for 2 s: under valueBytesMax, never done.
    const a = await raw(port, head, {
      waitMs: LIMITS.deadlineMs + 4000,
      trickle: `64\r\n${"x".repeat(100)}\r\n`,
      everyMs: 100,
    });
    assert.is(a.status, 408, a.text || "no answer");
    assert.is(JSON.parse(bodyOf(a)).error.limit, "bodyDeadlineMs", bodyOf(a));
    assert.ok(a.ms >= LIMITS.deadlineMs - 100, `answered after ${a.ms} ms`);
    assert.is(await value(node.url, "endless"), null);
    assert.is(await put(node.url, "after", "still serving"), 201);
  } finally {
    await node.stop();
    await rt.fs.remove(data, { recursive: true });
  }
});

test(`a body no route reads to its end (no such route, or over its size limit) is answered at once on ${kind} with Connection: close`, async () => {
  const { node, port, data } = await startNode();
  try {
    const cases: [string, number, string][] = [
      ["POST /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n0123456789", 404, "NOT_FOUND"],
      [
        "PUT /v1/kv/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000000\r\n\r\n0123456789",
        413,
        "LIMIT_EXCEEDED",
      ],
    ];
    for (const [head, status, code] of cases) {
      const a = await raw(port, head, { waitMs: 1500 });
      assert.is(a.status, status, a.text || "no answer");
      assert.is(codeOf(a), code);
      assert.match(a.text.toLowerCase(), "connection: close");
      if (CLOSES_AFTER_408) assert.ok(a.closed && a.ms < 1000, `closed after ${a.ms} ms: ${JSON.stringify(a.text)}`);
    }
    assert.is(await value(node.url, "big"), null);
  } finally {
    await node.stop();
    await rt.fs.remove(data, { recursive: true });
  }
});

test.run();
