/**
 * The mesh handshake as a pure state machine: `step(state, event)` returns the next state and the actions to
 * perform, and `handshake.ts` is the thin driver that performs them (socket, authenticator, clock). Keeping
 * the protocol here, free of promises and callbacks, lets a table of tests put every event in every state.
 *
 * The protocol: both ends say hello (protocol version, cluster name, node id, a fresh nonce, address,
 * datacenter, role), then each proves it knows the cluster secret by answering the other's nonce (`auth.ts`).
 * Until both proofs check out no other frame is accepted: anything else, a wrong version or cluster, a bad
 * proof or silence past the deadline closes the connection with a reason. Frames that arrive after the
 * peer's proof (the peer may finish first and start sending requests) are kept and handed to the link, so
 * none is lost. A network that duplicates messages may repeat the hello; an identical copy is ignored.
 *
 * The run of one handshake: `start` arms the deadline, listens and sends our hello; the peer's hello is
 * checked and our proof signed (`sign`, then `signed`, then `send`); the peer's proof is verified (`verify`,
 * then `verified`). It succeeds once our proof is sent and the peer's is verified, and fails at the first
 * error, with the close code the peer is sent (`CLOSE`).
 */
import { MeshkvError } from "../errors.ts";
import { equalBytes } from "../core/_bytes.ts";
import { proofBytes } from "./auth.ts";
import { decodeFrame, encodeFrame, type HelloFrame } from "./codec.ts";
import { PROTOCOL_VERSION, type Role } from "./kinds.ts";

export interface LocalIdentity {
  nodeId: string;
  cluster: string;
  /** The address peers dial to reach this node (`host:port`); empty when not yet known. */
  address: string;
  datacenter: string;
}

export interface PeerIdentity {
  nodeId: string;
  address: string;
  datacenter: string;
}

/**
 * WebSocket close codes the mesh sends. Browser-style WebSocket clients (the dialers on Deno and Bun) may only
 * send 1000 or 3000-4999, so the mesh's own reasons use the application range, mirroring the standard codes
 * (4002 like 1002 protocol error, 4008 like 1008 policy, 4013 like 1013 try again later). Frames over the size
 * limit are closed by the runtime adapter itself with 1009 (sent as 4009).
 */
export const CLOSE = {
  normal: 1000,
  goingAway: 4000,
  /** A second link to the same peer lost the tie-break (see `mesh.ts`); not a failure, so no reconnect. */
  duplicate: 4001,
  protocol: 4002,
  policy: 4008,
  tryLater: 4013,
} as const;

/** What one handshake knows from the start. */
export interface HandshakeConfig {
  readonly role: Role;
  readonly self: LocalIdentity;
  /** Our fresh nonce (`NONCE_BYTES` random bytes, drawn by the driver). */
  readonly nonce: Uint8Array;
  /** The other end's address, for messages. */
  readonly remote: string;
  readonly timeoutMs: number;
}

export interface HandshakeState {
  readonly config: HandshakeConfig;
  /** `new` until `start`; `done` and `failed` are final: every later event is ignored. */
  readonly phase: "new" | "open" | "done" | "failed";
  /** The peer's hello (and its bytes, to recognise a duplicate), once it came and passed the checks. */
  readonly peerHello: { readonly bytes: Uint8Array; readonly frame: HelloFrame } | null;
  /** Our proof went out. */
  readonly proofSent: boolean;
  /** The peer's proof: not yet received, being verified, or verified. */
  readonly peerProof: "none" | "verifying" | "proven";
  /**
   * The peer closed while its proof was being verified: reported only after the verdict, since a peer that
   * rejects our proof may close before we have checked its own, and our verdict on its proof says more.
   */
  readonly closedWhileVerifying: { readonly code: number; readonly reason: string } | null;
  /** Frames received after the peer's proof, in order, for the link. */
  readonly early: readonly Uint8Array[];
}

export type HandshakeEvent =
  | { readonly type: "start" }
  | { readonly type: "frame"; readonly bytes: Uint8Array }
  | { readonly type: "closed"; readonly code: number; readonly reason: string }
  | { readonly type: "sent"; readonly frame: "hello" | "auth" }
  | { readonly type: "sendFailed"; readonly cause: unknown }
  | { readonly type: "signed"; readonly proof: Uint8Array }
  | { readonly type: "signFailed"; readonly cause: unknown }
  | { readonly type: "verified"; readonly ok: boolean }
  | { readonly type: "verifyFailed"; readonly cause: unknown }
  | { readonly type: "timeout" };

