/**
 * Test support for replicated-cluster simulations: a `SimCluster` whose nodes carry the replicated backend, and
 * helpers that run client operations to completion on the simulated clock.
 */
import * as assert from "uvu/assert";
import type { ConsistencyLevel } from "../../src/core/quorum.ts";
import type { VersionVector } from "../../src/core/version.ts";
import type { ClusterTimings } from "../../src/cluster/cluster_backend.ts";
import type { ReplicationConfig } from "../../src/cluster/ring_view.ts";
import { SimCluster } from "../../src/testing/sim_cluster.ts";
import { GOSSIP_FAST } from "../../src/cluster/presets.ts";
import type { LinkConditions } from "../../src/testing/sim_net.ts";
import type { ReadResult, WriteResult } from "../../src/kv/backend.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface KvSimOptions {
  size: number;
  replication?: Partial<ReplicationConfig>;
  timings?: Partial<ClusterTimings>;
  link?: Partial<LinkConditions>;
  datacenters?: readonly string[];
}

/** Starts `size` nodes and waits until every one is alive everywhere and serving. */
export async function kvCluster(seed: number, o: KvSimOptions): Promise<SimCluster> {
  const c = await SimCluster.create({
    seed,
    size: o.size,
    gossip: GOSSIP_FAST,
    ...(o.link ? { link: o.link } : {}),
    ...(o.datacenters ? { datacenters: o.datacenters } : {}),
    kv: { replication: o.replication ?? {}, ...(o.timings ? { timings: o.timings } : {}) },
  });
  const t = await c.runUntil(
    () => c.allSee("alive") && c.converged() && [...c.backends.values()].every((b) => b.settled()),
    15_000,
  );
  assert.ok(t !== null, `${o.size} nodes did not form a serving cluster`);
  return c;
}

/** Runs `promise` to completion by moving simulated time in small steps. */
export async function drive<T>(c: SimCluster, promise: Promise<T>, limitMs = 30_000): Promise<T> {
  let state: { ok: true; value: T } | { ok: false; error: unknown } | null = null;
  promise.then((value) => (state = { ok: true, value }), (error) => (state = { ok: false, error }));
  for (let t = 0; t < limitMs && state === null; t += 5) await c.clock.advance(5);
  const s = state as { ok: true; value: T } | { ok: false; error: unknown } | null;
  if (s === null) throw new Error(`Operation did not finish within ${limitMs} simulated ms`);
  if (!s.ok) throw s.error;
  return s.value;
}

export function put(
  c: SimCluster,
  via: string,
  key: string,
  text: string,
  o: { context?: VersionVector; level?: ConsistencyLevel; strict?: boolean; ttlMs?: number } = {},
): Promise<WriteResult> {
  return drive(
    c,
    c.kv(via).put(key, { contentType: "text/plain", data: enc.encode(text) }, {
      context: o.context ?? [],
      ifNoneMatch: false,
      strict: o.strict ?? false,
      consistency: o.level ?? null,
      ttlMs: o.ttlMs ?? null,
    }),
  );
}

export function get(
  c: SimCluster,
  via: string,
  key: string,
  level: ConsistencyLevel | null = null,
): Promise<ReadResult> {
  return drive(c, c.kv(via).get(key, { consistency: level }));
}

export function del(
  c: SimCluster,
  via: string,
  key: string,
  o: { context?: VersionVector | null; level?: ConsistencyLevel } = {},
): Promise<WriteResult> {
  return drive(
    c,
    c.kv(via).delete(key, {
      context: o.context === undefined ? null : o.context,
      strict: false,
      consistency: o.level ?? null,
    }),
  );
}

export function texts(r: ReadResult): string[] {
  return r.values.map((v) => dec.decode(v.data)).sort();
}

/** The primary replicas of `key` as node `via` sees them. */
export function replicasOf(c: SimCluster, via: string, key: string): string[] {
  const b = c.kv(via);
  return b.view.update(c.nodes.get(via)!.gossip.table).placement.forKey(key).replicas.map((r) => r.node);
}

/** What node `id` stores for `key` (its own replica, no coordination). */
export async function storedAt(c: SimCluster, id: string, key: string) {
  const b = c.kv(id);
  return await b.store.read(b.view.partitionOf(key), key);
}

export { dec, enc };
