/**
 * What a replica stores for one key: its versions (a DVVSet of value records, `version.ts`) and when it
 * expires. One type for the replica store, the coordinator, the write decision and listing, so "the stored
 * state of a key" means one thing everywhere.
 */
import { decodeSet } from "./context.ts";
import { type DvvSet, setDescends } from "./version.ts";

export interface Stored {
  readonly set: DvvSet<Uint8Array>;
  /** When the key expires (ms since the epoch), or null. */
  readonly expiresAt: number | null;
}

/**
 * The expiry of two merged states: the newer write's when one descends from the other (the latest write sets
 * the expiry), otherwise the later of the two (null, never, is latest), so concurrent writes expire together.
 */
export function mergedExpiry(a: Stored, b: Stored): number | null {
  if (a.set.entries.length === 0) return b.expiresAt;
  if (b.set.entries.length === 0) return a.expiresAt;
  const aNewer = setDescends(a.set, b.set);
  const bNewer = setDescends(b.set, a.set);
  if (aNewer && !bNewer) return a.expiresAt;
  if (bNewer && !aNewer) return b.expiresAt;
  if (a.expiresAt === null || b.expiresAt === null) return null;
  return Math.max(a.expiresAt, b.expiresAt);
}

/** The set an engine entry holds: the value, or a deleted key's history in the tombstone's meta. */
export function entrySet(e: { tombstone: boolean; value: Uint8Array; meta: Uint8Array }): DvvSet<Uint8Array> | null {
  if (e.tombstone) return e.meta.length > 0 ? decodeSet(e.meta) : null;
  return decodeSet(e.value);
}
