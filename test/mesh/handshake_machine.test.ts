/**
 * The handshake state machine (`mesh/handshake_machine.ts`) without sockets: a table puts every event in every
 * state, then two machines talk to each other through their actions, with the right and a wrong secret.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isMeshkvError } from "../../src/errors.ts";
import { proofBytes } from "../../src/mesh/auth.ts";
import { hmacSha256 } from "../../src/mesh/_sha256.ts";
import { decodeFrame, encodeFrame, type HelloFrame } from "../../src/mesh/codec.ts";
import {
  CLOSE,
  type HandshakeAction,
  type HandshakeConfig,
  type HandshakeEvent,
  type HandshakeState,
  initialHandshake,
  step,
} from "../../src/mesh/handshake_machine.ts";
import { PROTOCOL_VERSION } from "../../src/mesh/kinds.ts";

const A: HandshakeConfig = {
  role: "dial",
  self: { nodeId: "a", cluster: "c", address: "a:1", datacenter: "dc1" },
  nonce: new Uint8Array(16).fill(1),
  remote: "b:1",
  timeoutMs: 1000,
};
const B: HandshakeConfig = {
  role: "accept",
  self: { nodeId: "b", cluster: "c", address: "b:1", datacenter: "dc2" },
  nonce: new Uint8Array(16).fill(2),
  remote: "a:1",
  timeoutMs: 1000,
};
const helloOf = (c: HandshakeConfig, over: Partial<HelloFrame> = {}) =>
  encodeFrame({
    type: "hello",
    version: PROTOCOL_VERSION,
    cluster: c.self.cluster,
    nodeId: c.self.nodeId,
    nonce: c.nonce,
    address: c.self.address,
    datacenter: c.self.datacenter,
    role: c.role,
    ...over,
  });
const PROOF = new Uint8Array(32).fill(9);

/** Applies `events` in order; the state after the last one. */
function after(state: HandshakeState, ...events: HandshakeEvent[]): HandshakeState {
  for (const e of events) state = step(state, e).state;
  return state;
}

// The states of one handshake (as machine A, the dialer), each reached by events from the start.
const frame = (bytes: Uint8Array): HandshakeEvent => ({ type: "frame", bytes });
const s0 = initialHandshake(A);
const idle = after(s0, { type: "start" });
const signing = after(idle, frame(helloOf(B)));
const waiting = after(signing, { type: "signed", proof: PROOF }, { type: "sent", frame: "auth" });
const verifying = after(signing, frame(encodeFrame({ type: "auth", proof: PROOF })));
const verifyingSent = after(waiting, frame(encodeFrame({ type: "auth", proof: PROOF })));
const verifyingClosed = after(verifyingSent, { type: "closed", code: CLOSE.policy, reason: "refused" });
const proven = after(verifying, { type: "verified", ok: true });
const done = after(proven, { type: "sent", frame: "auth" });
const failed = after(idle, { type: "timeout" });
const STATES = { new: s0, idle, signing, waiting, verifying, verifyingSent, verifyingClosed, proven, done, failed };
type StateName = keyof typeof STATES;
const ORDER = Object.keys(STATES) as StateName[];

const EVENTS = {
  start: { type: "start" },
  hello: frame(helloOf(B)),
  helloOther: frame(helloOf(B, { nonce: new Uint8Array(16).fill(3) })),
  helloBadVersion: frame(helloOf(B, { version: PROTOCOL_VERSION + 1 })),
  helloOtherCluster: frame(helloOf(B, { cluster: "other" })),
  helloOwnId: frame(helloOf(B, { nodeId: "a" })),
  helloSameRole: frame(helloOf(B, { role: "dial" })),
  auth: frame(encodeFrame({ type: "auth", proof: PROOF })),
  request: frame(encodeFrame({ type: "request", id: 1, kind: 2, body: null })),
  garbage: frame(new Uint8Array([0xc1, 0xff])),
  closed: { type: "closed", code: 1006, reason: "Connection lost" },
  sentHello: { type: "sent", frame: "hello" },
  sentAuth: { type: "sent", frame: "auth" },
  sendFailed: { type: "sendFailed", cause: new Error("closed") },
  signed: { type: "signed", proof: PROOF },
  signFailed: { type: "signFailed", cause: new Error("no key") },
  verifiedOk: { type: "verified", ok: true },
  verifiedBad: { type: "verified", ok: false },
  verifyFailed: { type: "verifyFailed", cause: new Error("no key") },
  timeout: { type: "timeout" },
} satisfies Record<string, HandshakeEvent>;
type EventName = keyof typeof EVENTS;

