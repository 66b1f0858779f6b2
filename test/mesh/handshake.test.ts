/**
 * The handshake driver (`mesh/handshake.ts`) on the simulated network with a manual clock: two ends that share
 * the secret finish, and every way a peer can break the handshake (wrong secret, another protocol version,
 * frames out of order, silence, closing) ends it with its code and the close code the peer sees.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isMeshkvError, type MeshkvError } from "../../src/errors.ts";
import { type Authenticator, proofBytes, pureAuthenticator } from "../../src/mesh/auth.ts";
import { decodeFrame, encodeFrame, type HelloFrame } from "../../src/mesh/codec.ts";
import { CLOSE, handshake, type HandshakeResult, type LocalIdentity } from "../../src/mesh/handshake.ts";
import { PROTOCOL_VERSION, type Role } from "../../src/mesh/kinds.ts";
import type { PeerSocket } from "../../src/runtime/types.ts";
import { type World, world } from "./_pair.ts";

const A: LocalIdentity = { nodeId: "a", cluster: "test", address: "a:7000", datacenter: "dc1" };
const B: LocalIdentity = { nodeId: "b", cluster: "test", address: "b:7000", datacenter: "dc2" };
const TIMEOUT_MS = 1000;

type Outcome = { ok: true; result: HandshakeResult } | { ok: false; error: MeshkvError };
const settle = (p: Promise<HandshakeResult>): { outcome: Outcome | null } => {
  const box: { outcome: Outcome | null } = { outcome: null };
  p.then(
    (result) => (box.outcome = { ok: true, result }),
    (error: MeshkvError) => (box.outcome = { ok: false, error }),
  );
  return box;
};

/** The HMAC of the simulation, with verification taking `verifyMs` of clock time (as Web Crypto takes real time). */
function slowAuthenticator(w: World, secret: string, verifyMs: number): Authenticator {
  const pure = pureAuthenticator(secret);
  return { sign: pure.sign, verify: (data, mac) => w.clock.sleep(verifyMs).then(() => pure.verify(data, mac)) };
}

function run(w: World, socket: PeerSocket, role: Role, self: LocalIdentity, secret: string, verifyMs = 0) {
  const auth = verifyMs === 0 ? pureAuthenticator(secret) : slowAuthenticator(w, secret, verifyMs);
  return settle(
    handshake({ socket, role, self, auth, clock: w.clock, random: w.random.fork(), timeoutMs: TIMEOUT_MS }),
  );
}

/** Serves host `b`, running the handshake (as B, with `secret`) on every connection it accepts. */
async function serveB(w: World, secret = "s3cret", verifyMs = 0) {
  const accepted: Array<{ outcome: Outcome | null }> = [];
  await w.net.serve("b", {
    hostname: "b",
    port: 7000,
    fetch: () => new Response(""),
    websocket: {
      path: "/mesh",
      maxMessageBytes: 1 << 20,
      onOpen: (socket) => accepted.push(run(w, socket, "accept", B, secret, verifyMs)),
    },
  });
  return accepted;
}

/** A hand-driven peer dialing b: what it received and how it was closed. */
async function rawDial(w: World) {
  const dialing = w.net.dial("evil", "ws://b:7000/mesh", { maxMessageBytes: 1 << 20, timeoutMs: 1000 });
  await w.clock.advance(10);
  const socket = await dialing;
  const got: Uint8Array[] = [];
  const peer = { socket, got, closed: null as number | null };
  socket.setHandlers({ message: (m) => got.push(m), close: (code) => (peer.closed = code) });
  return peer;
}

const helloFrom = (self: LocalIdentity, role: Role, nonce: Uint8Array, over: Partial<HelloFrame> = {}) =>
  encodeFrame({
    type: "hello",
    version: PROTOCOL_VERSION,
    cluster: self.cluster,
    nodeId: self.nodeId,
    nonce,
    address: self.address,
    datacenter: self.datacenter,
    role,
    ...over,
  });

function failed(box: { outcome: Outcome | null }): MeshkvError {
  assert.ok(box.outcome && !box.outcome.ok, `expected a failure, got ${JSON.stringify(box.outcome)}`);
  return (box.outcome as { error: MeshkvError }).error;
}

