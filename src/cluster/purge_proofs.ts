/**
 * Proofs that a partition's replicas hold the same versions, kept for the tombstone purge rule: an
 * anti-entropy exchange that finished with nothing left out proves that, at its start, the two replicas held the
 * same versions of partition `p` (`anti_entropy.ts` records it here). A delete's history may go only once every
 * other replica of `p` in the current ring, down or suspected ones included, has such a proof begun after the
 * delete (`unsyncedSince`), so a replica that is away blocks the purge until it returns or is removed.
 *
 * When the replica set of `p` changes, its proofs start over: a new replica has to hold the tombstones before any
 * may go. The replicas it lost are *former holders*: they may still hold `p` (a down node hands it off when it
 * returns), so they block the purge too until a probe finds that they hold nothing of `p` any more, or they left
 * or were removed. What this node did not see (a ring change before it started) it cannot know.
 */

interface Synced {
  lastExchangeMs: number;
  /** Per peer, when the latest complete exchange with it began. */
  peers: Map<string, number>;
  /** The other replicas (sorted, comma-joined) the proofs were made under. */
  replicas: string;
  /** Replicas the partition had before and may still hold data of it, until a probe finds them empty. */
  former: Set<string>;
}

export interface PartitionProofs {
  lastExchangeMs: number;
  peers: Record<string, number>;
  formerHolders?: string[];
}

export class PurgeProofs {
  readonly #synced = new Map<number, Synced>();
  readonly #partitions: number;
  readonly #others: (p: number) => string[];
  readonly #gone: (node: string) => boolean;
  #probing = false;
  #probeCursor = 0;

  /** `others(p)`: every other replica of `p` in the current ring; `gone(n)`: a former holder that left or was removed. */
  constructor(partitions: number, others: (p: number) => string[], gone: (node: string) => boolean) {
    this.#partitions = partitions;
    this.#others = others;
    this.#gone = gone;
  }

  /** The replica set of `p` the proofs are made under now (compare with `noteExchange`'s `replicasAtStart`). */
  replicaSet(p: number): string {
    return this.#entry(p).replicas;
  }

  /** When this node last completed an exchange of `p` with `peer` that began at `startedMs`, under `replicasAtStart`. */
  noteExchange(
    p: number,
    peer: string,
    startedMs: number,
    endedMs: number,
    replicasAtStart: string,
    complete: boolean,
  ): void {
    const s = this.#entry(p);
    s.lastExchangeMs = endedMs;
    // A proof counts only under the replica set it began in: a ring change meanwhile leaves it out.
    if (complete && s.replicas === replicasAtStart) s.peers.set(peer, Math.max(s.peers.get(peer) ?? 0, startedMs));
  }

  /** When the latest complete exchange of `p` with `peer` began, or -1 (the peer to exchange with next is the oldest). */
  lastProof(p: number, peer: string): number {
    return this.#synced.get(p)?.peers.get(peer) ?? -1;
  }

  /**
   * When `p` last completed an exchange with every other replica (ms since the epoch), or null: the oldest
   * start of a complete exchange over them. With no other replica there is nobody to wait for: `nowMs`.
   */
  syncedWithAllSince(p: number, nowMs: number): number | null {
    const others = this.#others(p);
    const s = this.#entry(p);
    if (this.#formerHolders(s).length > 0) return null;
    if (others.length === 0) return nowMs;
    let oldest = Infinity;
    for (const r of others) {
      const t = s.peers.get(r);
      if (t === undefined) return null;
      oldest = Math.min(oldest, t);
    }
    return oldest;
  }

  /** The other replicas of `p` with no complete exchange begun after `sinceMs` (sorted): whom a purge waits for. */
  unsyncedSince(p: number, sinceMs: number): string[] {
    const s = this.#entry(p);
    const waiting = this.#others(p).filter((r) => !((s.peers.get(r) ?? -Infinity) > sinceMs));
    return [...new Set([...waiting, ...this.#formerHolders(s)])].sort();
  }

  /**
   * Asks up to `max` former holders (round-robin) through `isEmpty(p, node)` whether they still hold anything of
   * the partition they lost; one that answers true is no longer waited for, one that fails is asked again on a
   * later call. Null when nothing is to be asked or a round is still running.
   */
  probe(max: number, isEmpty: (p: number, node: string) => Promise<boolean>): Promise<void> | null {
    if (this.#probing) return null;
    const pending: Array<[number, string]> = [];
    for (const [p, s] of this.#synced) for (const n of this.#formerHolders(s)) pending.push([p, n]);
    if (pending.length === 0) return null;
    const start = this.#probeCursor;
    this.#probeCursor += max;
    const batch = Array.from(
      { length: Math.min(max, pending.length) },
      (_, i) => pending[(start + i) % pending.length]!,
    );
    this.#probing = true;
    return Promise.all(batch.map(([p, node]) =>
      isEmpty(p, node).then((empty) => {
        if (empty) this.#synced.get(p)?.former.delete(node);
      }, () => {
        // Down or unreachable: it still may hold the partition; asked again later.
      })
    )).then(() => {}).finally(() => (this.#probing = false));
  }

  /**
   * The ring changed: notes for every partition the replicas it lost (former holders) and starts its proofs over
   * where its replica set changed. Called on every ring change, so a replica that held a partition only briefly
   * is noted too.
   */
  observeRing(): void {
    for (let p = 0; p < this.#partitions; p++) this.#entry(p);
  }

  stats(): Record<number, PartitionProofs> {
    const out: Record<number, PartitionProofs> = {};
    for (const [p, s] of [...this.#synced].sort((a, b) => a[0] - b[0])) {
      const former = this.#formerHolders(s);
      out[p] = {
        lastExchangeMs: s.lastExchangeMs,
        peers: Object.fromEntries(s.peers),
        ...(former.length > 0 ? { formerHolders: former } : {}),
      };
    }
    return out;
  }

  #formerHolders(s: Synced): string[] {
    if (s.former.size === 0) return [];
    return [...s.former].filter((n) => !this.#gone(n));
  }

  /** The proofs of `p`, started over when its replica set is not the one they were made under. */
  #entry(p: number): Synced {
    const now = this.#others(p).sort();
    const replicas = now.join(",");
    let s = this.#synced.get(p);
    if (!s) this.#synced.set(p, s = { lastExchangeMs: 0, peers: new Map(), replicas, former: new Set() });
    if (s.replicas !== replicas) {
      for (const n of s.replicas.split(",")) if (n !== "" && !now.includes(n)) s.former.add(n);
      for (const n of now) s.former.delete(n);
      s.peers = new Map();
      s.replicas = replicas;
    }
    return s;
  }
}
