/**
 * One anti-entropy exchange, as the initiator runs it (`anti_entropy.ts` schedules them and keeps the proofs):
 * descend the two hash trees from the root into the nodes whose hashes differ (`aeLevel`), list the keys of the
 * differing leaves on both sides (`aeKeys`), pull what the peer has that differs (`aeFetch`, merged here) and
 * push what this side has that the peer lacks or holds other versions of (`kvMergeBatch`). Every list is
 * bounded; what a bound leaves out marks the exchange incomplete and is repaired by a later one.
 */
import { encode } from "@msgpack/msgpack";
import { equalBytes } from "../core/_bytes.ts";
import { decodeSet, wireVersionDigest } from "../core/context.ts";
import { segmentOf } from "../core/hash_tree.ts";
import type { MessageKind } from "../mesh/kinds.ts";
import type { Mesh } from "../mesh/mesh.ts";
import { bytes, int, items as wireItems, obj, protocolError } from "./_wire.ts";
import {
  byBytes,
  groupBySegment,
  hashesFromWire,
  INDICES_PER_LEVEL_MAX,
  intList,
  keyList,
  KEYS_PER_REPLY_MAX,
  KEYS_PER_REQUEST_MAX,
  SEGMENTS_PER_REQUEST_MAX,
} from "./_ae_wire.ts";
import type { Traffic } from "./anti_entropy_server.ts";
import type { ReplicaStore } from "./replica.ts";

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

export interface ExchangesOptions {
  store: ReplicaStore;
  mesh: Mesh;
  partitions: number;
  /** Keys repaired per exchange at most. */
  keysMax: number;
  /** Per request. */
  timeoutMs: number;
  /** Bytes sent and received, counted as msgpack-encoded message sizes. */
  traffic: Traffic;
}

export class Exchanges {
  readonly #o: ExchangesOptions;

  constructor(o: ExchangesOptions) {
    this.#o = o;
  }

  /** Runs one exchange of partition `p` with `peer`, counting into `r`. */
  async exchange(p: number, peer: string, r: ExchangeResult): Promise<void> {
    const segments = await this.#descend(p, peer, r);
    r.segmentsDiffering = segments.length;
    if (segments.length > 0) await this.#repair(p, peer, segments, r);
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
    while (pending.length > 0 && pull.length + push.size < this.#o.keysMax) {
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
    const pulls = pull.sort().slice(0, this.#o.keysMax);
    const pushOnly = pushOnlyAll.slice(0, this.#o.keysMax - pulls.length);
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
    this.#o.traffic.bytesSent += sent;
    const reply = await this.#o.mesh.request(peer, kind, body, { timeoutMs: this.#o.timeoutMs });
    const received = encode(reply).byteLength;
    r.bytesReceived += received;
    this.#o.traffic.bytesReceived += received;
    return reply;
  }
}
