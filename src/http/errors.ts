/**
 * The one error-to-status table of the client API (DESIGN.md section 3). Every failure leaves the node as
 * JSON `{ "error": { "code", "message", ...details } }` with the status this table gives its stable code;
 * routes throw `MeshkvError`s and never pick statuses themselves, so a code means the same status everywhere
 * (single requests, batch results, SSE). Codes not listed are server-side failures: 500.
 *
 * Anything that is not a `MeshkvError` is a bug: it becomes 500 `INTERNAL` and is handed to the app's
 * `onError` hook, and the node keeps serving.
 */
import { type ErrorCode, isMeshkvError, MeshkvError } from "../errors.ts";

export const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  // 400: the request itself is wrong
  INVALID_ARGUMENT: 400,
  BAD_CONTEXT: 400,
  BAD_PATH: 400,
  // 401/403: authentication and scope
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  // 404: no such key or route
  KEY_NOT_FOUND: 404,
  NOT_FOUND: 404,
  NODE_UNKNOWN: 404,
  // 408: the request body was too slow (the connection is closed after the answer)
  BODY_TIMEOUT: 408,
  // 409: create-only write found a value; a node to remove is still alive
  KEY_EXISTS: 409,
  NODE_ALIVE: 409,
  NODE_MEMBER: 409,
  // 412: a strict write's context is stale
  STALE_CONTEXT: 412,
  // 413: over a documented size limit
  LIMIT_EXCEEDED: 413,
  // 501: the node cannot do this in its configuration (join/leave on a backend without them)
  UNSUPPORTED: 501,
  // 503: try another node or later
  QUORUM_UNMET: 503,
  NODE_LEAVING: 503,
  NODE_STARTING: 503,
  NODE_REMOVED: 503,
  CLOSED: 503,
  CONNECT_FAILED: 503,
  CONNECTION_CLOSED: 503,
  CLOCK_SKEW: 503,
  // 504: a deadline passed
  TIMEOUT: 504,
};

/** The status for an error code (500 for codes that describe a server-side failure). */
export function statusOf(code: string): number {
  return STATUS_BY_CODE[code as ErrorCode] ?? 500;
}

export interface ErrorBody {
  error: { code: string; message: string; [detail: string]: unknown };
}

/** The error as a `MeshkvError` (wrapping anything else as INTERNAL). */
export function asMeshkvError(error: unknown): MeshkvError {
  if (isMeshkvError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new MeshkvError("INTERNAL", `Internal error: ${message}`, { cause: error });
}

/** The JSON body and status for an error. */
export function errorResponseParts(error: unknown): { status: number; body: ErrorBody } {
  const e = asMeshkvError(error);
  const details = jsonSafe(e.details);
  return { status: statusOf(e.code), body: { error: { ...details, code: e.code, message: e.message } } };
}

/** Details are plain data by convention; drop what JSON cannot carry rather than fail the error response. */
function jsonSafe(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (v === null || ["string", "number", "boolean"].includes(typeof v)) out[k] = v;
    else if (Array.isArray(v) && v.every((x) => x === null || ["string", "number", "boolean"].includes(typeof x))) {
      out[k] = v;
    }
  }
  return out;
}

/** Shorthands for the errors routes raise while parsing requests. */
export function invalid(message: string, details: Record<string, unknown> = {}): MeshkvError {
  return new MeshkvError("INVALID_ARGUMENT", message, { details });
}

export function overLimit(name: string, max: number, actual: number, what: string): MeshkvError {
  return new MeshkvError("LIMIT_EXCEEDED", `${what} over the ${name} limit: ${actual} > ${max}`, {
    details: { limit: name, max, actual },
  });
}
