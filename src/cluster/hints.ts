/**
 * Hinted handoff for sloppy quorums (Dynamo 2007 §4.6; Cassandra's hints). When a replica of a key is down,
 * the coordinator writes that replica's copy to a healthy fallback node, which keeps it here as a hint for the
 * intended owner (the target) and hands it back once the target is alive again (`HintDelivery` in `hint_delivery.ts`).
 *
 * A hint is the encoded DVVSet of one key. Hints for the same (target, key) merge (`merge` of the two sets), so a
 * hint never loses a concurrent version, and adds of one key are serialized (`KeyLocks`) so two concurrent
 * read-modify-writes cannot overwrite each other.
 *
 * Layout: the hints live in their own storage engine (the caller gives it its own directory), partition 0, engine
 * key `target + "\u0000" + key` (node ids hold no NUL, so the first NUL splits them, and one target's hints are
 * one contiguous range in key order). The value is the set's bytes; `meta` is a fixed 20-byte header (below).
 * Per-target counts, bytes and ages are kept in memory and rebuilt by one scan at open.
 *
 * Bounds (convention 6): bytes and hints per target (a full backlog rejects the add with `LIMIT_EXCEEDED`, and
 * the coordinator counts that replica as failed), and age: a hint waiting longer than `hintAgeMaxMs` (Cassandra's
 * `max_hint_window`, 3 h) is dropped, because after that long the target needs anti-entropy anyway. A hint's age
 * counts from when it was first stored; merging a newer write into it keeps that time.
 * The record format on disk and the checks of a hint are in `_hint_format.ts`.
 */
import { equalBytes } from "../core/_bytes.ts";
import { decodeSet, encodeSet } from "../core/context.ts";
import { merge } from "../core/version.ts";
import { MeshkvError } from "../errors.ts";
import type { Clock, FileSystem } from "../runtime/types.ts";
import { decodeKey, type Engine, openEngine } from "../storage/mod.ts";
import {
  checkHint,
  checkLimits,
  checkTarget,
  encodeHeader,
  engineKey,
  HEADER_BYTES,
  type Hint,
  type HintLimits,
  type HintStats,
  type HintTargetStats,
  invalid,
  parseEntry,
  PARTITION,
  SEP,
  type StoredHint,
} from "./_hint_format.ts";
import { KeyLocks } from "./key_locks.ts";

export { type Hint, HINT_FORMATS, HINT_LIMITS_DEFAULT, hintBytes, type HintLimits } from "./_hint_format.ts";

export interface HintStoreOptions {
  fs: FileSystem;
  /** A directory of its own (e.g. `<data>/hints`): the store opens a storage engine there. */
  dir: string;
  clock: Clock;
  limits?: Partial<HintLimits>;
  /** The engine's durability (default `batch`). */
  durability?: "always" | "batch" | "none";
}

const AGE_BUCKET_MS = 1000;
/** Hints deleted per step of `dropTarget` and the open-time cleanup (concurrent deletes share log syncs). */
const DELETE_CHUNK = 1024;
/** Most expired hints one `take` drops before returning, so a take stays bounded behind a long expired run. */
const TAKE_EXPIRED_MAX = 4096;
const ENGINE_VALUE_BYTES_MAX = 256 * 1024 * 1024;

interface TargetState {
  pending: number;
  bytes: number;
  /** Age buckets (storedAtMs / 1 s) with their counts and the smallest storedAtMs put in them. */
  ages: Map<number, { count: number; minMs: number }>;
}

export async function openHintStore(o: HintStoreOptions): Promise<HintStore> {
  const limits = checkLimits(o.limits ?? {});
  const engine = await openEngine(o.fs, o.dir, {
    clock: o.clock,
    durability: o.durability ?? "batch",
    valueBytesMax: Math.min(ENGINE_VALUE_BYTES_MAX, limits.hintBytesMaxPerTarget),
  });
  const store = new HintStore(engine, o.clock, limits);
  try {
    await store._rebuild();
  } catch (e) {
    await engine.close();
    throw e;
  }
  return store;
}

export class HintStore {
  #corruptDropped = 0;
  #engine: Engine;
  #clock: Clock;
  #limits: HintLimits;
  #locks = new KeyLocks();
  #targets = new Map<string, TargetState>();
  #expired = 0;
  #delivered = 0;
  #rejected = 0;
  #closed = false;

  /** @internal use `openHintStore`. */
  constructor(engine: Engine, clock: Clock, limits: HintLimits) {
    this.#engine = engine;
    this.#clock = clock;
    this.#limits = limits;
  }

  /** Records that could not be read as hints at open (a bad header): deleted, since anti-entropy repairs them. */
  get corruptDropped(): number {
    return this.#corruptDropped;
  }

  /** The limits in force. */
  get limits(): Readonly<HintLimits> {
    return this.#limits;
  }