/**
 * What each event does in each state. `-`: nothing (same state, no action); `throw`: misuse (RangeError);
 * `start`: arm the deadline, listen, send our hello; `sign`/`verify`: ask the authenticator; `early`: keep the
 * frame for the link; `send-auth`: send our proof; `proofSent`/`proven`/`remember`: a new state, no action;
 * `done`: clear the deadline and resolve; `CODE close`: clear the deadline, close with `close`, reject with CODE.
 */
const P = "PROTOCOL_ERROR 4002",
  AUTH = "AUTH_FAILED 4008",
  LOST = "CONNECTION_CLOSED 1006",
  GONE = "CONNECTION_CLOSED 4000";
const INT = "INTERNAL 4000", T = "TIMEOUT 4008", REFUSED = "CONNECTION_CLOSED 4008", E = "early", X = "throw";
//                               new      idle     signing      waiting   verifying    verifyingSent verifyingClosed proven     done failed
const TABLE: Record<EventName, string[]> = {
  start: ["start", X, X, X, X, X, X, X, "-", "-"],
  hello: [X, "sign", "-", "-", E, E, E, E, "-", "-"],
  helloOther: [X, "sign", P, P, E, E, E, E, "-", "-"],
  helloBadVersion: [X, AUTH, P, P, E, E, E, E, "-", "-"],
  helloOtherCluster: [X, AUTH, P, P, E, E, E, E, "-", "-"],
  helloOwnId: [X, AUTH, P, P, E, E, E, E, "-", "-"],
  helloSameRole: [X, AUTH, P, P, E, E, E, E, "-", "-"],
  auth: [X, P, "verify", "verify", E, E, E, E, "-", "-"],
  request: [X, P, P, P, E, E, E, E, "-", "-"],
  garbage: [X, P, P, P, E, E, E, E, "-", "-"],
  closed: [X, LOST, LOST, LOST, "remember", "remember", "remember", LOST, "-", "-"],
  sentHello: [X, "-", "-", "-", "-", "-", "-", "-", "-", "-"],
  sentAuth: [X, "-", "proofSent", "-", "proofSent", "-", "-", "done", "-", "-"],
  sendFailed: [X, GONE, GONE, GONE, GONE, GONE, GONE, GONE, "-", "-"],
  signed: [X, "-", "send-auth", "-", "send-auth", "-", "-", "send-auth", "-", "-"],
  signFailed: [X, "-", INT, "-", INT, "-", "-", INT, "-", "-"],
  verifiedOk: [X, "-", "-", "-", "proven", "done", REFUSED, "-", "-", "-"],
  verifiedBad: [X, "-", "-", "-", AUTH, AUTH, AUTH, "-", "-", "-"],
  verifyFailed: [X, "-", "-", "-", INT, INT, INT, "-", "-", "-"],
  timeout: [X, T, T, T, T, T, T, T, "-", "-"],
};

const types = (actions: readonly HandshakeAction[]) => actions.map((a) => a.type);

