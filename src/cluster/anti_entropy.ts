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
 * An exchange that finished with nothing left out proves that, at its start, the two replicas held the same
 * versions of partition `p`; those proofs, kept for the tombstone purge rule, are `purge_proofs.ts`. The responder
 * side of an exchange is `anti_entropy_server.ts`.
 */
import { encode } from "@msgpack/msgpack";
import { equalBytes } from "../core/_bytes.ts";
import { decodeSet, wireVersionDigest } from "../core/context.ts";
import { segmentOf } from "../core/hash_tree.ts";
import type { Mesh } from "../mesh/mesh.ts";
import type { MessageKind } from "../mesh/kinds.ts";
import type { Clock, Random, TimerHandle } from "../runtime/types.ts";
import { bytes, int, items as wireItems, obj, protocolError } from "./_wire.ts";
import type { ReplicaStore } from "./replica.ts";
import {
  BATCH_BYTES_MAX,
  byBytes,
  EQUAL_CHAIN_MAX,
  groupBySegment,
  hashesFromWire,
  INDICES_PER_LEVEL_MAX,
  intList,
  keyList,
  KEYS_PER_REPLY_MAX,
  KEYS_PER_REQUEST_MAX,
  SEGMENTS_PER_REQUEST_MAX,
} from "./_ae_wire.ts";
import { serveAntiEntropy } from "./anti_entropy_server.ts";
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
};

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

export interface ExchangeResult {
  segmentsDiffering: number;
  keysPulled: number;
  keysPushed: number;
  hashesExchanged: number;
  bytesSent: number;
  bytesReceived: number;
  /** Nothing was left out by a bound: the replicas held the same versions when the exchange began. */
  complete: boolean;
  rounds: number;
}

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
      const segments = await this.#descend(p, peer, r);
      r.segmentsDiffering = segments.length;
      if (segments.length > 0) await this.#repair(p, peer, segments, r);
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

  /** The differing leaves, by descending from the root only into nodes whose hashes differ. */
  async #descend(p: number, peer: string, r: ExchangeResult): Promise<number[]> {
    const tree = this.#o.store.tree(p);
    let indices = [0];
    for (let level = 0;; level++) {
      if (indices.length > INDICES_PER_LEVEL_MAX) {
        indices = indices.slice(0, INDICES_PER_LEVEL_MAX);
        r.complete = false;
      }
      const reply = obj(
        await this.#request(peer, "aeLevel", { p, level, indices, segments: tree.segments }, r),
        "aeLevel reply",
      );
      r.rounds++;
      r.hashesExchanged += indices.length;
      const remote = hashesFromWire(bytes(reply, "hashes"), indices.length);
      indices = tree.diffLevel(level, indices, remote);
      if (indices.length === 0 || level === tree.depth) return indices;
      indices = tree.childrenOf(level, indices);
    }
  }

  /** Lists the keys of `segments` on both sides, then pulls and pushes what differs, within the bounds. */
  async #repair(p: number, peer: string, segments: number[], r: ExchangeResult): Promise<void> {
    const store = this.#o.store;
    const local = groupBySegment(await store.keysInSegments(p, new Set(segments)), store.treeSegments);
    const pull: string[] = [];
    const remoteDigest = new Map<string, Uint8Array>();
    const push = new Set<string>();
    let pending = segments;
    while (pending.length > 0 && pull.length + push.size < this.#keysMax) {
      const ask = pending.slice(0, SEGMENTS_PER_REQUEST_MAX);
      const reply = obj(await this.#request(peer, "aeKeys", { p, segments: ask }, r), "aeKeys reply");
      r.rounds++;
      const remote = keyList(reply, "keys", KEYS_PER_REPLY_MAX);
      const rest = intList(reply, "rest", ask.length, store.treeSegments);
      const covered = new Set(ask.filter((s) => !rest.includes(s)));
      if (covered.size === 0 || covered.size + rest.length !== ask.length) {
        throw protocolError("aeKeys reply's rest is not a part of the segments asked for");
      }
      pending = [...rest, ...pending.slice(ask.length)];
      const mineHere = new Map<string, Uint8Array>();
      for (const s of covered) for (const [k, d] of local.get(s) ?? []) mineHere.set(k, d);
      for (const [k, d] of remote) {
        if (!covered.has(segmentOf(k, store.treeSegments))) {
          throw protocolError("aeKeys reply holds a key outside the segments covered");
        }
        const ours = mineHere.get(k);
        mineHere.delete(k);
        if (ours !== undefined && equalBytes(ours, d)) continue;
        remoteDigest.set(k, d);
        pull.push(k);
        if (ours !== undefined) push.add(k);
      }
      for (const k of mineHere.keys()) push.add(k);
    }
    if (pending.length > 0) r.complete = false;
    // The bound: keys in a stable order, pulls first (they also settle what to push for differing keys).
    const pushOnlyAll = [...push].filter((k) => !remoteDigest.has(k)).sort();
    const pulls = pull.sort().slice(0, this.#keysMax);
    const pushOnly = pushOnlyAll.slice(0, this.#keysMax - pulls.length);
    if (pulls.length + pushOnly.length < pull.length + pushOnlyAll.length) r.complete = false;
    const merged = await this.#pull(p, peer, pulls, r);
    const toPush = [...pushOnly];
    for (const k of pulls) {
      const after = merged.get(k);
      const theirs = remoteDigest.get(k)!;
      if (after !== undefined && !equalBytes(after, theirs)) toPush.push(k);
    }
    await this.#push(p, peer, toPush.sort(), r);
  }

  /** Fetches `keys` from `peer` and merges them; returns each merged key's digest afterwards. */
  async #pull(p: number, peer: string, keys: string[], r: ExchangeResult): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    let i = 0;
    while (i < keys.length) {
      const ask = keys.slice(i, i + KEYS_PER_REQUEST_MAX);
      const reply = obj(await this.#request(peer, "aeFetch", { p, keys: ask }, r), "aeFetch reply");
      r.rounds++;
      const done = int(reply, "done", 1, ask.length);
      const asked = new Set(ask.slice(0, done));
      for (const it of wireItems(reply, "items", this.#o.partitions, ask.length)) {
        if (it.p !== p || !asked.has(it.key)) throw protocolError("aeFetch reply holds a key that was not asked for");
        const { after } = await this.#o.store.merge(p, it.key, decodeSet(it.set), it.exp);
        out.set(it.key, wireVersionDigest(after.set));
        r.keysPulled++;
      }
      i += done;
    }
    return out;
  }

  /** Sends the local sets of `keys` to `peer` in bounded batches. */
  async #push(p: number, peer: string, keys: string[], r: ExchangeResult): Promise<void> {
    for (let i = 0; i < keys.length; i += KEYS_PER_REQUEST_MAX) {
      const found = await this.#o.store.fetch(p, keys.slice(i, i + KEYS_PER_REQUEST_MAX));
      for (const batch of byBytes(found)) {
        await this.#request(peer, "kvMergeBatch", { items: batch }, r);
        r.rounds++;
        r.keysPushed += batch.length;
      }
    }
  }

  async #request(peer: string, kind: MessageKind, body: unknown, r: ExchangeResult): Promise<unknown> {
    const sent = encode(body).byteLength;
    r.bytesSent += sent;
    this.#stats.bytesSent += sent;
    const reply = await this.#o.mesh.request(peer, kind, body, { timeoutMs: this.#timeoutMs });
    const received = encode(reply).byteLength;
    r.bytesReceived += received;
    this.#stats.bytesReceived += received;
    return reply;
  }
}

function positive(n: number, name: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${name} must be a positive number: ${n}`);
  return n;
}