  /** @internal one scan rebuilds the per-target counts. */
  async _rebuild(): Promise<void> {
    const bad: Uint8Array[] = [];
    for await (const e of this.#engine.iterate({ partition: PARTITION })) {
      const s = parseEntry(e);
      if (s === null) bad.push(e.key);
      else this.#count(s.hint.target, s.size, 1, s.hint.storedAtMs);
    }
    for (let i = 0; i < bad.length; i += DELETE_CHUNK) {
      await Promise.all(bad.slice(i, i + DELETE_CHUNK).map((k) => this.#engine.delete(PARTITION, k)));
    }
    this.#corruptDropped = bad.length;
  }

  /**
   * Stores a hint, merging it into a pending one for the same (target, key). Throws `LIMIT_EXCEEDED` naming
   * `hintBytesMaxPerTarget` or `hintsPerTargetMax` when the target's backlog is full (the coordinator then
   * counts that replica as failed), `INVALID_ARGUMENT` for a malformed hint, `CORRUPTION` for bytes that are no set.
   */
  async add(hint: Omit<Hint, "storedAtMs">): Promise<void> {
    this.#checkOpen();
    const h = checkHint(hint);
    decodeSet(h.set); // Check data right before it goes to disk (convention 7).
    const ekey = engineKey(h.target, h.key);
    await this.#locks.run(h.target + SEP + h.key, async () => {
      this.#checkOpen();
      const old = await this.#read(ekey);
      const now = this.#clock.now();
      let set: Uint8Array = h.set;
      let storedAtMs = now;
      let expiresAt = h.expiresAt;
      if (old !== null) {
        set = encodeSet(merge(decodeSet(old.hint.set), decodeSet(h.set)));
        // A hint past its age is delivered no more; the merged content starts a fresh wait.
        if (now - old.hint.storedAtMs <= this.#limits.hintAgeMaxMs) storedAtMs = old.hint.storedAtMs;
        expiresAt = old.hint.expiresAt === null || expiresAt === null ? null : Math.max(old.hint.expiresAt, expiresAt);
      }
      const size = ekey.length + set.length + HEADER_BYTES;
      this.#reserve(h.target, old, size);
      if (old !== null) this.#count(h.target, -old.size, -1, old.hint.storedAtMs);
      this.#count(h.target, size, 1, storedAtMs);
      try {
        await this.#engine.put(PARTITION, ekey, set, { meta: encodeHeader(h.partition, storedAtMs, expiresAt) });
      } catch (e) {
        // The write may or may not be in the log; the next open recounts from what is there.
        this.#count(h.target, -size, -1, storedAtMs);
        if (old !== null) this.#count(h.target, old.size, 1, old.hint.storedAtMs);
        throw e;
      }
    });
  }

  /** Throws LIMIT_EXCEEDED unless replacing `old` by `size` bytes fits the target's backlog. */
  #reserve(target: string, old: StoredHint | null, size: number): void {
    const t = this.#targets.get(target);
    const pending = (t?.pending ?? 0) + (old === null ? 1 : 0);
    const bytes = (t?.bytes ?? 0) + size - (old?.size ?? 0);
    const l = this.#limits;
    if (pending > l.hintsPerTargetMax) {
      throw this.#full(target, "hintsPerTargetMax", l.hintsPerTargetMax, pending, "hints");
    }
    if (bytes > l.hintBytesMaxPerTarget) {
      throw this.#full(target, "hintBytesMaxPerTarget", l.hintBytesMaxPerTarget, bytes, "bytes");
    }
  }

