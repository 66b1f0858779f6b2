/**
 * The responder side of anti-entropy (`anti_entropy.ts` is the initiator): the `aeLevel`, `aeKeys` and `aeFetch`
 * handlers a peer's exchange calls on this node's hash trees and store. Every body is checked before use
 * (`PROTOCOL_ERROR` on bad input) and every reply is bounded (indices, segments, keys, bytes: `_ae_wire.ts`).
 */
import { encode } from "@msgpack/msgpack";
import type { Mesh } from "../mesh/mesh.ts";
import { int, obj, partition, protocolError } from "./_wire.ts";
import type { ReplicaStore, WireItem } from "./replica.ts";
import {
  BATCH_BYTES_MAX,
  groupBySegment,
  hashesToWire,
  INDICES_PER_LEVEL_MAX,
  intList,
  type KeyList,
  KEYS_PER_REPLY_MAX,
  KEYS_PER_REQUEST_MAX,
  SEGMENTS_PER_REQUEST_MAX,
  strList,
} from "./_ae_wire.ts";

/** Bytes counted as msgpack-encoded message sizes, so repair cost can be measured against the data size. */
export interface Traffic {
  bytesSent: number;
  bytesReceived: number;
}

/** Registers the three handlers; returns their unregisters. */
export function serveAntiEntropy(
  mesh: Mesh,
  store: ReplicaStore,
  partitions: number,
  traffic: Traffic,
): (() => void)[] {
  const serve = async (
    body: unknown,
    fn: (b: Record<string, unknown>) => Promise<unknown> | unknown,
  ): Promise<unknown> => {
    traffic.bytesReceived += encode(body).byteLength;
    const reply = await fn(obj(body, "body"));
    traffic.bytesSent += encode(reply).byteLength;
    return reply;
  };
  return [
    mesh.onRequest("aeLevel", (body) => serve(body, (b) => onLevel(store, partitions, b))),
    mesh.onRequest("aeKeys", (body) => serve(body, (b) => onKeys(store, partitions, b))),
    mesh.onRequest("aeFetch", (body) => serve(body, (b) => onFetch(store, partitions, b))),
  ];
}

/** `aeLevel {p, level, indices, segments} -> {hashes}`: the hashes of some nodes of one tree level. */
function onLevel(store: ReplicaStore, partitions: number, b: Record<string, unknown>): unknown {
  const p = partition(b, partitions);
  const tree = store.tree(p);
  if (b["segments"] !== undefined && int(b, "segments") !== tree.segments) {
    throw protocolError(`segments ${String(b["segments"])} differ from this node's ${tree.segments}`);
  }
  const level = int(b, "level", 0, tree.depth);
  const indices = intList(b, "indices", INDICES_PER_LEVEL_MAX, tree.width(level));
  return { hashes: hashesToWire(tree.levelHashes(level, indices)) };
}

/** `aeKeys {p, segments} -> {keys: [[key, digest]], rest}`: the keys of some leaves; `rest` did not fit. */
async function onKeys(store: ReplicaStore, partitions: number, b: Record<string, unknown>): Promise<unknown> {
  const p = partition(b, partitions);
  const width = store.treeSegments;
  const segments = intList(b, "segments", SEGMENTS_PER_REQUEST_MAX, width);
  const bySegment = groupBySegment(await store.keysInSegments(p, new Set(segments)), width);
  const keys: KeyList = [];
  const rest: number[] = [];
  let bytes = 0;
  for (const s of segments) {
    const here = bySegment.get(s) ?? [];
    const size = here.reduce((n, [k, d]) => n + k.length * 3 + d.length + 8, 0); // UTF-8 worst case, framing
    if (
      rest.length > 0 ||
      (keys.length > 0 && (keys.length + here.length > KEYS_PER_REPLY_MAX || bytes + size > BATCH_BYTES_MAX))
    ) {
      rest.push(s);
    } else {
      keys.push(...here);
      bytes += size;
    }
  }
  return { keys, rest };
}

/** `aeFetch {p, keys} -> {items, done}`: the sets of some keys, up to a byte bound; `done` keys were looked at. */
async function onFetch(store: ReplicaStore, partitions: number, b: Record<string, unknown>): Promise<unknown> {
  const p = partition(b, partitions);
  const keys = strList(b, "keys", KEYS_PER_REQUEST_MAX);
  if (keys.length === 0) throw protocolError("keys is empty");
  const items: WireItem[] = [];
  let size = 0;
  let done = 0;
  for (const key of keys) {
    if (done > 0 && size >= BATCH_BYTES_MAX) break;
    const [it] = await store.fetch(p, [key]);
    done++;
    if (!it) continue;
    items.push(it);
    size += it.set.byteLength + key.length;
  }
  return { items, done };
}