test("two ends with the same secret finish the handshake, each knowing who the other is", async () => {
  const w = world(1);
  const accepted = await serveB(w);
  const dialing = w.net.dial("a", "ws://b:7000/mesh", { maxMessageBytes: 1 << 20, timeoutMs: 1000 });
  await w.clock.advance(10);
  const mine = run(w, await dialing, "dial", A, "s3cret");
  await w.clock.advance(50);
  assert.equal(mine.outcome, {
    ok: true,
    result: { peer: { nodeId: "b", address: "b:7000", datacenter: "dc2" }, early: [] },
  });
  assert.equal(accepted[0]?.outcome, {
    ok: true,
    result: { peer: { nodeId: "a", address: "a:7000", datacenter: "dc1" }, early: [] },
  });
  assert.is(w.clock.pending, 0, "both deadlines are cleared");
});

test("a network that delivers every frame twice still lets both ends finish", async () => {
  const w = world(2);
  w.net.setDefaults({ duplicate: 1 });
  const accepted = await serveB(w);
  const dialing = w.net.dial("a", "ws://b:7000/mesh", { maxMessageBytes: 1 << 20, timeoutMs: 1000 });
  await w.clock.advance(10);
  const mine = run(w, await dialing, "dial", A, "s3cret");
  await w.clock.advance(50);
  assert.ok(mine.outcome?.ok, JSON.stringify(mine.outcome));
  assert.ok(accepted[0]?.outcome?.ok, JSON.stringify(accepted[0]?.outcome));
});

test("ends with different secrets both refuse with AUTH_FAILED, and the connection closes with the policy code", async () => {
  const w = world(3);
  const accepted = await serveB(w, "other secret");
  const dialing = w.net.dial("a", "ws://b:7000/mesh", { maxMessageBytes: 1 << 20, timeoutMs: 1000 });
  await w.clock.advance(10);
  const socket = await dialing;
  const mine = run(w, socket, "dial", A, "s3cret");
  await w.clock.advance(50);
  assert.ok(isMeshkvError(failed(mine), "AUTH_FAILED"), String(failed(mine)));
  assert.match(failed(mine).message, "wrong cluster secret from b");
  assert.ok(isMeshkvError(failed(accepted[0]!), "AUTH_FAILED"), String(failed(accepted[0]!)));
  assert.is(socket.isOpen, false);
  assert.is(w.clock.pending, 0);
});

test("a peer speaking another protocol version is refused with AUTH_FAILED naming both versions, closed with 4008", async () => {
  const w = world(4);
  const accepted = await serveB(w);
  const evil = await rawDial(w);
  evil.socket.send(helloFrom({ ...A, nodeId: "evil" }, "dial", new Uint8Array(16), { version: PROTOCOL_VERSION + 1 }));
  await w.clock.advance(20);
  const err = failed(accepted[0]!);
  assert.ok(isMeshkvError(err, "AUTH_FAILED"));
  assert.match(err.message, `protocol version ${PROTOCOL_VERSION + 1}, expected ${PROTOCOL_VERSION}`);
  assert.is(evil.closed, CLOSE.policy);
  assert.equal(evil.got.map((m) => decodeFrame(m).type), ["hello"], "only B's hello went out, no proof");
});

test("a proof before the hello is a PROTOCOL_ERROR, closed with 4002", async () => {
  const w = world(5);
  const accepted = await serveB(w);
  const evil = await rawDial(w);
  evil.socket.send(encodeFrame({ type: "auth", proof: new Uint8Array(32) }));
  await w.clock.advance(20);
  assert.ok(isMeshkvError(failed(accepted[0]!), "PROTOCOL_ERROR"));
  assert.is(evil.closed, CLOSE.protocol);
});

test("a request before the handshake is done is a PROTOCOL_ERROR, even after a good hello", async () => {
  const w = world(6);
  const accepted = await serveB(w);
  const evil = await rawDial(w);
  evil.socket.send(helloFrom({ ...A, nodeId: "evil" }, "dial", new Uint8Array(16)));
  evil.socket.send(encodeFrame({ type: "request", id: 1, kind: 1, body: null }));
  await w.clock.advance(20);
  assert.ok(isMeshkvError(failed(accepted[0]!), "PROTOCOL_ERROR"));
  assert.match(failed(accepted[0]!).message, "unexpected request frame");
  assert.is(evil.closed, CLOSE.protocol);
});

