/**
 * How the coordinator waits for replicas: the two ways of sending one request's calls and counting their
 * answers into a `Quorum` (core/quorum.ts), and the error a request ends with when its level is not met.
 *
 * - `sendToAll` (writes): every call at once; the write must reach every replica anyway.
 * - `askClosest` (reads): replicas one at a time, closest first, while the quorum still `wants` an answer, and
 *   one more after the speculative delay (Cassandra's read path and speculative retry).
 * Both resolve `decided` when the quorum is decided, the request deadline passes or the signal aborts, and
 * `settled` once every call sent has answered (the point for read repair).
 */
import type { Target } from "../core/placement.ts";
import type { Quorum } from "../core/quorum.ts";
import { emptySet, merge } from "../core/version.ts";
import { MeshkvError } from "../errors.ts";
import type { Clock } from "../runtime/types.ts";
import type { LatencyWindow } from "../core/latency.ts";
import { mergedExpiry, type Stored } from "../core/stored.ts";
import type { Mesh } from "../mesh/mesh.ts";
import { mergeToWire } from "./kv_protocol.ts";
import type { ReplicaStore } from "./replica.ts";

/** Replica read latencies kept for the speculative delay. */
export const LATENCY_WINDOW_SAMPLES = 512;
/** Below this many samples the speculative delay is `SPECULATIVE_DEFAULT_MS`. */
export const SPECULATIVE_SAMPLES_MIN = 32;
export const SPECULATIVE_DEFAULT_MS = 20;
/** The speculative delay never goes below this (a p99 of microseconds would send every read twice). */
export const SPECULATIVE_MIN_MS = 2;

export type Verdict = "done" | "timeout" | "aborted";

export interface Fanout {
  decided: Promise<Verdict>;
  settled: Promise<void>;
}

export interface Call<T> {
  node: string;
  run(): Promise<T>;
}

/** The deadline, abort and cleanup every fan-out shares. */
function deadline(
  clock: Clock,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  cleanup: () => void,
): { decided: Promise<Verdict>; resolve: (v: Verdict) => void } {
  let resolve!: (v: Verdict) => void;
  const decided = new Promise<Verdict>((r) => (resolve = r));
  const timer = clock.setTimeout(() => resolve("timeout"), timeoutMs);
  const onAbort = () => resolve("aborted");
  signal?.addEventListener("abort", onAbort, { once: true });
  void decided.then(() => {
    clock.clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    cleanup();
  });
  return { decided, resolve };
}

/** Sends every call at once and counts each answer (`judge` says whether it counts as a success) into `q`. */
export function sendToAll<T>(
  clock: Clock,
  timeoutMs: number,
  q: Quorum,
  calls: readonly Call<T>[],
  judge: (node: string, value: T) => boolean,
  signal?: AbortSignal,
): Fanout {
  const { decided, resolve } = deadline(clock, timeoutMs, signal, () => {});
  const count = (node: string, ok: boolean) => {
    q.add({ node, ok });
    if (q.done()) resolve("done");
  };
  if (q.done()) resolve("done");
  const settled = Promise.allSettled(
    calls.map((c) => c.run().then((v) => count(c.node, judge(c.node, v)), () => count(c.node, false))),
  )
    .then(() => resolve("done"));
  return { decided, settled };
}

/**
 * Asks `candidates` (closest first) one at a time while `q.wants` another answer, so a read sends as many
 * requests as its level needs; each failed answer (or one `judge` does not count) asks the next, and so does an
 * answer later than `speculativeMs` (one extra request per read).
 */
