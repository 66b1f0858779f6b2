/**
 * What a replica stores for one key: its versions (a DVVSet of value records, `version.ts`) and when it
 * expires. One type for the replica store, the coordinator, the write decision and listing, so "the stored
 * state of a key" means one thing everywhere.
 */
import type { DvvSet } from "./version.ts";

export interface Stored {
  readonly set: DvvSet<Uint8Array>;
  /** When the key expires (ms since the epoch), or null. */
  readonly expiresAt: number | null;
}
