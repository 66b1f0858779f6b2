/**
 * The limits of the HTTP API itself, in one place (DESIGN.md section 3, convention 6): request bodies, batches,
 * list pages, watch streams and admin requests. The data limits (key, value, siblings, set size, TTL) belong
 * to the client contract and live in `src/kv/limits.ts`. The HTTP layer checks each of them before a request
 * reaches the backend, and going over one is a 4xx whose message names the limit and its value, never a crash.
 * docs/api.md lists the same table; change both together.
 */

export const LIMITS = {
  /** Most operations in one batch. */
  batchOpsMax: 100,
  /** Largest batch request body, in bytes. */
  batchBytesMax: 8 * 1024 * 1024,
  /** Default and largest page of a list. */
  pageLimitDefault: 100,
  pageLimitMax: 1000,
  /** Longest list cursor accepted, in characters. */
  cursorCharsMax: 4096,
  /** Time between keep-alive comments on an idle watch stream. */
  watchHeartbeatMs: 15_000,
  /** Most watch streams one node serves at once. */
  watchStreamsMax: 1024,
  /** Largest admin request body (join), in bytes. */
  adminBodyBytesMax: 64 * 1024,
  /** Most seeds one join request may name. */
  joinSeedsMax: 64,
  /**
   * A request body must be complete this long after its route starts reading it, or the node answers 408
   * BODY_TIMEOUT and closes the connection (an 8 MiB batch then needs about 140 KiB/s).
   */
  bodyDeadlineMs: 60_000,
  /** After bodyRateGraceMs a request body must have arrived at this average rate (408 otherwise): stalled writers are cut early. */
  bodyRateBytesPerSecMin: 1024,
  /** The start of a body that bodyRateBytesPerSecMin does not judge (slow starts, small bodies on slow links). */
  bodyRateGraceMs: 10_000,
} as const;

export type Limits = typeof LIMITS;
