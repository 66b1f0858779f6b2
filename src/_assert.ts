/**
 * Assertions mark invariants (convention 7, after TigerBeetle). A failed assertion is a bug in meshkv, never
 * bad input: bad input gets a `MeshkvError` with a code. Assertions stay on in production because a node that
 * continues after a broken invariant can corrupt data on disk or spread it to peers.
 */

export class AssertionError extends Error {
  override readonly name = "AssertionError" as const;
}

/** Crash with `message` unless `condition` holds. */
export function assert(condition: unknown, message = "Assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks code that must be unreachable; the compiler checks exhaustiveness through `never`. */
export function unreachable(value: never, message = "Unreachable code reached"): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}
