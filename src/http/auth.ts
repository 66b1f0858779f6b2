/**
 * Bearer-token authentication with three nested scopes: `read` (get, list, watch, metrics), `write` (also
 * put, delete, batches that write) and `admin` (also the admin API). Tokens come from configuration; the
 * app compares a presented token against every configured one in constant time (no early exit on the first
 * differing byte, no early exit on the first match), so response timing does not reveal how much of a guess
 * was right. Tokens are never logged or echoed in errors.
 *
 * With `auth: null` the app checks nothing: the CLI then listens on loopback only and says so at start.
 * `/health` is always open, so load balancers and orchestrators can probe it.
 */
import { MeshkvError } from "../errors.ts";

export const SCOPES = ["read", "write", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenConfig {
  token: string;
  scope: Scope;
  /** A label for logs and metrics (the token itself never appears anywhere). */
  name?: string;
}

export interface AuthConfig {
  tokens: readonly TokenConfig[];
}

/** Shortest token accepted in configuration: guessing must be infeasible. */
export const TOKEN_CHARS_MIN = 16;
export const TOKEN_CHARS_MAX = 512;

const rank = (s: Scope) => SCOPES.indexOf(s);
const encoder = new TextEncoder();

interface Known {
  bytes: Uint8Array;
  scope: Scope;
}

/** Checks bearer tokens against the configured ones. */
export class TokenChecker {
  readonly #known: Known[];

  constructor(config: AuthConfig) {
    if (!config || !Array.isArray(config.tokens) || config.tokens.length === 0) {
      throw new TypeError("auth.tokens must be a non-empty array (use auth: null for no authentication)");
    }
    this.#known = config.tokens.map((t, i) => {
      if (typeof t?.token !== "string" || t.token.length < TOKEN_CHARS_MIN || t.token.length > TOKEN_CHARS_MAX) {
        throw new RangeError(`Token ${i} must be ${TOKEN_CHARS_MIN} to ${TOKEN_CHARS_MAX} characters`);
      }
      if (!SCOPES.includes(t.scope)) throw new RangeError(`Token ${i} has an unknown scope: ${String(t.scope)}`);
      return { bytes: encoder.encode(t.token), scope: t.scope };
    });
  }

  /** The scope of the `Authorization` header's token, or throws UNAUTHORIZED / FORBIDDEN. */
  check(header: string | undefined | null, needed: Scope): Scope {
    const m = header ? /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header) : null;
    if (!m) throw new MeshkvError("UNAUTHORIZED", "Missing bearer token: send Authorization: Bearer <token>");
    const presented = encoder.encode(m[1]!);
    let found: Scope | null = null;
    for (const k of this.#known) if (constantTimeEqual(presented, k.bytes) && found === null) found = k.scope;
    if (found === null) throw new MeshkvError("UNAUTHORIZED", "Unknown bearer token");
    if (rank(found) < rank(needed)) {
      throw new MeshkvError("FORBIDDEN", `The token's scope is ${found}; this request needs ${needed}`, {
        details: { scope: found, needed },
      });
    }
    return found;
  }
}

/** Byte equality whose running time depends only on the lengths, not on where the bytes differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
