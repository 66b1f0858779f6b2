/**
 * Mesh links moving to a peer's plain-TCP port (`mesh.ts`, "Plain TCP"), on the simulated network with a manual
 * clock: the move, what stays on WebSockets, falling back when the port fails, and redialing straight to it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isMeshkvError } from "../../src/errors.ts";
import { PeerLink } from "../../src/mesh/link.ts";
import type { LinkStatus } from "../../src/mesh/mesh.ts";
import { MESH_DEFAULTS } from "../../src/mesh/settings.ts";
import { ManualClock, socketPair } from "../../src/runtime/memory.ts";
import type { PeerSocket } from "../../src/runtime/types.ts";
import { world } from "./_pair.ts";

async function pair(o: { aTcp?: boolean; bTcp?: boolean; seed?: number } = {}) {
  const w = world(o.seed ?? 1);
  const a = await w.add("a", { tcp: o.aTcp ?? true });
  const b = await w.add("b", { tcp: o.bTcp ?? true });
  a.mesh.setAddress("b", b.address);
  b.mesh.setAddress("a", a.address);
  for (const m of [a.mesh, b.mesh]) m.onRequest("echo", (x) => x);
  return { w, a, b };
}

const open = (links: LinkStatus[]) => links.filter((l) => l.open).map((l) => `${l.peer}:${l.role}:${l.transport}`);

test("a link dialed as a WebSocket moves to the peer's TCP port; requests in flight during the move are answered", async () => {
  const { w, a, b } = await pair();
  let release!: (v: unknown) => void;
  b.mesh.onRequest("sync", () => new Promise((r) => (release = r)));
  const first = a.mesh.request("b", "echo", "over the websocket");
  const slow = a.mesh.request("b", "sync", null);
  await w.clock.advance(20);
  assert.is(await first, "over the websocket");
  await w.clock.advance(50);
  // The WebSocket link is retiring: it stays open only for the request it still owes.
  assert.equal(open(a.mesh.links()), ["b:dial:websocket", "b:dial:tcp"], JSON.stringify(a.mesh.links()));
  assert.equal(a.mesh.links().map((l) => l.inFlight), [1, 0]);
  release("answered on the retired link");
  await w.clock.advance(20);
  assert.is(await slow, "answered on the retired link");
  assert.equal(open(a.mesh.links()), ["b:dial:tcp"]);
  assert.equal(open(b.mesh.links()), ["a:accept:tcp"]);
  const messagesBefore = w.net.stats.messages;
  const r = a.mesh.request("b", "echo", "over tcp");
  await w.clock.advance(20);
  assert.is(await r, "over tcp");
  assert.is(w.net.stats.messages - messagesBefore, 2, "one request, one reply");
  assert.is(a.mesh.tcpPort, a.tcp!.port);
});

test("requests the accepting end sends every millisecond while the link moves all succeed (it waits for linkRetire)", async () => {
  // The dialer finishes the new link's handshake first and retires the old link while the acceptor still sends on
  // it: closing the old link once idle would fail the acceptor's requests on their way.
  for (let seed = 1; seed <= 5; seed++) {
    const { w, a, b } = await pair({ seed });
    w.net.setDefaults({ delayMs: 20, jitterMs: 5 });
    const first = a.mesh.request("b", "echo", "opens the link");
    const sent: Promise<unknown>[] = [];
    for (let ms = 0; ms < 300; ms++) {
      if (b.mesh.isConnected("a")) sent.push(b.mesh.request("a", "echo", `b${ms}`).catch((e) => e));
      await w.clock.advance(1);
    }
    assert.is(await first, "opens the link");
    assert.ok(sent.length > 200, `${sent.length} requests`);
    await w.clock.advance(200);
    const failed = (await Promise.all(sent)).filter((r) => typeof r !== "string");
    assert.equal(failed.map(String), [], `seed ${seed}`);
    assert.equal(open(a.mesh.links()), ["b:dial:tcp"], `seed ${seed}`);
    assert.equal(open(b.mesh.links()), ["a:accept:tcp"]);
  }
});

test("when both ends dial at once and both links move, requests sent every millisecond both ways all succeed", async () => {
  // Links are retired here before the peer's linkFeatures came (a tie-break right after the handshake): such a
  // link must still wait for the peer's linkRetire rather than close once idle.
  for (let seed = 1; seed <= 20; seed++) {
    const { w, a, b } = await pair({ seed });
    w.net.setDefaults({ delayMs: 10, jitterMs: 10 });
    const sent: Promise<unknown>[] = [];
    for (let ms = 0; ms < 200; ms++) {
      sent.push(a.mesh.request("b", "echo", `a${ms}`).catch((e) => e));
      sent.push(b.mesh.request("a", "echo", `b${ms}`).catch((e) => e));
      await w.clock.advance(1);
    }
    await w.clock.advance(300);
    const failed = (await Promise.all(sent)).filter((r) => typeof r !== "string");
    assert.equal(failed.map(String), [], `seed ${seed}`);
    assert.equal(open(a.mesh.links()), ["b:dial:tcp"], `seed ${seed}`);
    assert.equal(open(b.mesh.links()), ["a:accept:tcp"], `seed ${seed}`);
  }
});

test("the peer that dialed moves the link, whichever id is lower", async () => {
  const { w, a, b } = await pair({ seed: 2 });
  const r = b.mesh.request("a", "echo", 1);
  await w.clock.advance(100);
  assert.is(await r, 1);
  assert.equal(open(b.mesh.links()), ["a:dial:tcp"]);
  assert.equal(open(a.mesh.links()), ["b:accept:tcp"]);
});

test("a seed dialed by address alone (its id not known yet) moves to its TCP port too", async () => {
  for (let seed = 1; seed <= 5; seed++) {
    const w = world(seed);
    const a = await w.add("a", { tcp: true });
    const b = await w.add("b", { tcp: true });
    const id = a.mesh.connect(b.address);
    await w.clock.advance(100);
    assert.is(await id, "b");
    assert.equal(open(a.mesh.links()), ["b:dial:tcp"], `seed ${seed}`);
  }
});

test("a peer that announces no port keeps the WebSocket, and so does a node without dialTcp's peer listening", async () => {
  const { w, a, b } = await pair({ bTcp: false });
  const r1 = a.mesh.request("b", "echo", 1);
  const r2 = b.mesh.request("a", "echo", 2);
  await w.clock.advance(100);
  assert.equal([await r1, await r2], [1, 2]);
  assert.equal(open(a.mesh.links()), ["b:dial:websocket"]);
  assert.is(b.mesh.tcpPort, undefined);
});

test("a port that refuses keeps the link on the WebSocket and is not retried until backoffMaxMs", async () => {
  const { w, a, b } = await pair({ seed: 3 });
  await b.tcp!.close(); // announced, but nothing listens there any more
  const r = a.mesh.request("b", "echo", 1);
  await w.clock.advance(100);
  assert.is(await r, 1);
  assert.equal(open(a.mesh.links()), ["b:dial:websocket"]);
  assert.ok(w.logs.some((l) => l.startsWith("a info") && /stays on WebSocket/.test(l)), w.logs.join("\n"));
  const r2 = a.mesh.request("b", "echo", 2);
  await w.clock.advance(20);
  assert.is(await r2, 2);
});

test("after a TCP link drops, the redial goes straight to the port; a restarted peer's new port is taken up", async () => {
  const { w, a, b } = await pair({ seed: 4 });
  const r = a.mesh.request("b", "echo", 1);
  await w.clock.advance(100);
  await r;
  assert.equal(open(a.mesh.links()), ["b:dial:tcp"]);
  // The link drops (b's listener closes its connections) and a redials: no WebSocket step.
  const port = b.tcp!.port;
  await b.tcp!.close();
  const again = await w.net.listenTcp("b", { hostname: "b", port, ...b.mesh.tcpListener() });
  await w.clock.advance(3000);
  const r2 = a.mesh.request("b", "echo", 2);
  await w.clock.advance(20);
  assert.is(await r2, 2);
  assert.equal(open(a.mesh.links()), ["b:dial:tcp"]);
  await again.close();
  // b restarts with another port: the old one refuses, a falls back to the WebSocket and takes the new port.
  w.net.crash("b");
  b.mesh.close();
  const b2 = await w.add("b", { tcp: true });
  b2.mesh.onRequest("echo", (x) => x);
  assert.not.equal(b2.tcp!.port, port);
  await w.clock.advance(3000);
  const r3 = a.mesh.request("b", "echo", 3).catch((e) => e);
  await w.clock.advance(200);
  const got = await r3;
  assert.ok(got === 3 || isMeshkvError(got, "CONNECT_FAILED"), String(got));
  const r4 = a.mesh.request("b", "echo", 4);
  await w.clock.advance(200);
  assert.is(await r4, 4);
  assert.equal(open(a.mesh.links()), ["b:dial:tcp"]);
  assert.equal(open(b2.mesh.links()), ["a:accept:tcp"]);
});

test("a mesh with TLS never dials plain TCP", async () => {
  const w = world(9);
  const a = await w.add("a", { tcp: true, tls: true });
  const b = await w.add("b", { tcp: true });
  a.mesh.setAddress("b", b.address);
  b.mesh.onRequest("echo", (x) => x);
  const r = a.mesh.request("b", "echo", 1);
  await w.clock.advance(100);
  assert.is(await r, 1);
  assert.equal(open(a.mesh.links()), ["b:dial:websocket"]);
});

test("a retired link whose peer never retires its end closes once idle after retireWaitMs, not before", async () => {
  const clock = new ManualClock();
  const [sa, sb] = socketPair();
  const limits = { ...MESH_DEFAULTS, retireWaitMs: 500 };
  const closes: string[] = [];
  const make = (socket: PeerSocket, peer: string) =>
    new PeerLink(socket, { nodeId: peer, address: `${peer}:7000`, datacenter: "dc1" }, "dial", clock, limits, {
      request: (_l, _k, body) => body,
      oneway: () => {},
      closed: (_l, code) => closes.push(`${peer} ${code}`),
    }, () => {});
  const a = make(sa, "b");
  const b = make(sb, "a");
  await clock.advance(1); // both linkFeatures delivered: each peer announced `retire`
  a.retire();
  await clock.advance(1);
  const reply = b.request("echo", "sent after a retired, before any close", 1000);
  await clock.advance(1);
  assert.is(await reply, "sent after a retired, before any close");
  await clock.advance(400);
  assert.ok(a.isOpen && !b.retiring, "a waits for b's linkRetire, which b (not retiring) never sends");
  await clock.advance(200);
  assert.ok(!a.isOpen, "closed once retireWaitMs passed");
  assert.equal(closes, ["b 4001", "a 4001"]);
});

test.run();