function check(stateName: StateName, eventName: EventName, want: string): void {
  const state = STATES[stateName];
  const event: HandshakeEvent = EVENTS[eventName];
  const where = `${eventName} in ${stateName}`;
  if (want === X) {
    assert.throws(() => step(state, event), RangeError, where);
    return;
  }
  const { state: next, actions } = step(state, event);
  const bytes = "bytes" in event ? event.bytes : null;
  switch (want) {
    case "-":
      assert.is(next, state, `${where}: same state`);
      assert.equal(actions, [], where);
      return;
    case "start": {
      assert.equal(types(actions), ["armTimer", "listen", "send"], where);
      assert.equal(actions[0], { type: "armTimer", ms: A.timeoutMs });
      const sent = actions[2] as Extract<HandshakeAction, { type: "send" }>;
      assert.equal(decodeFrame(sent.bytes), {
        type: "hello",
        version: PROTOCOL_VERSION,
        cluster: "c",
        nodeId: "a",
        nonce: A.nonce,
        address: "a:1",
        datacenter: "dc1",
        role: "dial",
      });
      assert.is(next.phase, "open");
      return;
    }
    case "sign": {
      const hello = decodeFrame(bytes!) as HelloFrame;
      const data = proofBytes({
        cluster: "c",
        proverRole: "dial",
        proverId: "a",
        verifierId: "b",
        verifierNonce: hello.nonce,
        proverNonce: A.nonce,
      });
      assert.equal(actions, [{ type: "sign", data }], `${where}: A proves itself to B, bound to both nonces`);
      assert.equal(next.peerHello?.bytes, bytes);
      return;
    }
    case "verify": {
      const data = proofBytes({
        cluster: "c",
        proverRole: "accept",
        proverId: "b",
        verifierId: "a",
        verifierNonce: A.nonce,
        proverNonce: B.nonce,
      });
      assert.equal(
        actions,
        [{ type: "verify", data, proof: PROOF }],
        `${where}: B's proof is checked against A's nonce`,
      );
      assert.is(next.peerProof, "verifying");
      return;
    }
    case E:
      assert.equal(actions, [], where);
      assert.equal(next.early, [...state.early, bytes!], `${where}: kept for the link, in order`);
      return;
    case "send-auth":
      assert.equal(types(actions), ["send"], where);
      assert.equal(decodeFrame((actions[0] as Extract<HandshakeAction, { type: "send" }>).bytes), {
        type: "auth",
        proof: PROOF,
      });
      assert.is(next, state, `${where}: proof counts as sent only once the socket took it`);
      return;
    case "proofSent":
      assert.equal(actions, [], where);
      assert.equal(next, { ...state, proofSent: true }, where);
      return;
    case "proven":
      assert.equal(actions, [], where);
      assert.equal(next, { ...state, peerProof: "proven" }, where);
      return;
    case "remember":
      assert.equal(actions, [], `${where}: the verdict on the proof is awaited`);
      assert.equal(next.closedWhileVerifying, { code: 1006, reason: "Connection lost" }, where);
      return;
    case "done":
      assert.equal(actions, [{ type: "clearTimer" }, {
        type: "resolve",
        peer: { nodeId: "b", address: "b:1", datacenter: "dc2" },
        early: state.early,
      }], where);
      assert.is(next.phase, "done");
      return;
  }
  const [code, close] = want.split(" ") as [string, string];
  assert.equal(types(actions), ["clearTimer", "close", "reject"], where);
  const closing = actions[1] as Extract<HandshakeAction, { type: "close" }>;
  const error = (actions[2] as Extract<HandshakeAction, { type: "reject" }>).error;
  assert.ok(isMeshkvError(error), `${where}: ${error}`);
  assert.is(error.code, code, `${where}: ${error.message}`);
  assert.is(closing.code, Number(close), `${where}: close code`);
  assert.is(closing.reason, error.message.slice(0, 120), `${where}: the peer is told why`);
  assert.is(next.phase, "failed");
}

for (const eventName of Object.keys(TABLE) as EventName[]) {
  test(`step: ${eventName} in every state`, () => {
    const row = TABLE[eventName];
    assert.is(row.length, ORDER.length);
    ORDER.forEach((stateName, i) => check(stateName, eventName, row[i]!));
  });
}

test("step: the table names every event the machine takes", () => {
  const all: HandshakeEvent["type"][] = [
    "start",
    "frame",
    "closed",
    "sent",
    "sendFailed",
    "signed",
    "signFailed",
    "verified",
    "verifyFailed",
    "timeout",
  ];
  const covered = new Set(Object.values(EVENTS).map((e) => e.type));
  assert.equal(all.filter((t) => !covered.has(t)), []);
});

test("step: a refusal names what was wrong", () => {
  const reason = (
    e: HandshakeEvent,
  ) => ((step(idle, e).actions[2] as Extract<HandshakeAction, { type: "reject" }>).error.message);
  assert.match(
    reason(EVENTS.helloBadVersion),
    `protocol version ${PROTOCOL_VERSION + 1}, expected ${PROTOCOL_VERSION}`,
  );
  assert.match(reason(EVENTS.helloOtherCluster), `cluster "other", expected "c"`);
  assert.match(reason(EVENTS.helloOwnId), "own id");
  assert.match(reason(EVENTS.helloSameRole), "both ends claim role dial");
  assert.match(reason(EVENTS.auth), "unexpected auth frame from b:1");
  assert.match(reason(EVENTS.timeout), "timed out after 1000 ms");
  const bad = step(verifying, EVENTS.verifiedBad).actions[2] as Extract<HandshakeAction, { type: "reject" }>;
  assert.match(bad.error.message, "wrong cluster secret from b at b:1");
});

