/**
 * Peer links through the mesh: request/response, one-way messages, deadlines, bounds, authentication,
 * hostile input, duplicate links and reconnects, on the simulated network with a manual clock.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encode } from "@msgpack/msgpack";
import { isMeshkvError, MeshkvError } from "../../src/errors.ts";
import { CLOSE } from "../../src/mesh/handshake.ts";
import { rejectsWith } from "../_helpers.ts";
import { world } from "./_pair.ts";

async function pair(seed = 1) {
  const w = world(seed);
  const a = await w.add("a");
  const b = await w.add("b");
  a.mesh.setAddress("b", b.address);
  b.mesh.setAddress("a", a.address);
  return { w, a: a.mesh, b: b.mesh, bServer: b.server };
}

test("request() resolves with the peer handler's reply and send() delivers one-way messages", async () => {
  const { w, a, b } = await pair();
  b.onRequest("echo", (body, from) => ({ body, from: from.nodeId }));
  const got: unknown[] = [];
  b.onMessage("gossip", (body) => got.push(body));
  const reply = a.request("b", "echo", { x: [1, 2, new Uint8Array([3])] });
  await w.clock.advance(50);
  assert.equal(await reply, { body: { x: [1, 2, new Uint8Array([3])] }, from: "a" });
  await a.send("b", "gossip", "hi");
  await w.clock.advance(10);
  assert.equal(got, ["hi"]);
  assert.is(a.links().length, 1);
  assert.is(b.links()[0]!.peer, "a");
});

test("a handler's MeshkvError reaches the caller with its code; a missing handler is UNSUPPORTED", async () => {
  const { w, a, b } = await pair();
  b.onRequest("echo", () => {
    throw new MeshkvError("QUORUM_UNMET", "Not enough replicas: 1 of 2");
  });
  const p1 = a.request("b", "echo", null).catch((e) => e);
  const p2 = a.request("b", "sync", null).catch((e) => e);
  await w.clock.advance(50);
  const e1 = await p1;
  assert.ok(isMeshkvError(e1, "QUORUM_UNMET"), String(e1));
  assert.is(e1.message, "Not enough replicas: 1 of 2");
  assert.ok(isMeshkvError(await p2, "UNSUPPORTED"));
});

test("a request with no reply fails with TIMEOUT after its deadline, and a late reply is ignored", async () => {
  const { w, a, b } = await pair();
  let release: (v: unknown) => void = () => {};
  b.onRequest("echo", () => new Promise((r) => (release = r)));
  b.onRequest("ping", () => "pong");
  const warm = a.request("b", "ping", null);
  await w.clock.advance(50);
  await warm;
  const p = a.request("b", "echo", 1, { timeoutMs: 300 }).catch((e) => e);
  await w.clock.advance(299);
  let settled = false;
  p.then(() => (settled = true));
  await w.clock.advance(0);
  assert.is(settled, false, "not before the deadline");
  await w.clock.advance(2);
  const err = await p;
  assert.ok(isMeshkvError(err, "TIMEOUT"), String(err));
  release("late");
  await w.clock.advance(10);
  assert.is(a.links()[0]!.inFlight, 0);
});

test("going over inFlightMax or queuedBytesMax fails fast with OVERLOADED instead of buffering", async () => {
  const w = world(2);
  const a = (await w.add("a", { settings: { inFlightMax: 2, queuedBytesMax: 10_000 } })).mesh;
  const b = (await w.add("b")).mesh;
  a.setAddress("b", "b:7000");
  b.onRequest("echo", () => new Promise(() => {}));
  const p1 = a.request("b", "echo", 1).catch(() => {});
  const p2 = a.request("b", "echo", 2).catch(() => {});
  await w.clock.advance(20);
  await rejectsWith(() => a.request("b", "echo", 3), "OVERLOADED");
  await rejectsWith(() => a.send("b", "gossip", new Uint8Array(20_000)), "OVERLOADED");
  a.close();
  await Promise.all([p1, p2]);
});

test("a peer with the wrong secret, cluster name or protocol is refused before any request", async () => {
  for (const [label, over] of [["secret", { secret: "wrong" }], ["cluster", { cluster: "other" }]] as const) {
    const w = world(3);
    const a = (await w.add("a")).mesh;
    const bad = (await w.add("x", over)).mesh;
    let called = false;
    a.onRequest("echo", () => (called = true));
    const p = bad.connect("a:7000").catch((e) => e);
    await w.clock.advance(100);
    const err = await p;
    assert.ok(isMeshkvError(err), `${label}: ${err}`);
    assert.is(called, false);
    assert.is(a.links().length, 0, `${label}: no link registered`);
    assert.ok(w.logs.some((l) => l.startsWith("a warn") && /refused/.test(l)), `${label}: ${w.logs.join("\n")}`);
  }
});

test("a request to a peer whose handshake fails (wrong secret) rejects with CONNECT_FAILED, the refusal as its cause", async () => {
  const w = world(5);
  const a = (await w.add("a")).mesh;
  const bad = (await w.add("x", { secret: "wrong" })).mesh;
  a.onRequest("echo", (x) => x);
  bad.setAddress("a", "a:7000");
  const p = bad.request("a", "echo", "hi").catch((e) => e);
  await w.clock.advance(100);
  const err = await p;
  assert.ok(isMeshkvError(err, "CONNECT_FAILED"), String(err));
  assert.match(String((err as Error).message), /Could not connect to peer a/);
  assert.ok(isMeshkvError((err as Error).cause), "the handshake's own error is kept as the cause");
});

test("garbage, an unexpected frame or an oversized frame closes that connection and the node keeps serving", async () => {
  const w = world(4);
  const a = await w.add("a", { settings: { frameBytesMax: 1024 } });
  const b = (await w.add("b")).mesh;
  a.mesh.onRequest("echo", (x) => x);
  const samples = [
    new Uint8Array([0xc1, 0xff, 0x00, 0x13]),
    encode([3, 1, 5, "request before the handshake"]),
    encode("just a string"),
    new Uint8Array(4096),
  ];
  for (const bytes of samples) {
    const dialing = w.net.dial("evil", "ws://a:7000/mesh", { maxMessageBytes: 1 << 20, timeoutMs: 1000 });
    await w.clock.advance(10);
    const s = await dialing;
    let closed: number | null = null;
    s.setHandlers({ message: () => {}, close: (code) => (closed = code) });
    s.send(bytes);
    await w.clock.advance(20);
    assert.ok(closed !== null && closed >= 1002, `closed with ${closed}`);
  }
  const dialing = w.net.dial("evil", "ws://a:7000/mesh", { maxMessageBytes: 1 << 20, timeoutMs: 1000 });
  await w.clock.advance(10);
  const silent = await dialing;
  let closedSilent: number | null = null;
  silent.setHandlers({ message: () => {}, close: (code) => (closedSilent = code) });
  await w.clock.advance(5100);
  assert.is(closedSilent, CLOSE.policy, "a silent connection is closed at the handshake deadline");
  b.setAddress("a", "a:7000");
  const reply = b.request("a", "echo", "still here");
  await w.clock.advance(50);
  assert.is(await reply, "still here");
});

test("simultaneous dials leave exactly one link, the one the lower id dialed, on both ends", async () => {
  for (let seed = 1; seed <= 10; seed++) {
    const { w, a, b } = await pair(seed);
    a.onRequest("echo", (x) => x);
    b.onRequest("echo", (x) => x);
    const p1 = a.request("b", "echo", "ab");
    const p2 = b.request("a", "echo", "ba");
    await w.clock.advance(100);
    assert.equal([await p1, await p2], ["ab", "ba"]);
    const la = a.links().filter((l) => l.open);
    const lb = b.links().filter((l) => l.open);
    assert.is(la.length, 1, `seed ${seed}: ${JSON.stringify(a.links())}`);
    assert.is(lb.length, 1);
    assert.is(la[0]!.role, "dial", "a < b, so a's dial wins");
    assert.is(lb[0]!.role, "accept");
  }
});

test("a dropped link is redialed with backoff, and pending requests fail with CONNECTION_CLOSED", async () => {
  const { w, a, b } = await pair(5);
  b.onRequest("echo", () => new Promise(() => {}));
  a.onRequest("echo", (x) => x);
  const ups: string[] = [];
  a.onLink((e) => ups.push(`${e.type}:${e.peer}`));
  const pending = a.request("b", "echo", 1).catch((e) => e);
  await w.clock.advance(20);
  w.net.crash("b");
  await w.clock.advance(20);
  assert.ok(isMeshkvError(await pending, "CONNECTION_CLOSED"));
  b.close();
  const b2 = (await w.add("b")).mesh;
  b2.onRequest("echo", (x) => x);
  await w.clock.advance(3000);
  assert.ok(a.isConnected("b"), `a redialed b: ${ups}`);
  assert.equal(ups.slice(0, 3), ["up:b", "down:b", "up:b"]);
  const r = b2.request("a", "echo", "back");
  await w.clock.advance(20);
  assert.is(await r, "back");
});

test("requests to a peer with no address fail with CONNECT_FAILED, and failed dials back off", async () => {
  const w = world(6);
  const a = (await w.add("a")).mesh;
  await rejectsWith(() => a.request("nobody", "echo", 1), "CONNECT_FAILED");
  a.setAddress("ghost", "ghost:7000");
  const p = a.request("ghost", "echo", 1).catch((e) => e);
  await w.clock.advance(50);
  assert.ok(isMeshkvError(await p, "CONNECT_FAILED"));
  const again = await a.request("ghost", "echo", 1).catch((e) => e);
  assert.match((again as Error).message, /next attempt in/);
});

test("close() rejects new work with CLOSED and closes links", async () => {
  const { w, a, b } = await pair(7);
  b.onRequest("echo", (x) => x);
  const r = a.request("b", "echo", 1);
  await w.clock.advance(20);
  await r;
  a.close();
  await w.clock.advance(20);
  assert.is(b.links().length, 0);
  await rejectsWith(() => a.request("b", "echo", 1), "CLOSED");
});

test.run();
