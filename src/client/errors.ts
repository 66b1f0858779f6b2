/**
 * Errors the SDK throws. The server sends `{ "error": { "code", "message", ...details } }`; the SDK rebuilds a
 * `MeshkvClientError` with the same stable `code`, so application code branches on codes, never on messages.
 * This file imports nothing from the server: the client entry must run in browsers and edge workers.
 */

export class MeshkvClientError extends Error {
  override readonly name = "MeshkvClientError" as const;
  readonly code: string;
  /** HTTP status of the response, or 0 when no response arrived (network failure, timeout, abort). */
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, status = 0, details: Record<string, unknown> = {}, cause?: unknown) {
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
  return new MeshkvClientError(status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT", `Unexpected response with status ${status}`, status);
}

export function isMeshkvClientError(value: unknown, code?: string): value is MeshkvClientError {
  return value instanceof MeshkvClientError && (code === undefined || value.code === code);
}