  #full(target: string, limit: string, max: number, actual: number, unit: string): MeshkvError {
    this.#rejected++;
    return new MeshkvError(
      "LIMIT_EXCEEDED",
      `Over the ${limit} limit: the hints for ${target} would take ${actual} ${unit} > ${max}`,
      {
        details: { limit, max, actual, target },
      },
    );
  }

  /** Targets with pending hints, sorted. */
  targets(): string[] {
    return [...this.#targets.keys()].sort();
  }

  /**
   * Up to `limit` hints for `target`, in key order, and at most `bytesMax` bytes (but at least one hint). Hints
   * older than `hintAgeMaxMs`, or whose value has expired, are dropped on the way and counted as expired.
   */
  async take(target: string, limit: number, bytesMax: number): Promise<Hint[]> {
    this.#checkOpen();
    checkTarget(target);
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw invalid(`Invalid limit: ${String(limit)} (a positive integer)`);
    }
    if (typeof bytesMax !== "number" || !(bytesMax > 0)) {
      throw invalid(`Invalid bytesMax: ${String(bytesMax)} (a positive number)`);
    }
    if (!this.#targets.has(target)) return [];
    const out: Hint[] = [];
    const stale: StoredHint[] = [];
    let bytes = 0;
    const now = this.#clock.now();
    for await (const e of this.#engine.iterate({ partition: PARTITION, prefix: target + SEP })) {
      const s = parseEntry(e);
      if (s === null) continue;
      if (
        now - s.hint.storedAtMs > this.#limits.hintAgeMaxMs || (s.hint.expiresAt !== null && s.hint.expiresAt <= now)
      ) {
        stale.push(s);
        if (stale.length >= TAKE_EXPIRED_MAX) break;
        continue;
      }
      if (out.length > 0 && bytes + s.size > bytesMax) break;
      out.push(s.hint);
      bytes += s.size;
      if (out.length >= limit) break;
    }
    const dropped = await Promise.all(stale.map((s) => this.#removeIfUnchanged(s.hint)));
    this.#expired += dropped.filter(Boolean).length;
    return out;
  }

  /** Deletes delivered hints, each only if unchanged since `take` (one merged with a newer write stays). */
  async ack(hints: readonly Hint[]): Promise<void> {
    this.#checkOpen();
    const done = await Promise.all(hints.map((h) => this.#removeIfUnchanged(checkHint(h))));
    this.#delivered += done.filter(Boolean).length;
  }

  /** Drops every hint for a target (it left the cluster for good); returns how many. */
  async dropTarget(target: string): Promise<number> {
    this.#checkOpen();
    checkTarget(target);
    let n = 0;
    let keys: string[] = [];
    const flush = async () => {
      const removed = await Promise.all(keys.map((k) => this.#remove(target, k, null)));
      n += removed.filter(Boolean).length;
      keys = [];
    };
    for await (const e of this.#engine.iterate({ partition: PARTITION, prefix: target + SEP, keysOnly: true })) {
      keys.push(decodeKey(e.key).slice(target.length + 1));
      if (keys.length >= DELETE_CHUNK) await flush();
    }
    await flush();
    return n;
  }

  stats(): HintStats {
    const perTarget: Record<string, HintTargetStats> = {};
    let pending = 0;
    let bytes = 0;
    for (const [target, t] of this.#targets) {
      pending += t.pending;
      bytes += t.bytes;
      let oldest: { bucket: number; minMs: number } | null = null;
      for (const [bucket, a] of t.ages) {
        if (oldest === null || bucket < oldest.bucket) oldest = { bucket, minMs: a.minMs };
      }
      perTarget[target] = { pending: t.pending, bytes: t.bytes, oldestMs: oldest?.minMs ?? null };
    }
    return { pending, bytes, expired: this.#expired, delivered: this.#delivered, rejected: this.#rejected, perTarget };
  }

  /** Waits for running adds and acks, then closes the engine; later calls fail with `CLOSED`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#locks.idle();
    await this.#engine.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new MeshkvError("CLOSED", "The hint store is closed");
  }

  async #read(ekey: Uint8Array): Promise<StoredHint | null> {
    const e = await this.#engine.get(PARTITION, ekey);
    return e === undefined ? null : parseEntry(e);
  }

  #removeIfUnchanged(h: Hint): Promise<boolean> {
    return this.#remove(h.target, h.key, h);
  }

  /** Deletes (target, key) when it still equals `seen` (any version when `seen` is null); true when deleted. */
  #remove(target: string, key: string, seen: Hint | null): Promise<boolean> {
    const ekey = engineKey(target, key);
    return this.#locks.run(target + SEP + key, async () => {
      if (this.#closed) return false;
      const cur = await this.#read(ekey);
      if (cur === null) return false;
      if (seen !== null && (cur.hint.storedAtMs !== seen.storedAtMs || !equalBytes(cur.hint.set, seen.set))) {
        return false;
      }
      await this.#engine.delete(PARTITION, ekey);
      this.#count(target, -cur.size, -1, cur.hint.storedAtMs);
      return true;
    });
  }

  /** Adds (or with negative numbers removes) hints to a target's counts and age buckets. */
  #count(target: string, bytes: number, hints: number, storedAtMs: number): void {
    let t = this.#targets.get(target);
    if (t === undefined) {
      t = { pending: 0, bytes: 0, ages: new Map() };
      this.#targets.set(target, t);
    }
    t.pending += hints;
    t.bytes += bytes;
    const bucket = Math.floor(storedAtMs / AGE_BUCKET_MS);
    const a = t.ages.get(bucket);
    if (hints > 0) {
      if (a === undefined) t.ages.set(bucket, { count: hints, minMs: storedAtMs });
      else (a.count += hints, a.minMs = Math.min(a.minMs, storedAtMs));
    } else if (hints < 0 && a !== undefined) {
      a.count += hints;
      if (a.count <= 0) t.ages.delete(bucket);
    }
    if (t.pending <= 0) this.#targets.delete(target);
  }
}
