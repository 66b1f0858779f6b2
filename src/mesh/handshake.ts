/**
 * The mesh handshake's driver: it performs what the pure state machine (`handshake_machine.ts`, where the
 * protocol and its checks live) asks for, on the socket, the authenticator and the clock, and feeds the
 * outcomes back as events. Both ends authenticate with the cluster secret before any other frame is accepted.
 */
import type { Clock, PeerSocket, Random, TimerHandle } from "../runtime/types.ts";
import type { Authenticator } from "./auth.ts";
import { NONCE_BYTES } from "./codec.ts";
import {
  type HandshakeAction,
  type HandshakeEvent,
  initialHandshake,
  type LocalIdentity,
  type PeerIdentity,
  step,
} from "./handshake_machine.ts";
import type { Role } from "./kinds.ts";

export { CLOSE, type LocalIdentity, type PeerIdentity } from "./handshake_machine.ts";

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

/** Runs the handshake on a freshly opened socket; resolves with who is on the other end. */
export function handshake(o: HandshakeOptions): Promise<HandshakeResult> {
  const { socket } = o;
  return new Promise<HandshakeResult>((resolve, reject) => {
    let state = initialHandshake({
      role: o.role,
      self: o.self,
      nonce: o.random.bytes(NONCE_BYTES),
      remote: socket.remote,
      timeoutMs: o.timeoutMs,
    });
    let timer: TimerHandle | undefined;
    // Events raised while an action runs (`setHandlers` hands over buffered frames at once, a send can throw)
    // are stepped at once, in the order the socket raised them, exactly as the callbacks would see them.
    const dispatch = (event: HandshakeEvent): void => {
      const next = step(state, event);
      state = next.state;
      for (const action of next.actions) perform(action);
    };
    const perform = (a: HandshakeAction): void => {
      switch (a.type) {
        case "armTimer":
          timer = o.clock.setTimeout(() => dispatch({ type: "timeout" }), a.ms);
          return;
        case "clearTimer":
          if (timer !== undefined) o.clock.clearTimeout(timer);
          return;
        case "listen":
          socket.setHandlers({
            message: (bytes) => dispatch({ type: "frame", bytes }),
            close: (code, reason) => dispatch({ type: "closed", code, reason }),
          });
          return;
        case "send":
          try {
            socket.send(a.bytes);
          } catch (cause) {
            return dispatch({ type: "sendFailed", cause });
          }
          return dispatch({ type: "sent", frame: a.frame });
        case "sign":
          o.auth.sign(a.data).then(
            (proof) => dispatch({ type: "signed", proof }),
            (cause) => dispatch({ type: "signFailed", cause }),
          );
          return;
        case "verify":
          o.auth.verify(a.data, a.proof).then(
            (ok) => dispatch({ type: "verified", ok }),
            (cause) => dispatch({ type: "verifyFailed", cause }),
          );
          return;
        case "close":
          socket.setHandlers({ message: () => {}, close: () => {} });
          socket.close(a.code, a.reason);
          return;
        case "resolve":
          resolve({ peer: a.peer, early: [...a.early] });
          return;
        case "reject":
          reject(a.error);
          return;
      }
    };
    dispatch({ type: "start" });
  });
}
