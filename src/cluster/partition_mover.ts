/**
 * Rebalancing: whole partitions move when the ring changes (Dynamo §4.9, riak_core ownership handoff).
 *
 * Two loops, both driven by this node's view of the ring:
 * - acquire (pull): a partition this node gained while running (or every partition it owns, when it joins
 *   with an empty store) is `acquiring` until it has pulled the partition, page by page, from every other
 *   replica that is up. Meanwhile the node takes writes for it as usual, and its read answers are merged but
 *   not counted toward a read's level (see the coordinator), so every key stays readable at quorum.
 * - hand off (push): a partition this node holds but no longer replicates is streamed to every replica that
 *   is up, page by page; each key is then dropped only if it is unchanged since it was sent, so a write that
 *   reached the old owner during the move is handed off in the next round, never lost. Pushes wait until the
 *   ring has been stable for `settleMs`, so a flapping view does not shuffle data back and forth.
 * A leaving node (status `left` in its own table) owns nothing, so its whole store is handed off; `drained()`
 * tells when it holds nothing more.
 */
import { decodeSet, versionDigest } from "../core/context.ts";
import type { Clock, TimerHandle } from "../runtime/types.ts";
import type { Mesh } from "../mesh/mesh.ts";
import { items as wireItems, obj, optStr } from "./_wire.ts";
import { SCAN_PAGE_KEYS_MAX } from "./kv_protocol.ts";
import type { ReplicaStore } from "./replica.ts";
import type { RingSnapshot } from "./ring_view.ts";

/** Partitions pulled at once by a node that gained them. */
export const ACQUIRE_PARALLEL_MAX = 16;
/** Partitions handed off at once by a node that lost them. */
export const HANDOFF_PARALLEL_MAX = 4;

export interface MoverOptions {
  store: ReplicaStore;
  mesh: Mesh;
  clock: Clock;
  nodeId: string;
  partitions: number;
  /** The current ring (null until this node has joined). */
  view(): RingSnapshot | null;
  /** How often the loops run one step. Default 200 ms. */
  intervalMs?: number;
  /** Keys per page pulled or pushed. Default 256. */
  pageKeysMax?: number;
  /** The ring must be unchanged this long before partitions are handed off. Default 2000 ms. */
  settleMs?: number;
  replicaTimeoutMs?: number;
}

export interface MoverStats {
  acquiring: number[];
  handingOff: number[];
  keysPulled: number;
  keysHandedOff: number;
  partitionsAcquired: number;
  partitionsHandedOff: number;
}

export class PartitionMover {
  readonly #o: MoverOptions;
  readonly #acquiring = new Set<number>();
  #mine: Set<number> | null = null;
  #epoch = -1;
  #changedAt = 0;
  #timer: TimerHandle | undefined;
  #busy: Promise<void> | null = null;
  #stats = { keysPulled: 0, keysHandedOff: 0, partitionsAcquired: 0, partitionsHandedOff: 0 };

  constructor(o: MoverOptions) {
    this.#o = o;
  }

  get intervalMs(): number {
    return this.#o.intervalMs ?? 200;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#busy = this.step().catch(() => {}).finally(() => (this.#busy = null));
    this.#timer = this.#o.clock.setInterval(() => {
      if (this.#busy) return;
      this.#busy = this.step().catch(() => {}).finally(() => (this.#busy = null));
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) this.#o.clock.clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#busy;
  }

  acquiring(p: number): boolean {
    return this.#acquiring.has(p);
  }

  /** True when nothing is being pulled or handed off. */
  settled(): boolean {
    return this.drained() && this.#acquiring.size === 0;
  }

  /** True when this node holds no partition it does not replicate. */
  drained(): boolean {
    const snap = this.#o.view();
    if (!snap) return false;
    this.#observe(snap);
    return this.#o.store.partitionsHeld().every((p) => this.#mine!.has(p));
  }

