/**
 * The tally of tombstones whose purge waits for a replica: the storage engine asks the purge rule about each
 * tombstone it meets in a flush or compaction (`tombstonePurgeable`), and a tombstone past its grace that some
 * replica has not acknowledged yet is noted here with the replicas it waits for, until a later pass purges it.
 * `/v1/admin/status` and `/metrics` show the tally per replica, so an operator sees why tombstones pile up (a
 * replica that is away; one that is gone for good needs `meshkv remove`).
 *
 * The tally is as of the last flush or compaction that met each tombstone (a tombstone overwritten by a later
 * write is forgotten at the next pass over its partition's tables that purges or keeps it). It is bounded by
 * `TOMBSTONES_TRACKED_MAX`; past it, new tombstones are counted in `untracked` without their replicas.
 */

/** Tombstones whose waiting replicas are remembered (keys in memory); past it they are only counted. */
export const TOMBSTONES_TRACKED_MAX = 100_000;

export interface TombstoneWaitStats {
  /** Tombstones past their grace that wait for at least one replica. */
  waiting: number;
  /** Per replica, how many of them wait for it. */
  byReplica: Record<string, number>;
  /** Tombstones noted past `TOMBSTONES_TRACKED_MAX` (not in `byReplica`). */
  untracked: number;
}

export class TombstoneWaits {
  /** Partition -> key -> the replicas the tombstone waits for. */
  readonly #waits = new Map<number, Map<string, readonly string[]>>();
  #size = 0;
  #untracked = 0;

  /** The tombstone of `key` in `p` waits for `replicas` (empty: it was purged or needs nobody). */
  note(p: number, key: string, replicas: readonly string[]): void {
    let keys = this.#waits.get(p);
    if (replicas.length === 0) {
      if (keys?.delete(key)) this.#size--;
      if (keys?.size === 0) this.#waits.delete(p);
      return;
    }
    if (!keys) this.#waits.set(p, keys = new Map());
    if (!keys.has(key)) {
      if (this.#size >= TOMBSTONES_TRACKED_MAX) {
        this.#untracked++;
        return;
      }
      this.#size++;
    }
    keys.set(key, replicas);
  }

  /** Forgets the tombstones of partition `p` (this node handed it off). */
  forgetPartition(p: number): void {
    const keys = this.#waits.get(p);
    if (!keys) return;
    this.#size -= keys.size;
    this.#waits.delete(p);
  }

  stats(): TombstoneWaitStats {
    const byReplica: Record<string, number> = {};
    let waiting = 0;
    for (const keys of this.#waits.values()) {
      for (const replicas of keys.values()) {
        waiting++;
        for (const r of replicas) byReplica[r] = (byReplica[r] ?? 0) + 1;
      }
    }
    return { waiting: waiting + this.#untracked, byReplica, untracked: this.#untracked };
  }
}
