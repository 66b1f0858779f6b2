/**
 * Batch frames and the per-link deadline timer (`src/mesh/link.ts`), on the simulated network with a manual
 * clock: frames written in one turn leave as one WebSocket message, in order and within their bounds; an idle
 * link's request is not held back; a peer that never announced batch frames never gets one; a bad batch
 * closes the link; requests time out within the stated lateness with one timer per link, not one per request.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "@msgpack/msgpack";
import { isMeshkvError } from "../../src/errors.ts";
import { decodeFrame, type Frame } from "../../src/mesh/codec.ts";
import { CLOSE } from "../../src/mesh/handshake.ts";
import { BATCH_FRAMES_MAX, MESSAGE_KINDS } from "../../src/mesh/kinds.ts";
import { Mesh } from "../../src/mesh/mesh.ts";
import type { MeshSettings } from "../../src/mesh/settings.ts";
import { eventually, realRuntime } from "../_helpers.ts";
import { type World, world } from "./_pair.ts";

interface Sent {
  from: string;
  bytes: number;
  frame: Frame | null;
}
type Transmit = (src: { local: string }, data: Uint8Array) => void;

/**
 * Records every WebSocket message the network carries. `rewrite` may replace a message's bytes, or drop it by
 * returning null (a peer that does not send something).
 */
function tap(w: World, rewrite?: (from: string, data: Uint8Array, frame: Frame | null) => Uint8Array | null): Sent[] {
  const sent: Sent[] = [];
  const net = w.net as unknown as { _transmit: Transmit };
  const original: Transmit = net._transmit.bind(w.net);
  net._transmit = (src, data) => {
    let frame: Frame | null = null;
    try {
      frame = decodeFrame(data);
    } catch {
      // handshake garbage tests aside, every message decodes; keep the record anyway
    }
    const out = rewrite ? rewrite(src.local, data, frame) : data;
    if (out === null) return;
    sent.push({ from: src.local, bytes: out.length, frame });
    original(src, out);
  };
  return sent;
}

/** Frames inside a message (a batch's, or the frame itself). */
const framesOf = (s: Sent) => (s.frame?.type === "batch" ? s.frame.frames : s.frame ? [s.frame] : []);

/** Two meshes on links with a fixed 1 ms delay, the link up and both ends' features exchanged. */
async function warmPair(settings: Partial<MeshSettings> = {}, rewrite?: Parameters<typeof tap>[1]) {
  const w = world(11);
  w.net.setDefaults({ delayMs: 1, jitterMs: 0 });
  const sent = tap(w, rewrite);
  const a = (await w.add("a", { settings })).mesh;
  const b = (await w.add("b", { settings })).mesh;
  a.setAddress("b", "b:7000");
  b.onRequest("echo", (body) => body);
  const warm = a.request("b", "echo", "warm");
  await w.clock.advance(20);
  assert.is(await warm, "warm");
  sent.length = 0;
  return { w, a, b, sent };
}

const echoes = (a: Mesh, n: number, body: (i: number) => unknown) =>
  Array.from({ length: n }, (_, i) => a.request("b", "echo", body(i)));

