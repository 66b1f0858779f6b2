/**
 * Errors the SDK throws. The server sends `{ "error": { "code", "message", ...details } }`; the SDK rebuilds a
 * `MeshkvClientError` with the same stable `code`, so application code branches on codes, never on messages.
 * Failures with no response get codes too: `CONNECT_FAILED` (network), `TIMEOUT` (the client's deadline).
 * An abort through the caller's `AbortSignal` rejects with the signal's reason instead, as `fetch` does.
 * This file imports nothing from the server: the client entry must run in browsers and edge workers.
 */

/** The codes the server sends today and the SDK's own; new server codes arrive as plain strings. */
export type ClientErrorCode =
  | "INVALID_ARGUMENT"
  | "BAD_CONTEXT"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "KEY_NOT_FOUND"
  | "NOT_FOUND"
  | "KEY_EXISTS"
  | "STALE_CONTEXT"
  | "LIMIT_EXCEEDED"
  | "UNSUPPORTED"
  | "QUORUM_UNMET"
  | "NODE_LEAVING"
  | "CLOSED"
  | "TIMEOUT"
  | "CONNECT_FAILED"
  | "CONNECTION_CLOSED"
  | "INTERNAL"
  | "CORRUPTION"
  | "BAD_RESPONSE"
  | "BAD_PATH"
  | "BODY_TIMEOUT"
  | (string & {});

export class MeshkvClientError extends Error {
  override readonly name = "MeshkvClientError" as const;
  readonly code: ClientErrorCode;
  /** HTTP status of the response, or 0 when no response arrived (network failure, timeout, abort). */
  readonly status: number;
  readonly details: Record<string, unknown>;
  /** The endpoint that answered (or failed), when known. */
  endpoint: string | null = null;

  constructor(
    code: ClientErrorCode,
    message: string,
    status = 0,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** Builds the error for a failed response body; tolerates bodies that are not our JSON shape. */
export function errorFromBody(status: number, body: unknown): MeshkvClientError {
  const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (err && typeof err.code === "string") {
    const { code, message, ...details } = err as Record<string, unknown>;
    return new MeshkvClientError(String(code), typeof message === "string" ? message : String(code), status, details);
  }
  return new MeshkvClientError(
    status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT",
    `Unexpected response with status ${status}`,
    status,
  );
}

export function isMeshkvClientError(value: unknown, code?: ClientErrorCode): value is MeshkvClientError {
  return value instanceof MeshkvClientError && (code === undefined || value.code === code);
}

/** True for failures another endpoint might not have: no response, or a 503 (quorum, leaving, closing). */
export function isRetryable(error: unknown): boolean {
  return error instanceof MeshkvClientError && (error.status === 0 || error.status === 503) &&
    error.code !== "INVALID_ARGUMENT";
}