test("silence fails with TIMEOUT at the deadline, not before, and closes with 4008", async () => {
  const w = world(7);
  const accepted = await serveB(w);
  const evil = await rawDial(w);
  await w.clock.advance(TIMEOUT_MS - 20);
  assert.is(accepted[0]!.outcome, null, "still waiting before the deadline");
  await w.clock.advance(30);
  assert.ok(isMeshkvError(failed(accepted[0]!), "TIMEOUT"));
  await w.clock.advance(10);
  assert.is(evil.closed, CLOSE.policy);
});

test("a peer that closes during the handshake fails it with CONNECTION_CLOSED and its close code", async () => {
  const w = world(8);
  const accepted = await serveB(w);
  const evil = await rawDial(w);
  evil.socket.send(helloFrom({ ...A, nodeId: "evil" }, "dial", new Uint8Array(16)));
  await w.clock.advance(5);
  evil.socket.close(4000, "changed my mind");
  await w.clock.advance(20);
  const err = failed(accepted[0]!);
  assert.ok(isMeshkvError(err, "CONNECTION_CLOSED"), String(err));
  assert.match(err.message, "closed by peer (4000 changed my mind)");
  assert.is(w.clock.pending, 0, "the deadline is cleared");
});

test("frames a peer sends right after its proof, while that proof is being verified, reach the link in order", async () => {
  const w = world(9);
  const accepted = await serveB(w, "s3cret", 15);
  const evil = await rawDial(w);
  const me = { ...A, nodeId: "evil" };
  const nonce = new Uint8Array(16).fill(7);
  evil.socket.send(helloFrom(me, "dial", nonce));
  await w.clock.advance(20);
  const theirHello = decodeFrame(evil.got[0]!) as HelloFrame;
  const proof = await pureAuthenticator("s3cret").sign(proofBytes({
    cluster: "test",
    proverRole: "dial",
    proverId: "evil",
    verifierId: "b",
    verifierNonce: theirHello.nonce,
    proverNonce: nonce,
  }));
  const r1 = encodeFrame({ type: "request", id: 1, kind: 1, body: "first" });
  const r2 = encodeFrame({ type: "oneway", kind: 2, body: "second" });
  evil.socket.send(encodeFrame({ type: "auth", proof }));
  evil.socket.send(r1);
  evil.socket.send(r2);
  await w.clock.advance(5);
  assert.is(accepted[0]!.outcome, null, "still verifying");
  await w.clock.advance(20);
  const outcome = accepted[0]!.outcome;
  assert.ok(outcome?.ok, JSON.stringify(outcome));
  assert.equal((outcome as { result: HandshakeResult }).result, {
    peer: { nodeId: "evil", address: "a:7000", datacenter: "dc1" },
    early: [r1, r2],
  });
  assert.equal(evil.got.map((m) => decodeFrame(m).type), ["hello", "auth"], "B proved itself too");
});

test("through the mesh, a request to a peer speaking another protocol version fails with CONNECT_FAILED, the refusal as cause", async () => {
  const w = world(10);
  const a = (await w.add("a")).mesh;
  await w.net.serve("old", {
    hostname: "old",
    port: 7000,
    fetch: () => new Response(""),
    websocket: {
      path: "/mesh",
      maxMessageBytes: 1 << 20,
      onOpen: (s) => {
        s.setHandlers({ message: () => {}, close: () => {} });
        s.send(
          helloFrom(
            { nodeId: "old", cluster: "test", address: "old:7000", datacenter: "dc1" },
            "accept",
            new Uint8Array(16),
            { version: PROTOCOL_VERSION + 1 },
          ),
        );
      },
    },
  });
  a.setAddress("old", "old:7000");
  const p = a.request("old", "echo", "hi").catch((e) => e);
  await w.clock.advance(100);
  const err = await p;
  assert.ok(isMeshkvError(err, "CONNECT_FAILED"), String(err));
  assert.ok(isMeshkvError((err as Error).cause, "AUTH_FAILED"), String((err as Error).cause));
});

test.run();
