/**
 * The data limits of the client contract (DESIGN.md section 3, convention 6): how large a key, a value and the
 * versions of one key may be, whatever the API that carries them. The HTTP layer checks the request-shaped ones
 * (key, value, content type, TTL) before a request reaches the backend; the backend enforces the ones that
 * depend on what is stored (`siblingsMax`, `setBytesMax`). Going over one is a `LIMIT_EXCEEDED` (or, for a
 * malformed TTL, `INVALID_ARGUMENT`) whose message names the limit and its value, never a crash. docs/api.md
 * lists the same table; change both together. The limits of HTTP itself (request bodies, batch size, list
 * pages, watch streams) are in `src/http/limits.ts`.
 *
 * The sizes follow what users of similar stores expect: DynamoDB and Deno KV bound keys at about 2 KiB and
 * Riak recommends values under 1 MiB.
 */

export const DATA_LIMITS = {
  /** Longest key, in UTF-8 bytes. */
  keyBytesMax: 1024,
  /** Largest value, in bytes (the body of a PUT, or one value in a batch). */
  valueBytesMax: 1024 * 1024,
  /** Longest Content-Type kept with a value, in characters (printable ASCII only). */
  contentTypeCharsMax: 255,
  /** Most live siblings a key may hold; a write that would make more is refused. */
  siblingsMax: 16,
  /**
   * Most bytes the encoded versions of one key (every sibling with its version vector) may take after a write;
   * a write that would grow them past this is refused. The cluster sends a key's versions between replicas in
   * one mesh frame (4 MiB), so this stays below it: three 1 MiB siblings fit.
   */
  setBytesMax: 3 * 1024 * 1024 + 512 * 1024,
  /** Longest TTL, in milliseconds (ten years). */
  ttlMsMax: 10 * 365 * 24 * 3600 * 1000,
  /** A watch event carries the values only while they total at most this many bytes; larger ones say `valuesOmitted`. */
  watchValueBytesMax: 64 * 1024,
} as const;

export type DataLimits = typeof DATA_LIMITS;