export type HandshakeAction =
  | { readonly type: "armTimer"; readonly ms: number }
  | { readonly type: "clearTimer" }
  /** Start taking the socket's messages and close (frames it buffered arrive at once). */
  | { readonly type: "listen" }
  /** Send; the driver answers with `sent`, or `sendFailed` when the socket refuses. */
  | { readonly type: "send"; readonly frame: "hello" | "auth"; readonly bytes: Uint8Array }
  /** Sign with the cluster secret; the driver answers with `signed` or `signFailed`. */
  | { readonly type: "sign"; readonly data: Uint8Array }
  /** Check a proof; the driver answers with `verified` or `verifyFailed`. */
  | { readonly type: "verify"; readonly data: Uint8Array; readonly proof: Uint8Array }
  /** Stop listening and close the socket. */
  | { readonly type: "close"; readonly code: number; readonly reason: string }
  | { readonly type: "resolve"; readonly peer: PeerIdentity; readonly early: readonly Uint8Array[] }
  | { readonly type: "reject"; readonly error: MeshkvError };

export interface HandshakeStep {
  readonly state: HandshakeState;
  readonly actions: readonly HandshakeAction[];
}

export function initialHandshake(config: HandshakeConfig): HandshakeState {
  return {
    config,
    phase: "new",
    peerHello: null,
    proofSent: false,
    peerProof: "none",
    closedWhileVerifying: null,
    early: [],
  };
}

/** The next state and the actions to perform. Pure: the same state and event always give the same step. */
export function step(state: HandshakeState, event: HandshakeEvent): HandshakeStep {
  const { config } = state;
  if (state.phase === "done" || state.phase === "failed") return { state, actions: [] };
  if (state.phase === "new") {
    if (event.type !== "start") throw new RangeError(`Handshake event ${event.type} before start`);
    const hello = encodeFrame({
      type: "hello",
      version: PROTOCOL_VERSION,
      cluster: config.self.cluster,
      nodeId: config.self.nodeId,
      nonce: config.nonce,
      address: config.self.address,
      datacenter: config.self.datacenter,
      role: config.role,
    });
    return {
      state: { ...state, phase: "open" },
      actions: [{ type: "armTimer", ms: config.timeoutMs }, { type: "listen" }, {
        type: "send",
        frame: "hello",
        bytes: hello,
      }],
    };
  }
  // Answers of the driver (`sent`, `signed`, `verified`, ...) count only in a state that asked for them.
  const signing = state.peerHello !== null && !state.proofSent;
  const verifying = state.peerProof === "verifying";
  switch (event.type) {
    case "start":
      throw new RangeError("Handshake started twice");
    case "frame":
      return onFrame(state, event.bytes);
    case "closed":
      if (verifying) {
        return { state: { ...state, closedWhileVerifying: { code: event.code, reason: event.reason } }, actions: [] };
      }
      return peerClosed(state, event.code, event.reason);
    case "sent":
      return event.frame === "auth" && signing ? maybeDone({ ...state, proofSent: true }) : { state, actions: [] };
    case "sendFailed":
      return fail(
        state,
        new MeshkvError("CONNECTION_CLOSED", `Mesh handshake with ${config.remote}: connection closed`, {
          cause: event.cause,
        }),
        CLOSE.goingAway,
      );
    case "signed":
      if (!signing) return { state, actions: [] };
      return {
        state,
        actions: [{ type: "send", frame: "auth", bytes: encodeFrame({ type: "auth", proof: event.proof }) }],
      };
    case "signFailed":
      if (!signing) return { state, actions: [] };
      return fail(
        state,
        new MeshkvError("INTERNAL", `Mesh handshake: signing failed`, { cause: event.cause }),
        CLOSE.goingAway,
      );
    case "verified": {
      if (!verifying) return { state, actions: [] };
      if (!event.ok) {
        return authFailed(state, `wrong cluster secret from ${state.peerHello?.frame.nodeId} at ${config.remote}`);
      }
      if (state.closedWhileVerifying) {
        return peerClosed(state, state.closedWhileVerifying.code, state.closedWhileVerifying.reason);
      }
      return maybeDone({ ...state, peerProof: "proven" });
    }
    case "verifyFailed":
      if (!verifying) return { state, actions: [] };
      return fail(
        state,
        new MeshkvError("INTERNAL", `Mesh handshake: verifying failed`, { cause: event.cause }),
        CLOSE.goingAway,
      );
    case "timeout":
      return fail(
        state,
        new MeshkvError("TIMEOUT", `Mesh handshake with ${config.remote} timed out after ${config.timeoutMs} ms`),
        CLOSE.policy,
      );
  }
}