  stats(): MoverStats {
    const snap = this.#o.view();
    if (snap) this.#observe(snap);
    return {
      acquiring: [...this.#acquiring].sort((a, b) => a - b),
      handingOff: this.#mine ? this.#o.store.partitionsHeld().filter((p) => !this.#mine!.has(p)) : [],
      ...this.#stats,
    };
  }

  /** Notes ring changes: partitions gained become `acquiring`. */
  #observe(snap: RingSnapshot): void {
    if (snap.epoch === this.#epoch) return;
    const mine = new Set<number>();
    for (let p = 0; p < this.#o.partitions; p++) {
      if (snap.placement.forPartition(p).replicas.some((r) => r.node === this.#o.nodeId)) mine.add(p);
    }
    const others = snap.owners.some((id) => id !== this.#o.nodeId);
    if (this.#mine === null) {
      // First view after joining: an empty store pulls everything it owns; a store with data is complete.
      if (others && this.#o.store.partitionsHeld().length === 0) { for (const p of mine) this.#acquiring.add(p); }
    } else {
      for (const p of mine) if (!this.#mine.has(p) && others) this.#acquiring.add(p);
    }
    for (const p of this.#acquiring) if (!mine.has(p)) this.#acquiring.delete(p);
    this.#mine = mine;
    this.#epoch = snap.epoch;
    this.#changedAt = this.#o.clock.monotonic();
  }

  /** One step of each loop: pull acquiring partitions (a batch, more while they are empty), hand some off. */
  async step(): Promise<void> {
    const snap = this.#o.view();
    if (!snap) return;
    this.#observe(snap);
    // A batch that finished without pulling a key (the other replicas held nothing: a cluster that has just
    // formed) cost nothing to pace, so the next one starts at once; each round finishes a partition or stops.
    for (;;) {
      const batch = [...this.#acquiring].slice(0, ACQUIRE_PARALLEL_MAX);
      const pulled = this.#stats.keysPulled;
      await Promise.all(batch.map((p) => this.#acquire(snap, p).catch(() => {})));
      // What is still acquiring goes to the back, so the next batch tries others: a partition whose other
      // replicas are all down (or that failed) would otherwise take its place in every batch and starve the rest.
      for (const p of batch) if (this.#acquiring.delete(p)) this.#acquiring.add(p);
      const progressed = batch.some((p) => !this.#acquiring.has(p));
      if (this.#stats.keysPulled !== pulled || !progressed || this.#o.view()?.epoch !== snap.epoch) break;
    }
    if (this.#o.clock.monotonic() - this.#changedAt < (this.#o.settleMs ?? 2000)) return;
    const leaving = this.#o.store.partitionsHeld().filter((p) => !this.#mine!.has(p)).slice(0, HANDOFF_PARALLEL_MAX);
    await Promise.all(leaving.map((p) => this.handOff(snap, p).catch(() => {})));
  }

  #peers(snap: RingSnapshot, p: number): string[] {
    return snap.placement.forPartition(p).replicas.map((r) => r.node).filter((n) =>
      n !== this.#o.nodeId && !snap.down.has(n)
    );
  }

  async #acquire(snap: RingSnapshot, p: number): Promise<void> {
    const peers = this.#peers(snap, p);
    const replicas = snap.placement.forPartition(p).replicas.filter((r) => r.node !== this.#o.nodeId);
    if (peers.length === 0 && replicas.length > 0) return; // every other replica is down: wait
    for (const peer of peers) {
      let after: string | null = null;
      do {
        const reply = obj(
          await this.#o.mesh.request(peer, "kvScan", {
            p,
            after,
            limit: this.#pageKeys,
            keysOnly: false,
            tombstones: true,
          }, { timeoutMs: this.#timeout }),
          "kvScan reply",
        );
        const page = wireItems(reply, "items", this.#o.partitions, SCAN_PAGE_KEYS_MAX);
        for (const it of page) await this.#o.store.merge(p, it.key, decodeSet(it.set), it.exp);
        this.#stats.keysPulled += page.length;
        after = optStr(reply, "next");
      } while (after !== null && this.#acquiring.has(p));
    }
    if (this.#acquiring.delete(p)) this.#stats.partitionsAcquired++;
  }

  /** Streams partition `p` to its replicas, then drops what was handed off unchanged. */
  async handOff(snap: RingSnapshot, p: number): Promise<void> {
    const targets = this.#peers(snap, p);
    if (targets.length === 0) return;
    let after: string | null = null;
    do {
      const page = await this.#o.store.scan(p, { after, limit: this.#pageKeys, keysOnly: false, tombstones: true });
      if (page.items.length === 0) break;
      await Promise.all(
        targets.map((t) =>
          this.#o.mesh.request(t, "kvMergeBatch", { items: page.items }, { timeoutMs: this.#timeout })
        ),
      );
      for (const it of page.items) {
        if (await this.#o.store.dropIfUnchanged(p, it.key, versionDigest(decodeSet(it.set)))) {
          this.#stats.keysHandedOff++;
        }
      }
      after = page.next;
    } while (after !== null);
    if (this.#o.store.keyCount(p) === 0) this.#stats.partitionsHandedOff++;
  }

  get #pageKeys(): number {
    return this.#o.pageKeysMax ?? 256;
  }

  get #timeout(): number {
    return this.#o.replicaTimeoutMs ?? 5000;
  }
}
