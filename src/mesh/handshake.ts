/**
 * The mesh handshake: both ends say hello (protocol version, cluster name, node id, a fresh nonce), then each
 * proves it knows the cluster secret by answering the other's nonce (`auth.ts`). Until both proofs check out,
 * no other frame is accepted: anything else, a wrong version or cluster, a bad proof or silence past the
 * deadline closes the connection with a reason. Frames that arrive after the peer's proof (the peer may finish
 * first and start sending requests) are kept and handed to the link, so none is lost.
 */
import { equalBytes } from "../core/_bytes.ts";
import { MeshkvError } from "../errors.ts";
import type { Clock, PeerSocket, Random } from "../runtime/types.ts";
import { proofBytes, type Authenticator } from "./auth.ts";
import { decodeFrame, encodeFrame, NONCE_BYTES, type HelloFrame } from "./codec.ts";
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

export interface HandshakeOptions {
  socket: PeerSocket;
  role: Role;
  self: LocalIdentity;
  auth: Authenticator;
  clock: Clock;
  random: Random;
  timeoutMs: number;
}

export interface HandshakeResult {
  peer: PeerIdentity;
  /** Frames received after the peer's proof, in order, for the link to process first. */
  early: Uint8Array[];
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

/** Runs the handshake on a freshly opened socket; resolves with who is on the other end. */
export function handshake(o: HandshakeOptions): Promise<HandshakeResult> {
  const { socket, self } = o;
  const nonce = o.random.bytes(NONCE_BYTES);
  const helloBytes = encodeFrame({ type: "hello", version: PROTOCOL_VERSION, cluster: self.cluster, nodeId: self.nodeId, nonce, address: self.address, datacenter: self.datacenter, role: o.role });
  return new Promise<HandshakeResult>((resolve, reject) => {
    let peerHelloBytes: Uint8Array | null = null;
    let peerHello: HelloFrame | null = null;
    let sentProof = false;
    let peerProven = false;
    let awaitingProof = false;
    let done = false;
    const early: Uint8Array[] = [];

    const fail = (err: MeshkvError, code: number) => {
      if (done) return;
      done = true;
      o.clock.clearTimeout(timer);
      socket.setHandlers({ message: () => {}, close: () => {} });
      socket.close(code, err.message.slice(0, 120));
      reject(err);
    };
    const maybeDone = () => {
      if (done || !sentProof || !peerProven || !peerHello) return;
      done = true;
      o.clock.clearTimeout(timer);
      resolve({ peer: { nodeId: peerHello.nodeId, address: peerHello.address, datacenter: peerHello.datacenter }, early });
    };
    const timer = o.clock.setTimeout(
      () => fail(new MeshkvError("TIMEOUT", `Mesh handshake with ${socket.remote} timed out after ${o.timeoutMs} ms`), CLOSE.policy),
      o.timeoutMs,
    );
    const authFailed = (why: string) => fail(new MeshkvError("AUTH_FAILED", `Mesh handshake refused: ${why}`, { details: { remote: socket.remote } }), CLOSE.policy);

    const onHello = (bytes: Uint8Array, hello: HelloFrame) => {
      if (hello.version !== PROTOCOL_VERSION) return authFailed(`protocol version ${hello.version}, expected ${PROTOCOL_VERSION}`);
      if (hello.cluster !== self.cluster) return authFailed(`cluster ${JSON.stringify(hello.cluster)}, expected ${JSON.stringify(self.cluster)}`);
      if (hello.nodeId === self.nodeId) return authFailed(`peer claims this node's own id ${JSON.stringify(self.nodeId)}`);
      if (hello.role === o.role) return authFailed(`both ends claim role ${o.role}`);
      peerHelloBytes = bytes;
      peerHello = hello;
      const input = { cluster: self.cluster, proverRole: o.role, proverId: self.nodeId, verifierId: hello.nodeId, verifierNonce: hello.nonce, proverNonce: nonce };
      o.auth.sign(proofBytes(input)).then((proof) => {
        if (done) return;
        try {
          socket.send(encodeFrame({ type: "auth", proof }));
        } catch (err) {
          return fail(new MeshkvError("CONNECTION_CLOSED", `Mesh handshake with ${socket.remote}: connection closed`, { cause: err }), CLOSE.goingAway);
        }
        sentProof = true;
        maybeDone();
      }, (err) => fail(new MeshkvError("INTERNAL", `Mesh handshake: signing failed`, { cause: err }), CLOSE.goingAway));
    };

    const onProof = (proof: Uint8Array) => {
      const hello = peerHello!;
      awaitingProof = true;
      const input = { cluster: self.cluster, proverRole: hello.role, proverId: hello.nodeId, verifierId: self.nodeId, verifierNonce: nonce, proverNonce: hello.nonce };
      o.auth.verify(proofBytes(input), proof).then((ok) => {
        if (!ok) return authFailed(`wrong cluster secret from ${hello.nodeId} at ${socket.remote}`);
        if (closedWhileVerifying) return peerClosed(closedWhileVerifying.code, closedWhileVerifying.reason);
        peerProven = true;
        maybeDone();
      }, (err) => fail(new MeshkvError("INTERNAL", `Mesh handshake: verifying failed`, { cause: err }), CLOSE.goingAway));
    };

    // A peer that rejects our proof may close before we have checked its proof; our verdict on its proof is
    // the more useful thing to report, so a close during verification waits for it.
    let closedWhileVerifying: { code: number; reason: string } | null = null;
    const peerClosed = (code: number, reason: string) =>
      fail(new MeshkvError("CONNECTION_CLOSED", `Mesh handshake with ${socket.remote}: closed by peer (${code} ${reason})`, { details: { code, reason } }), code);
    socket.setHandlers({
      message(bytes) {
        if (done) return;
        if (awaitingProof) {
          early.push(bytes);
          return;
        }
        let frame;
        try {
          frame = decodeFrame(bytes);
        } catch (err) {
          return fail(err as MeshkvError, CLOSE.protocol);
        }
        if (frame.type === "hello" && !peerHello) return onHello(bytes, frame);
        // A network that duplicates messages may repeat the hello; an identical copy is harmless.
        if (frame.type === "hello" && peerHelloBytes && equalBytes(bytes, peerHelloBytes)) return;
        if (frame.type === "auth" && peerHello) return onProof(frame.proof);
        fail(new MeshkvError("PROTOCOL_ERROR", `Mesh handshake: unexpected ${frame.type} frame from ${socket.remote}`), CLOSE.protocol);
      },
      close(code, reason) {
        if (awaitingProof && !peerProven) closedWhileVerifying = { code, reason };
        else peerClosed(code, reason);
      },
    });
    try {
      socket.send(helloBytes);
    } catch (err) {
      fail(new MeshkvError("CONNECTION_CLOSED", `Mesh handshake with ${socket.remote}: connection closed`, { cause: err }), CLOSE.goingAway);
    }
  });
}