function onFrame(state: HandshakeState, bytes: Uint8Array): HandshakeStep {
  const { config } = state;
  // After the peer's proof, frames are the link's (the peer may already be done and sending requests).
  if (state.peerProof !== "none") return { state: { ...state, early: [...state.early, bytes] }, actions: [] };
  let frame;
  try {
    frame = decodeFrame(bytes);
  } catch (err) {
    return fail(state, err as MeshkvError, CLOSE.protocol);
  }
  const peer = state.peerHello;
  if (frame.type === "hello" && !peer) return onHello(state, bytes, frame);
  if (frame.type === "hello" && peer && equalBytes(bytes, peer.bytes)) return { state, actions: [] };
  if (frame.type === "auth" && peer) {
    const data = proofBytes({
      cluster: config.self.cluster,
      proverRole: peer.frame.role,
      proverId: peer.frame.nodeId,
      verifierId: config.self.nodeId,
      verifierNonce: config.nonce,
      proverNonce: peer.frame.nonce,
    });
    return { state: { ...state, peerProof: "verifying" }, actions: [{ type: "verify", data, proof: frame.proof }] };
  }
  return fail(
    state,
    new MeshkvError("PROTOCOL_ERROR", `Mesh handshake: unexpected ${frame.type} frame from ${config.remote}`),
    CLOSE.protocol,
  );
}

function onHello(state: HandshakeState, bytes: Uint8Array, hello: HelloFrame): HandshakeStep {
  const { self, role } = state.config;
  if (hello.version !== PROTOCOL_VERSION) {
    return authFailed(state, `protocol version ${hello.version}, expected ${PROTOCOL_VERSION}`);
  }
  if (hello.cluster !== self.cluster) {
    return authFailed(state, `cluster ${JSON.stringify(hello.cluster)}, expected ${JSON.stringify(self.cluster)}`);
  }
  if (hello.nodeId === self.nodeId) {
    return authFailed(state, `peer claims this node's own id ${JSON.stringify(self.nodeId)}`);
  }
  if (hello.role === role) return authFailed(state, `both ends claim role ${role}`);
  const data = proofBytes({
    cluster: self.cluster,
    proverRole: role,
    proverId: self.nodeId,
    verifierId: hello.nodeId,
    verifierNonce: hello.nonce,
    proverNonce: state.config.nonce,
  });
  return { state: { ...state, peerHello: { bytes, frame: hello } }, actions: [{ type: "sign", data }] };
}

function maybeDone(state: HandshakeState): HandshakeStep {
  const hello = state.peerHello;
  if (!state.proofSent || state.peerProof !== "proven" || !hello) return { state, actions: [] };
  const peer = { nodeId: hello.frame.nodeId, address: hello.frame.address, datacenter: hello.frame.datacenter };
  return {
    state: { ...state, phase: "done" },
    actions: [{ type: "clearTimer" }, { type: "resolve", peer, early: state.early }],
  };
}

function fail(state: HandshakeState, error: MeshkvError, code: number): HandshakeStep {
  return {
    state: { ...state, phase: "failed" },
    actions: [{ type: "clearTimer" }, { type: "close", code, reason: error.message.slice(0, 120) }, {
      type: "reject",
      error,
    }],
  };
}

function authFailed(state: HandshakeState, why: string): HandshakeStep {
  return fail(
    state,
    new MeshkvError("AUTH_FAILED", `Mesh handshake refused: ${why}`, { details: { remote: state.config.remote } }),
    CLOSE.policy,
  );
}

function peerClosed(state: HandshakeState, code: number, reason: string): HandshakeStep {
  const error = new MeshkvError(
    "CONNECTION_CLOSED",
    `Mesh handshake with ${state.config.remote}: closed by peer (${code} ${reason})`,
    { details: { code, reason } },
  );
  return fail(state, error, code);
}