export function askClosest<T>(
  clock: Clock,
  timeoutMs: number,
  speculativeMs: number,
  q: Quorum,
  candidates: readonly string[],
  run: (node: string) => Promise<T>,
  judge: (node: string, value: T) => boolean,
  signal?: AbortSignal,
): Fanout {
  let speculative: ReturnType<Clock["setTimeout"]> | null = null;
  const { decided, resolve } = deadline(clock, timeoutMs, signal, () => {
    if (speculative !== null) clock.clearTimeout(speculative);
  });
  let settle!: () => void;
  const settled = new Promise<void>((r) => (settle = r));
  const asked = new Set<string>();
  let outstanding = 0;
  const ask = (node: string) => {
    asked.add(node);
    outstanding++;
    run(node).then((v) => judge(node, v), () => false).then((ok) => {
      q.add({ node, ok });
      outstanding--;
      askWanted();
      if (outstanding === 0) settle();
    });
  };
  const askWanted = () => {
    for (const node of candidates) if (q.wants(node, asked)) ask(node);
    if (q.done() || outstanding === 0) resolve("done");
  };
  speculative = clock.setTimeout(() => {
    const next = candidates.find((node) => !asked.has(node) && q.counts(node));
    if (next !== undefined) ask(next);
  }, speculativeMs);
  askWanted();
  if (outstanding === 0) settle();
  return { decided, settled };
}

/** How long a read waits for an answer before it asks one more replica: the recent p99, within bounds. */
export function speculativeMs(latency: LatencyWindow, replicaTimeoutMs: number): number {
  const p99 = latency.count < SPECULATIVE_SAMPLES_MIN ? null : latency.percentile(0.99);
  const ms = p99 === null ? SPECULATIVE_DEFAULT_MS : Math.max(SPECULATIVE_MIN_MS, p99);
  return Math.min(ms, replicaTimeoutMs);
}

/** Sends versions to replica `node` (`kvMerge`; a hint when `hintFor` names another), or merges them here. */
export async function mergeInto(
  o: { nodeId: string; store: ReplicaStore; mesh: Mesh; replicaTimeoutMs: number },
  node: string,
  p: number,
  key: string,
  s: Stored,
  hintFor: string | null,
): Promise<void> {
  if (node === o.nodeId && hintFor === null) {
    await o.store.merge(p, key, s.set, s.expiresAt);
    return;
  }
  await o.mesh.request(node, "kvMerge", mergeToWire(p, key, s, hintFor), { timeoutMs: o.replicaTimeoutMs });
}

/** A key whose keyspace places its replicas only in datacenters that have no nodes (a placement warning). */
export function noReplicas(key: string): MeshkvError {
  return new MeshkvError(
    "QUORUM_UNMET",
    `Key ${key} has no replicas: its replication factors name only datacenters with no nodes (see the ring warnings in /v1/admin/status)`,
    {
      details: { key, replicas: 0 },
    },
  );
}

/** The error a request ends with when its quorum did not succeed (null when it did). */
export function verdictError(q: Quorum, verdict: Verdict, timeoutMs: number): MeshkvError | null {
  if (q.outcome().status === "succeeded") return null;
  const error = q.error();
  if (error) return error;
  if (verdict === "aborted") return new MeshkvError("TIMEOUT", "The request was cancelled");
  const out = q.outcome();
  return new MeshkvError(
    "TIMEOUT",
    `Consistency level ${out.level} not met within ${timeoutMs} ms: ${out.ok} succeeded, ${out.failed} failed, ${out.pending} pending`,
    {
      details: { ...out },
    },
  );
}

/** Replicas in the order a read asks them: this node, then its datacenter, then the rest (each in ring order). */
export function closestFirst<R extends { node: string; datacenter: string }>(
  replicas: readonly R[],
  self: string,
  datacenter: string,
): R[] {
  const rank = (r: R) => (r.node === self ? 0 : r.datacenter === datacenter ? 1 : 2);
  return [...replicas].sort((a, b) => rank(a) - rank(b));
}

export function mergeAll(states: readonly Stored[]): Stored {
  let out: Stored = { set: emptySet(), expiresAt: null };
  for (const s of states) out = { set: merge(out.set, s.set), expiresAt: mergedExpiry(out, s) };
  return out;
}

/** One slot per node (a stand-in never serves two slots of one request). */
export function dedupe(targets: Target[]): Target[] {
  const seen = new Set<string>();
  return targets.map((t) => {
    if (!seen.has(t.node)) {
      seen.add(t.node);
      return t;
    }
    return { node: `${t.hintFor ?? t.node}#unavailable`, datacenter: t.datacenter, available: false };
  });
}