test("requests written in one turn leave as one batch frame and their replies come back as one, in order", async () => {
  const { w, a, b, sent } = await warmPair();
  const seen: unknown[] = [];
  b.onMessage("gossip", (body) => seen.push(`gossip ${body}`));
  b.onRequest("sync", (body) => {
    seen.push(`sync ${body}`);
    return body;
  });
  const replies: Promise<unknown>[] = [];
  for (let i = 0; i < 10; i++) {
    if (i % 3 === 0) void a.send("b", "gossip", i);
    replies.push(a.request("b", "sync", i));
  }
  await w.clock.advance(5);
  assert.equal(await Promise.all(replies), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(seen, [
    "gossip 0",
    "sync 0",
    "sync 1",
    "sync 2",
    "gossip 3",
    "sync 3",
    "sync 4",
    "sync 5",
    "gossip 6",
    "sync 6",
    "sync 7",
    "sync 8",
    "gossip 9",
    "sync 9",
  ]);
  assert.equal(sent.map((s) => [s.from, s.frame?.type, framesOf(s).length]), [["a", "batch", 14], ["b", "batch", 10]]);
  assert.ok(a.links()[0]!.batching && b.links()[0]!.batching);
  assert.is(a.links()[0]!.socketMessagesOut, a.links()[0]!.framesOut - 13, "fourteen frames took one message");
});

test("an idle link's single request is written at once: the reply comes after exactly one round trip", async () => {
  const { w, a, sent } = await warmPair();
  const start = w.clock.monotonic();
  let at = -1;
  const reply = a.request("b", "echo", "one").then((r) => {
    at = w.clock.monotonic();
    return r;
  });
  await w.clock.advance(2);
  assert.is(await reply, "one");
  assert.is(at - start, 2, "two 1 ms hops, nothing added");
  assert.equal(sent.map((s) => s.frame?.type), ["request", "response"], "a lone frame is not wrapped in a batch");
  const many = echoes(a, 5, (i) => i);
  await w.clock.advance(2);
  assert.equal(await Promise.all(many), [0, 1, 2, 3, 4], "a batch costs no extra time either");
});

test("a batch holds at most batchMessagesMax frames", async () => {
  const { w, a, sent } = await warmPair({ batchMessagesMax: 4 });
  const replies = echoes(a, 10, (i) => i);
  await w.clock.advance(5);
  assert.equal(await Promise.all(replies), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(sent.filter((s) => s.from === "a").map((s) => framesOf(s).length), [4, 4, 2]);
  assert.equal(sent.filter((s) => s.from === "b").map((s) => framesOf(s).length), [4, 4, 2]);
});

test("a batch holds at most batchBytesMax bytes, and a frame bigger than that goes alone, in its place", async () => {
  const { w, a, sent } = await warmPair({ batchBytesMax: 1000 });
  const sizes = [300, 300, 300, 300, 5000, 300, 300];
  const replies = echoes(a, sizes.length, (i) => `${i}`.padEnd(sizes[i]!, "."));
  await w.clock.advance(5);
  assert.equal((await Promise.all(replies)).map((r) => (r as string).length), sizes);
  const fromA = sent.filter((s) => s.from === "a");
  assert.equal(fromA.map((s) => [s.frame?.type, framesOf(s).length]), [["batch", 3], ["request", 1], ["request", 1], [
    "batch",
    2,
  ]]);
  assert.ok(
    fromA.filter((s) => s.frame?.type === "batch").every((s) => s.bytes <= 1000 + 6),
    JSON.stringify(fromA.map((s) => s.bytes)),
  );
  assert.ok(fromA[2]!.bytes > 5000, "the big frame went alone");
  const ids = fromA.flatMap((s) => framesOf(s).map((f) => (f as { id: number }).id));
  assert.equal(ids, [...ids].sort((x, y) => x - y), "frames keep their order");
});

test("batchMessagesMax 1 turns batching off: every frame is its own message", async () => {
  const { w, a, sent } = await warmPair({ batchMessagesMax: 1 });
  const replies = echoes(a, 5, (i) => i);
  await w.clock.advance(5);
  await Promise.all(replies);
  assert.equal(sent.map((s) => s.frame?.type), [...Array(5).fill("request"), ...Array(5).fill("response")]);
  assert.is(a.links()[0]!.batching, false);
});

test("a peer that never announced batch frames (an older node) gets every frame on its own", async () => {
  // b stands for a node from before batch frames: its linkFeatures message never leaves.
  const { w, a, b, sent } = await warmPair({}, (from, data, frame) => {
    const announces = (f: Frame | null) => f?.type === "oneway" && f.kind === MESSAGE_KINDS.linkFeatures;
    return from === "b" && announces(frame) ? null : data;
  });
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  a.onRequest("sync", async (body) => {
    await gate;
    return body;
  });
  b.setAddress("a", "a:7000");
  const fromB = [0, 1, 2].map((i) => b.request("a", "sync", i));
  const fromA = echoes(a, 3, (i) => i);
  await w.clock.advance(5);
  release();
  await w.clock.advance(5);
  assert.equal([await Promise.all(fromA), await Promise.all(fromB)], [[0, 1, 2], [0, 1, 2]]);
  assert.is(a.links()[0]!.batching, false);
  assert.ok(b.links()[0]!.batching, "b heard a's announcement, so b still batches to a");
  assert.equal(sent.filter((s) => s.from === "a").map((s) => s.frame?.type), [
    "request",
    "request",
    "request",
    "response",
    "response",
    "response",
  ]);
  assert.equal(sent.filter((s) => s.from === "b").map((s) => [s.frame?.type, framesOf(s).length]), [
    ["batch", 3],
    ["response", 1],
    ["response", 1],
    ["response", 1],
  ]);
});

test("a malformed or oversized batch closes the link with a protocol error, failing what is pending, and the node carries on", async () => {
  const bad = [
    encode([7, ...Array.from({ length: BATCH_FRAMES_MAX + 1 }, (_, i) => [4, 1000 + i, null])]),
    encode([7, [4, 1000, null], [2, new Uint8Array(32)]]),
    encode([7, [4, 1000, null], "not a frame"]),
    encode([7]),
  ];
  for (const bytes of bad) {
    let inject = false;
    let closedWith: number | null = null;
    const { w, a, b } = await warmPair({}, (from, data) => {
      if (from !== "b" || !inject) return data;
      inject = false;
      return bytes;
    });
    b.onRequest("sync", () => new Promise(() => {}));
    b.onLink((e) => e.type === "down" && (closedWith = CLOSE.protocol));
    const pending = a.request("b", "sync", 1).catch((e) => e);
    await w.clock.advance(5);
    inject = true;
    await b.send("a", "gossip", "carrier");
    await w.clock.advance(5);
    const err = await pending;
    assert.ok(isMeshkvError(err, "CONNECTION_CLOSED"), String(err));
    assert.match(String((err as Error).message), /4002|Malformed/);
    assert.ok(w.logs.some((l) => /^a warn Closing mesh link to b: Malformed mesh frame/.test(l)), w.logs.join("\n"));
    assert.is(closedWith, CLOSE.protocol, "b saw the link go down");
    const again = a.request("b", "echo", "after");
    await w.clock.advance(50);
    assert.is(await again, "after", "a new link works");
  }
});

test("a socket that fails to send a batch ends the link and fails its requests, and the node carries on", async () => {
  let fail = false;
  const { w, a } = await warmPair({}, (from, data) => {
    if (from === "a" && fail) throw new TypeError("socket broke");
    return data;
  });
  fail = true;
  const lost = echoes(a, 3, (i) => i).map((p) => p.catch((e) => e));
  await w.clock.advance(5);
  for (const err of await Promise.all(lost)) assert.ok(isMeshkvError(err, "CONNECTION_CLOSED"), String(err));
  assert.ok(
    w.logs.some((l) => /^a warn Closing mesh link to b: sending failed: socket broke/.test(l)),
    w.logs.join("\n"),
  );
  fail = false;
  const again = a.request("b", "echo", "after");
  await w.clock.advance(50);
  assert.is(await again, "after");
});

test("requests fail with TIMEOUT no earlier than their deadline and at most timeoutLatenessMaxMs after it", async () => {
  const { w, a, b } = await warmPair({ timeoutLatenessMaxMs: 10 });
  b.onRequest("sync", () => new Promise(() => {}));
  const round = async (timeouts: number[]) => {
    const start = w.clock.monotonic();
    const failedAt = new Map<number, number>();
    const all = timeouts.map((ms) =>
      a.request("b", "sync", ms, { timeoutMs: ms }).then(
        () => assert.unreachable("no reply was sent"),
        (err) => {
          assert.ok(isMeshkvError(err, "TIMEOUT"), String(err));
          failedAt.set(ms, w.clock.monotonic() - start);
        },
      )
    );
    for (let t = 0; t < 260; t += 1) await w.clock.advance(1);
    await Promise.all(all);
    for (const ms of timeouts) {
      const at = failedAt.get(ms)!;
      assert.ok(at >= ms && at <= ms + 10, `timeout ${ms} ms failed at ${at} ms`);
    }
    return failedAt;
  };
  const first = await round([100, 95, 120, 200, 205]);
  assert.equal(
    [...first].sort((x, y) => x[0] - y[0]),
    [[95, 100], [100, 100], [120, 120], [200, 200], [205, 205]],
    "a deadline 5 ms before the armed one waits for it",
  );
  const second = await round([100, 50]);
  assert.equal(
    [...second].sort((x, y) => x[0] - y[0]),
    [[50, 50], [100, 100]],
    "a deadline more than 10 ms before the armed one re-arms the timer",
  );
  assert.is(a.links()[0]!.inFlight, 0);
});

test("a link keeps one deadline timer however many requests are pending, and none once they are answered", async () => {
  const { w, a, b } = await warmPair();
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  b.onRequest("sync", async (body) => {
    await gate;
    return body;
  });
  await w.clock.advance(10);
  const idle = w.clock.pending;
  const replies = Array.from({ length: 200 }, (_, i) => a.request("b", "sync", i, { timeoutMs: 1000 + (i % 7) }));
  await w.clock.advance(5);
  assert.is(w.clock.pending, idle + 1, "one timer for 200 requests");
  release();
  await w.clock.advance(5);
  assert.is((await Promise.all(replies)).length, 200);
  assert.is(w.clock.pending, idle, "no timer once nothing is pending");
});

test("over real WebSockets on this runtime, a burst of requests leaves in a few batch frames and every reply comes back intact", async () => {
  const rt = await realRuntime();
  const settings = { batchMessagesMax: 32 };
  const make = (id: string) =>
    new Mesh({
      nodeId: id,
      cluster: "test",
      secret: "s3cret-real",
      datacenter: "dc1",
      runtime: rt,
      random: rt.random(),
      settings,
    });
  const server = make("server");
  server.onRequest("echo", (body) => body);
  const http = await rt.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response("ok"),
    websocket: server.websocket(),
  });
  const client = make("client");
  try {
    client.setAddress("server", `127.0.0.1:${http.port}`);
    assert.is(await client.request("server", "echo", "warm"), "warm");
    await eventually(() => client.links()[0]?.batching === true, 2000, 5, "the server's linkFeatures");
    const before = client.links()[0]!;
    const bodies = Array.from(
      { length: 200 },
      (_, i) => (i === 77 ? "big".repeat(5000) : { i, pad: "x".repeat(i % 50) }),
    );
    const replies = await Promise.all(bodies.map((b) => client.request("server", "echo", b)));
    assert.equal(replies, bodies);
    const after = client.links()[0]!;
    const frames = after.framesOut - before.framesOut;
    const messages = after.socketMessagesOut - before.socketMessagesOut;
    assert.is(frames, 200);
    assert.ok(messages < 40, `200 frames took ${messages} WebSocket messages`);
    assert.ok(
      server.links()[0]!.socketMessagesOut < server.links()[0]!.framesOut / 4,
      JSON.stringify(server.links()[0]),
    );
  } finally {
    client.close();
    server.close();
    await http.close();
  }
});

test.run();