test("step: frames after the peer's proof reach the link in order, and a close while verifying waits for the verdict", () => {
  const f1 = encodeFrame({ type: "request", id: 1, kind: 2, body: "x" });
  const f2 = encodeFrame({ type: "oneway", kind: 3, body: "y" });
  let s = after(verifyingSent, frame(f1), frame(f2));
  const closed = step(s, { type: "closed", code: 4002, reason: "bye" });
  assert.equal(closed.actions, []);
  s = closed.state;
  const verdict = step(s, EVENTS.verifiedOk);
  const reject = verdict.actions[2] as Extract<HandshakeAction, { type: "reject" }>;
  assert.is(reject.error.code, "CONNECTION_CLOSED");
  assert.match(reject.error.message, "closed by peer (4002 bye)");
  const ok = step(after(verifyingSent, frame(f1), frame(f2)), EVENTS.verifiedOk);
  assert.equal(ok.actions[1], {
    type: "resolve",
    peer: { nodeId: "b", address: "b:1", datacenter: "dc2" },
    early: [f1, f2],
  });
});

test("step: states are values: a step never changes the state it was given", () => {
  const frozen = structuredClone(verifyingSent);
  for (const e of Object.values(EVENTS)) {
    try {
      step(verifyingSent, e);
    } catch {
      // start in an open state is misuse; the state must still be untouched
    }
  }
  assert.equal(verifyingSent, frozen);
});

// ---------------------------------------------------------------------------------------------------------
// Two machines wired to each other: sends become the other's frames, sign and verify use HMAC directly.

interface End {
  state: HandshakeState;
  secret: Uint8Array;
  outcome: { ok: true; peer: string; early: number } | { ok: false; code: string } | null;
  closedWith: number | null;
}

/** Runs both machines to the end; `slowVerifier` gets its verdicts only once everything else has happened. */
function talk(secretA: string, secretB: string, slowVerifier: number | null = null): [End, End] {
  const enc = (s: string) => new TextEncoder().encode(s);
  const ends: [End, End] = [
    { state: initialHandshake(A), secret: enc(secretA), outcome: null, closedWith: null },
    { state: initialHandshake(B), secret: enc(secretB), outcome: null, closedWith: null },
  ];
  const queue: Array<[number, HandshakeEvent]> = [[0, { type: "start" }], [1, { type: "start" }]];
  const late: Array<[number, HandshakeEvent]> = [];
  while (queue.length > 0 || late.length > 0) {
    const [i, event] = queue.shift() ?? late.shift()!;
    const me = ends[i]!;
    const other = 1 - i;
    const r = step(me.state, event);
    me.state = r.state;
    for (const a of r.actions) {
      if (a.type === "send") {
        queue.push([other, frame(a.bytes)], [i, { type: "sent", frame: a.frame }]);
      } else if (a.type === "sign") queue.push([i, { type: "signed", proof: hmacSha256(me.secret, a.data) }]);
      else if (a.type === "verify") {
        const want = hmacSha256(me.secret, a.data);
        (i === slowVerifier ? late : queue).push([i, {
          type: "verified",
          ok: want.length === a.proof.length && want.every((b, k) => b === a.proof[k]),
        }]);
      } else if (a.type === "close") {
        me.closedWith = a.code;
        queue.push([other, { type: "closed", code: a.code, reason: a.reason }]);
      } else if (a.type === "resolve") me.outcome = { ok: true, peer: a.peer.nodeId, early: a.early.length };
      else if (a.type === "reject") me.outcome = { ok: false, code: a.error.code };
    }
  }
  return ends;
}

test("two machines with the same secret both finish, each knowing the other", () => {
  const [a, b] = talk("s3cret", "s3cret");
  assert.equal(a.outcome, { ok: true, peer: "b", early: 0 });
  assert.equal(b.outcome, { ok: true, peer: "a", early: 0 });
});

test("two machines with different secrets both refuse with AUTH_FAILED, even the one whose peer closed first", () => {
  for (const slow of [null, 0, 1]) {
    const [a, b] = talk("s3cret", "wrong", slow);
    assert.equal(a.outcome, { ok: false, code: "AUTH_FAILED" }, `slow verifier ${slow}`);
    assert.equal(b.outcome, { ok: false, code: "AUTH_FAILED" }, `slow verifier ${slow}`);
    if (slow !== null) {
      assert.is(slow === 0 ? b.closedWith : a.closedWith, CLOSE.policy, "the fast end closed with the policy code");
    }
  }
});

test("a slow verifier still finishes when the peer is already done", () => {
  for (const slow of [0, 1]) {
    const [a, b] = talk("s3cret", "s3cret", slow);
    assert.equal([a.outcome, b.outcome], [{ ok: true, peer: "b", early: 0 }, { ok: true, peer: "a", early: 0 }]);
  }
});

test.run();
