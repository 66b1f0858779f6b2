/**
 * Active anti-entropy: a continuous, throttled background exchange of per-partition hash trees between
 * replicas, transferring only what differs, in both directions (Dynamo 2007, section 4.7; the tictac AAE of
 * Riak's `riak_kv_tictacaae`, Martin Sutherland 2017).
 *
 * Every interval the node takes the next partition it replicates (round-robin) and, of its replicas that are
 * up, the one it completed an exchange with least recently, and runs one exchange as the initiator (and while
 * exchanges find the partition empty on both sides, up to `EQUAL_CHAIN_MAX` of them back to back):
 * 1. descent: `aeLevel {p, level, indices, segments} -> {hashes}` from the root, level by level, asking only
 *    for the children of nodes whose hashes differ (`core/hash_tree.ts`), so identical replicas cost one hash;
 * 2. keys: `aeKeys {p, segments} -> {keys: [[key, digest]], rest}` for the differing leaves, compared with
 *    the local keys of the same segments; a key one side lacks, or whose version digests differ, is repaired;
 * 3. pull: `aeFetch {p, keys} -> {items, done}`, each item merged into the local store (merge is commutative,
 *    associative and idempotent, so concurrent versions become siblings on both sides);
 * 4. push: the local sets the other side lacks or holds other versions of (after the pull, so it gets the
 *    merged set), through `kvMergeBatch {items}`, which the peer's `replica_server.ts` merges item by item.
 * Every list is bounded (indices per level, segments and keys per request, bytes per reply, keys repaired per
 * exchange); what a bound leaves out is repaired by a later exchange. Bytes are counted as msgpack-encoded
 * message sizes so the cost of repair can be measured against the data size.
 *
 * One exchange's steps are `ae_exchange.ts`. An exchange that finished with nothing left out proves that, at its start, the two replicas held the same
 * versions of partition `p`; those proofs, kept for the tombstone purge rule, are `purge_proofs.ts`. The responder
 * side of an exchange is `anti_entropy_server.ts`.
 */
import type { Mesh } from "../mesh/mesh.ts";
import type { Clock, Random, TimerHandle } from "../runtime/types.ts";
import type { ReplicaStore } from "./replica.ts";
import { EQUAL_CHAIN_MAX } from "./_ae_wire.ts";
import { serveAntiEntropy } from "./anti_entropy_server.ts";
import { type ExchangeResult, Exchanges } from "./ae_exchange.ts";
import { type PartitionProofs, PurgeProofs } from "./purge_proofs.ts";

/** Former holders probed per interval at most (`kvScan` of one key each). */
export const PROBES_PER_TICK_MAX = 8;

export {
  BATCH_BYTES_MAX,
  EQUAL_CHAIN_MAX,
  INDICES_PER_LEVEL_MAX,
  KEYS_PER_REPLY_MAX,
  KEYS_PER_REQUEST_MAX,
  SEGMENTS_PER_REQUEST_MAX,
} from "./_ae_wire.ts";

export interface AntiEntropyOptions {
  store: ReplicaStore;
  mesh: Mesh;
  clock: Clock;
  random: Random;
  nodeId: string;
  /** Ring partition count (bodies are checked against it). */
  partitions: number;
  /** Partitions this node replicates and may exchange now (complete ones). */
  mine(): number[];
  /** The other replicas of p that are up (exchange partners). */
  peersFor(p: number): string[];
  /** Every other replica of p, up or not: whom `syncedWithAllSince` waits for. */
  replicasFor(p: number): string[];
  /** True when a former replica can no longer hand data back (it left or was removed). Default: never. */
  holderGone?(node: string): boolean;
  /** One partition exchange per interval. Default 1000. */
  intervalMs?: number;
  /** Keys repaired per exchange at most; the rest go to the next exchange. Default 1000. */
  keysPerExchangeMax?: number;
  /** Per request. Default 5000. */
  replicaTimeoutMs?: number;
}

export type { ExchangeResult } from "./ae_exchange.ts";

export interface AntiEntropyStats {
  exchanges: number;
  failures: number;
  keysRepaired: number;
  bytesSent: number;
  bytesReceived: number;
  lastExchangeMs: number | null;
  partitions: Record<number, PartitionProofs>;
}

