/**
 * Listing across partitions (`GET /v1/kv?prefix=…`), in two steps: the keys of one page from every partition the
 * range can touch (for a hash-tagged `{tag}` prefix, one ring partition: its store partition in each replica class), each from one replica (this node when it
 * holds a complete copy), merged in key order; then, unless keys only, the versions of just the keys that made
 * the page, from the same replicas. So a page never holds more than `limit` values in memory, and no reply has to
 * carry a partition's worth of them. Listing reads one replica per partition whatever level is asked.
 */
import { decodeSet } from "../core/context.ts";
import { MeshkvError } from "../errors.ts";
import type { ListItem, ListOptions, ListPage, ReadResult } from "../kv/backend.ts";
import type { Mesh } from "../mesh/mesh.ts";
import { bytes, items as wireItems, obj, optNum, optStr } from "./_wire.ts";
import { SCAN_PAGE_KEYS_MAX } from "./kv_protocol.ts";
import { compareUtf8 } from "../core/_bytes.ts";
import type { ReplicaStore, Stored, WireItem } from "./replica.ts";
import type { RingSnapshot } from "./ring_view.ts";

export interface ListContext {
  nodeId: string;
  store: ReplicaStore;
  mesh: Mesh;
  snapshot: RingSnapshot;
  partitions: number;
  partitionOf(key: string): number;
  /** The store partitions of the same ring partition as `p` (one per replica class). */
  samePlace(p: number): number[];
  /** True while this node still pulls partition `p` (its copy may be incomplete). */
  acquiring(p: number): boolean;
  replicaTimeoutMs: number;
  /** What a reader of `key` sees of a stored state (siblings, or the latest write for last-writer-wins). */
  read(s: Stored, key: string): ReadResult;
}

export async function listPage(c: ListContext, options: ListOptions): Promise<ListPage> {
  const pages = await Promise.all(listPartitions(c, options.prefix).map((p) => scanKeys(c, p, options)));
  const all: { key: string; exp: number | null; p: number; node: string }[] = [];
  let more = false;
  for (const page of pages) {
    for (const it of page.items) all.push({ key: it.key, exp: it.exp, p: it.p, node: page.node });
    if (page.next !== null) more = true;
  }
  all.sort((x, y) => compareUtf8(x.key, y.key));
  if (all.length > options.limit) more = true;
  const chosen = all.slice(0, options.limit);
  const next = more && chosen.length > 0 ? chosen[chosen.length - 1]!.key : null;
  if (options.keysOnly) {
    return { items: chosen.map((x) => ({ key: x.key, values: [], context: [], expiresAt: x.exp })), next };
  }
  const read = await Promise.all(chosen.map(async (x): Promise<ListItem | null> => {
    const s = x.node === c.nodeId ? await c.store.read(x.p, x.key) : await remoteRead(c, x.node, x.p, x.key);
    const r = c.read(s, x.key);
    return r.values.length === 0 ? null : { key: x.key, values: r.values, context: r.context, expiresAt: r.expiresAt };
  }));
  return { items: read.filter((x): x is ListItem => x !== null), next };
}

function listPartitions(c: ListContext, prefix: string): number[] {
  const close = prefix.indexOf("}");
  if (prefix.startsWith("{") && close > 1) return c.samePlace(c.partitionOf(prefix));
  return Array.from({ length: c.partitions }, (_, p) => p);
}

async function remoteRead(c: ListContext, node: string, p: number, key: string): Promise<Stored> {
  const reply = obj(await c.mesh.request(node, "kvGet", { p, key }, { timeoutMs: c.replicaTimeoutMs }), "kvGet reply");
  return {
    set: reply.set === null || reply.set === undefined ? { entries: [] } : decodeSet(bytes(reply, "set")),
    expiresAt: optNum(reply, "exp"),
  };
}

/** One page of keys of partition `p` (live keys only), from the first replica that answers. */
async function scanKeys(
  c: ListContext,
  p: number,
  o: ListOptions,
): Promise<{ items: WireItem[]; next: string | null; node: string }> {
  const req = {
    p,
    after: o.after,
    limit: o.limit,
    keysOnly: true,
    tombstones: false,
    prefix: o.prefix,
    start: o.start,
    end: o.end,
  };
  const snap = c.snapshot;
  const replicas = snap.placement.forPartition(p).replicas.map((r) => r.node);
  const order = [
    ...replicas.filter((n) => n === c.nodeId && !c.acquiring(p)),
    ...replicas.filter((n) => n !== c.nodeId && !snap.down.has(n)),
  ];
  let last: unknown = null;
  for (const node of order) {
    try {
      if (node === c.nodeId) return { ...(await c.store.scan(p, req)), node };
      const reply = obj(await c.mesh.request(node, "kvScan", req, { timeoutMs: c.replicaTimeoutMs }), "kvScan reply");
      return { items: wireItems(reply, "items", c.partitions, SCAN_PAGE_KEYS_MAX), next: optStr(reply, "next"), node };
    } catch (err) {
      last = err;
    }
  }
  throw new MeshkvError("QUORUM_UNMET", `No replica of partition ${p} answered the listing`, {
    ...(last === null ? {} : { cause: last }),
    details: { partition: p },
  });
}
