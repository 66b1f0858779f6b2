/**
 * Errors with stable codes.
 *
 * Every failure a caller can act on is a `MeshkvError` whose `code` comes from the table below. The code is
 * the contract (it travels in JSON, the SDK rebuilds typed errors from it); the message is for people and may
 * change. Misuse of an API by the programmer throws `TypeError` or `RangeError` instead (convention 5).
 *
 * The table is append only: codes are part of the wire format of the client API.
 */

/** append only: the codes are on the wire. */
export const ERROR_CODES = {
  // --- generic ---
  INVALID_ARGUMENT: "A value given to an API was malformed or out of range",
  INTERNAL: "A bug: an invariant did not hold",
  CLOSED: "The object was used after it was closed",
  TIMEOUT: "An operation did not finish within its deadline",
  LIMIT_EXCEEDED: "A named limit was exceeded; the message names the limit",
  UNSUPPORTED: "The runtime or configuration does not support the operation",
  // --- files (translated from ENOENT, Deno.errors.NotFound, ...) ---
  NOT_FOUND: "A file or directory does not exist",
  ALREADY_EXISTS: "A file or directory exists where a new one was to be created",
  IS_DIRECTORY: "A file operation was given a directory",
  NOT_DIRECTORY: "A directory operation was given a file",
  NOT_EMPTY: "A directory to remove is not empty",
  PERMISSION_DENIED: "The operating system refused access",
  IO_ERROR: "Any other input/output failure reported by the operating system",
  CORRUPTION: "Stored bytes failed a checksum or format check; the details name the file and offset",
  // --- network ---
  CONNECT_FAILED: "A connection to a peer or server could not be opened",
  CONNECTION_CLOSED: "A connection closed before the operation completed",
  ADDRESS_IN_USE: "The port to listen on is taken",
  // --- cluster core (src/core) ---
  BAD_CONTEXT: "A causal context token from a client was malformed, truncated or from an unknown format version",
  QUORUM_UNMET: "Too few replicas answered to meet the consistency level; details carry the counts",
  CLOCK_SKEW: "A peer's hybrid logical clock is further ahead of the local clock than the allowed drift",
  // --- client API (src/http) ---
  KEY_NOT_FOUND: "The key has no value: never written, deleted or expired",
  KEY_EXISTS: "A create-only write (If-None-Match: *) found a value already stored under the key",
  STALE_CONTEXT: "A strict write's causal context does not cover what is stored: re-read and retry",
  UNAUTHORIZED: "The request carries no bearer token, or one the node does not know",
  FORBIDDEN: "The bearer token lacks the scope the route needs (read, write or admin)",
  NODE_LEAVING: "The node is leaving the cluster and hands its data off: use another node",
  // --- mesh (src/mesh) ---
  PROTOCOL_ERROR: "A peer sent a frame that breaks the mesh protocol (garbage, wrong type, unknown field shape)",
  AUTH_FAILED: "A mesh handshake failed: wrong cluster secret, cluster name or protocol version",
  OVERLOADED: "A bound on in-flight requests or queued bytes on a peer link was reached: retry later",
  // --- storage (src/storage) ---
  LOCKED: "The store's LOCK is held by another engine (in this process, or a live process); the details name its owner",
  // --- cluster (src/cluster) ---
  NODE_STARTING:
    "The node has not joined its cluster yet (no member table exchanged with a seed): retry, or use another node",
  // --- client API (src/http), continued ---
  BAD_PATH:
    "The raw request path has segments a URL parser would resolve or drop (., .., %2e forms, backslash, #, bytes outside printable ASCII): the route could act on another key than the one sent",
  BODY_TIMEOUT:
    "The request body did not arrive in time: past bodyDeadlineMs, or slower than bodyRateBytesPerSecMin after its grace window",
  NODE_ALIVE:
    "A node to remove from the cluster is alive or only suspected: stop it (or wait until it is down), or make it leave",
  NODE_UNKNOWN: "No member of the cluster has that node id",
  NODE_REMOVED: "The node was removed from the cluster by an operator and can never rejoin under its id",
  NODE_MEMBER: "A node to plan a join for is a member of the cluster already",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface MeshkvErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

/** The one error type for failures with a stable code. */
export class MeshkvError extends Error {
  override readonly name = "MeshkvError" as const;
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: MeshkvErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): { code: ErrorCode; message: string } & Record<string, unknown> {
    return { ...this.details, code: this.code, message: this.message };
  }
}

/** True when `value` is a MeshkvError, optionally with the given code. */
export function isMeshkvError(value: unknown, code?: ErrorCode): value is MeshkvError {
  if (!(value instanceof MeshkvError)) return false;
  return code === undefined || value.code === code;
}

/** True when `code` is one of the codes in the table (used when decoding errors from the wire). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
}
