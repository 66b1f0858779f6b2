/**
 * Proving knowledge of the cluster secret: HMAC-SHA-256 challenge-response in both directions.
 *
 * Each end of a new connection sends a fresh random nonce in its `hello`. Each then answers the other's nonce
 * with `HMAC(secret, label | version | cluster | proverRole | proverId | verifierId | verifierNonce |
 * proverNonce)`. Binding the role and both ids stops a proof from being reflected back or replayed on another
 * connection; binding the verifier's fresh nonce stops replay across connections. Comparison is constant-time
 * (`crypto.subtle.verify`, or a full-length XOR in the pure version).
 */
import { encode } from "@msgpack/msgpack";
import { hmacSha256 } from "./_sha256.ts";
import { PROTOCOL_VERSION, type Role } from "./kinds.ts";

export interface Authenticator {
  sign(data: Uint8Array): Promise<Uint8Array>;
  verify(data: Uint8Array, mac: Uint8Array): Promise<boolean>;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** HMAC-SHA-256 through Web Crypto, available on Deno, Bun and Node as `crypto.subtle`. */
export function webCryptoAuthenticator(secret: string): Authenticator {
  const key = crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
  return {
    async sign(data) {
      return new Uint8Array(await crypto.subtle.sign("HMAC", await key, data as Uint8Array<ArrayBuffer>));
    },
    async verify(data, mac) {
      return await crypto.subtle.verify(
        "HMAC",
        await key,
        mac as Uint8Array<ArrayBuffer>,
        data as Uint8Array<ArrayBuffer>,
      );
    },
  };
}

/** The same MAC computed synchronously in TypeScript, for the deterministic simulation (see `_sha256.ts`). */
export function pureAuthenticator(secret: string): Authenticator {
  const key = utf8(secret);
  return {
    sign: (data) => Promise.resolve(hmacSha256(key, data)),
    verify(data, mac) {
      const want = hmacSha256(key, data);
      let diff = want.length ^ mac.length;
      for (let i = 0; i < want.length; i++) diff |= want[i]! ^ (mac[i] ?? 0);
      return Promise.resolve(diff === 0);
    },
  };
}

export interface ProofInput {
  cluster: string;
  proverRole: Role;
  proverId: string;
  verifierId: string;
  verifierNonce: Uint8Array;
  proverNonce: Uint8Array;
}

/** The bytes a handshake proof signs. */
export function proofBytes(p: ProofInput): Uint8Array {
  return encode([
    "meshkv-mesh-auth",
    PROTOCOL_VERSION,
    p.cluster,
    p.proverRole,
    p.proverId,
    p.verifierId,
    p.verifierNonce,
    p.proverNonce,
  ]);
}