export class AntiEntropy {
  readonly #o: AntiEntropyOptions;
  readonly #intervalMs: number;
  readonly #keysMax: number;
  readonly #timeoutMs: number;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #proofs: PurgeProofs;
  readonly #run: Exchanges;
  #unregister: Array<() => void> = [];
  #timer: TimerHandle | null = null;
  #cursor = 0;
  #busy = false;
  #stats = {
    exchanges: 0,
    failures: 0,
    keysRepaired: 0,
    bytesSent: 0,
    bytesReceived: 0,
    lastExchangeMs: null as number | null,
  };

  constructor(o: AntiEntropyOptions) {
    if (!Number.isInteger(o.partitions) || o.partitions < 1) {
      throw new RangeError(`partitions must be a positive integer: ${o.partitions}`);
    }
    this.#o = o;
    this.#intervalMs = positive(o.intervalMs ?? 1000, "intervalMs");
    this.#keysMax = positive(o.keysPerExchangeMax ?? 1000, "keysPerExchangeMax");
    this.#timeoutMs = positive(o.replicaTimeoutMs ?? 5000, "replicaTimeoutMs");
    this.#run = new Exchanges({
      store: o.store,
      mesh: o.mesh,
      partitions: o.partitions,
      keysMax: this.#keysMax,
      timeoutMs: this.#timeoutMs,
      traffic: this.#stats,
    });
    this.#proofs = new PurgeProofs(
      o.partitions,
      (p) => o.replicasFor(p).filter((r) => r !== o.nodeId),
      (n) => o.holderGone?.(n) ?? false,
    );
  }

  /** Answers peers' exchanges and starts the background loop. */
  start(): void {
    if (this.#timer !== null) return;
    this.#unregister = serveAntiEntropy(this.#o.mesh, this.#o.store, this.#o.partitions, this.#stats);
    this.#timer = this.#o.clock.setInterval(() => this.#tick(0), this.#intervalMs);
  }

  /** Stops the loop and answering, then waits for exchanges in flight. */
  async stop(): Promise<void> {
    if (this.#timer !== null) this.#o.clock.clearInterval(this.#timer);
    this.#timer = null;
    for (const u of this.#unregister) u();
    this.#unregister = [];
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** One exchange of partition `p` with `peer` now. */
  exchange(p: number, peer: string): Promise<ExchangeResult> {
    if (!Number.isInteger(p) || p < 0 || p >= this.#o.partitions) throw new RangeError(`No partition ${p}`);
    if (peer === this.#o.nodeId) throw new RangeError("A node cannot exchange with itself");
    const run = this.#exchange(p, peer);
    this.#inFlight.add(run);
    const done = () => this.#inFlight.delete(run);
    run.then(done, done);
    return run;
  }

  /** When `p` last completed an exchange with every other replica, or null (`purge_proofs.ts`). */
  syncedWithAllSince(p: number): number | null {
    return this.#proofs.syncedWithAllSince(p, this.#o.clock.now());
  }

  /** The other replicas of `p` with no complete exchange begun after `sinceMs` (sorted): whom a purge waits for. */
  unsyncedSince(p: number, sinceMs: number): string[] {
    return this.#proofs.unsyncedSince(p, sinceMs);
  }

  /** The ring changed: former holders noted, proofs started over where a replica set changed. */
  observeRing(): void {
    this.#proofs.observeRing();
  }

  /** Asks a few former holders whether they still hold the partition they lost (a one-key `kvScan`). */
  #probeFormerHolder(): void {
    const run = this.#proofs.probe(PROBES_PER_TICK_MAX, async (p, node) => {
      const reply = await this.#o.mesh.request(node, "kvScan", {
        p,
        after: null,
        limit: 1,
        keysOnly: true,
        tombstones: true,
      }, { timeoutMs: this.#timeoutMs });
      const items = (reply as { items?: unknown } | null)?.items;
      return Array.isArray(items) && items.length === 0;
    });
    if (run === null) return;
    this.#inFlight.add(run);
    void run.finally(() => this.#inFlight.delete(run));
  }

  stats(): AntiEntropyStats {
    return { ...this.#stats, partitions: this.#proofs.stats() };
  }

  #tick(chained = 0): void {
    if (chained === 0) this.#probeFormerHolder();
    if (this.#busy) return;
    const mine = this.#o.mine();
    for (let tried = 0; tried < mine.length; tried++) {
      const p = mine[this.#cursor++ % mine.length]!;
      const peers = this.#o.peersFor(p).filter((x) => x !== this.#o.nodeId);
      if (peers.length === 0) continue;
      // The peer this partition has gone longest without a complete exchange with (never: first), so every
      // replica is covered within a few sweeps and the tombstone purge rule is not left to chance.
      const age = (x: string) => this.#proofs.lastProof(p, x);
      const oldest = Math.min(...peers.map(age));
      const stale = peers.filter((x) => age(x) === oldest);
      const peer = stale[this.#o.random.int(stale.length)]!;
      this.#busy = true;
      this.#exchangeSafely(p, peer).then((equal) => {
        this.#busy = false;
        // A partition empty on both sides cost one round trip: go on to the next one at once (up to
        // EQUAL_CHAIN_MAX per interval), so the empty partitions of replica classes few keys use (`keyspaces.ts`)
        // do not slow the sweep over the others down.
        const empty = equal && this.#o.store.keyCount(p) === 0;
        if (empty && chained + 1 < EQUAL_CHAIN_MAX && this.#timer !== null) this.#tick(chained + 1);
      }, () => (this.#busy = false));
      return;
    }
  }

  /** A background exchange: failures are counted in stats and retried with the next partition's turn. */
  async #exchangeSafely(p: number, peer: string): Promise<boolean> {
    try {
      return (await this.exchange(p, peer)).segmentsDiffering === 0;
    } catch {
      // Counted in `failures`; a peer that went away or timed out is tried again on a later tick.
      return false;
    }
  }

  async #exchange(p: number, peer: string): Promise<ExchangeResult> {
    const startedMs = this.#o.clock.now();
    const replicasAtStart = this.#proofs.replicaSet(p);
    const r: ExchangeResult = {
      segmentsDiffering: 0,
      keysPulled: 0,
      keysPushed: 0,
      hashesExchanged: 0,
      bytesSent: 0,
      bytesReceived: 0,
      complete: true,
      rounds: 0,
    };
    try {
      await this.#run.exchange(p, peer, r);
    } catch (err) {
      this.#stats.failures++;
      throw err;
    }
    const now = this.#o.clock.now();
    this.#proofs.noteExchange(p, peer, startedMs, now, replicasAtStart, r.complete);
    this.#stats.exchanges++;
    this.#stats.keysRepaired += r.keysPulled + r.keysPushed;
    this.#stats.lastExchangeMs = now;
    return r;
  }
}

function positive(n: number, name: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${name} must be a positive number: ${n}`);
  return n;
}
