/**
 * The replica side of the replication protocol: the mesh handlers other nodes call on this node's copies
 * (Dynamo's replica role beside the coordinator's). They read or merge into the `ReplicaStore`, keep hints for
 * down replicas (`hintFor`), and serve partition pages and counts for partition moves, listing and removal
 * plans. Each body is checked by `kv_protocol.ts` before use.
 */
import { decodeSet } from "../core/context.ts";
import type { Mesh } from "../mesh/mesh.ts";
import type { HintStore } from "./hints.ts";
import {
  getReplyToWire,
  getRequestFromWire,
  mergeBatchFromWire,
  mergeFromWire,
  SCAN_PAGE_KEYS_MAX,
  scanRequest,
} from "./kv_protocol.ts";
import { onStats } from "./removal.ts";
import type { ReplicaStore } from "./replica.ts";

export interface ReplicaServerOptions {
  nodeId: string;
  mesh: Mesh;
  store: ReplicaStore;
  hints: HintStore;
  /** Partitions of the store (`RingView.partitions`): a message naming another is a protocol error. */
  partitions: number;
  /** True while this node still pulls partition `p` after gaining it (its answers then do not count). */
  acquiring(p: number): boolean;
}

/** Registers the replica handlers (`kvGet`, `kvMerge`, `kvMergeBatch`, `kvScan`, `kvStats`); returns their unregisters. */
export function serveReplica(o: ReplicaServerOptions): (() => void)[] {
  const { mesh, store, partitions } = o;
  return [
    mesh.onRequest("kvGet", async (body) => {
      const r = getRequestFromWire(body, partitions);
      return getReplyToWire(await store.read(r.p, r.key), o.acquiring(r.p));
    }),
    mesh.onRequest("kvMerge", async (body) => {
      const { item, hintFor } = mergeFromWire(body, partitions);
      if (hintFor !== null && hintFor !== o.nodeId) {
        await o.hints.add({ target: hintFor, partition: item.p, key: item.key, set: item.set, expiresAt: item.exp });
      } else {
        await store.merge(item.p, item.key, decodeSet(item.set), item.exp);
      }
      return { ok: true };
    }),
    mesh.onRequest("kvMergeBatch", async (body) => {
      for (const it of mergeBatchFromWire(body, partitions, SCAN_PAGE_KEYS_MAX)) {
        await store.merge(it.p, it.key, decodeSet(it.set), it.exp);
      }
      return { ok: true };
    }),
    mesh.onRequest("kvScan", async (body) => {
      const r = scanRequest(body, partitions);
      return await store.scan(r.p, r);
    }),
    mesh.onRequest("kvStats", (body) => onStats(body, store, partitions)),
  ];
}
