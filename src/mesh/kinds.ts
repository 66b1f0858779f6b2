/**
 * The mesh wire vocabulary: protocol version, frame types and message kinds.
 *
 * A frame is a msgpack array whose first element is its type. The handshake frames (`hello`, `auth`) come
 * first on every connection; after them only `request`, `response`, `error` and `oneway` frames flow, alone or
 * several in one `batch` frame (one WebSocket message, so one write and one system call for many messages).
 * Message kinds name what a request or one-way message is about (gossip, probes, the replication and
 * anti-entropy messages). Both tables are append only: the numbers are on the wire, so a number is never
 * reused or renumbered. A peer that speaks another protocol version is refused in the handshake.
 *
 * Batch frames came after version 1 without a version bump, so nodes from before them still join: each end
 * announces the frame features it understands in a `linkFeatures` one-way message right after the handshake
 * (an older node ignores the unknown kind, as it ignores every kind it does not know), and a link sends batch
 * frames only to a peer that announced `batch`.
 */

/** The version both ends must speak; checked in the handshake before any other frame is accepted. */
export const PROTOCOL_VERSION = 1;

/**
 * Most frames one batch frame may carry; a batch with more is malformed. A receiver's limit, on the wire: a
 * sender's `batchMessagesMax` setting may not exceed it.
 */
export const BATCH_FRAMES_MAX = 1024;

/** append only: the numbers are on the wire. */
export const FRAME_TYPES = {
  /** `[1, protocolVersion, cluster, nodeId, nonce, address, datacenter, role]` */
  hello: 1,
  /** `[2, proof]`: HMAC over both nonces, proving the sender knows the cluster secret */
  auth: 2,
  /** `[3, requestId, kind, body]` */
  request: 3,
  /** `[4, requestId, body]` */
  response: 4,
  /** `[5, requestId, code, message]`: the handler failed; `code` is an `ErrorCode` */
  error: 5,
  /** `[6, kind, body]`: no reply expected */
  oneway: 6,
  /**
   * `[7, frame, frame, ...]`: 1 to `BATCH_FRAMES_MAX` request, response, error or one-way frames (each itself
   * a `[type, ...]` array), handled in order as if they had come one by one. Sent only to a peer that
   * announced `batch` in its `linkFeatures` message.
   */
  batch: 7,
} as const;
export type FrameType = keyof typeof FRAME_TYPES;

/** append only: the numbers are on the wire. Later issues add replication kinds at the end. */
export const MESSAGE_KINDS = {
  /** Request: is the receiver alive? Replies `{ id, incarnation }`. */
  ping: 1,
  /** Request: ping `{ target }` on the sender's behalf (SWIM indirect probe). Replies `{ ok }`. */
  pingReq: 2,
  /** One-way: a member table digest `{ members }`. */
  gossip: 3,
  /** Request: push-pull of member tables `{ members }` -> `{ members }` (join, partition healing). */
  sync: 4,
  /** Request: echoes its body (tests and the link benchmark). */
  echo: 5,
  /** Request: a replica's stored versions of one key `{ p, key }` -> `{ set, exp, acquiring }` (coordinated reads). */
  kvGet: 6,
  /** Request: merge versions into a replica `{ p, key, set, exp, hintFor? }` -> `{ ok }` (replication, read repair). */
  kvMerge: 7,
  /** Request: merge many keys `{ items: [{ p, key, set, exp }] }` -> `{ ok }` (hints, handoff, anti-entropy). */
  kvMergeBatch: 8,
  /** Request: coordinate a write on a replica `{ op, key, ... }` -> write result (forwarded by non-replicas). */
  kvCoordinate: 9,
  /** Request: one page of a partition `{ p, from, limit, keysOnly, tombstones }` -> `{ items, next }` (list, acquire). */
  kvScan: 10,
  /** Request: hash tree nodes `{ p, level, indices }` -> `{ hashes }` (anti-entropy). */
  aeLevel: 11,
  /** Request: keys and version digests in segments `{ p, segments }` -> `{ keys }` (anti-entropy). */
  aeKeys: 12,
  /** Request: stored versions of keys `{ p, keys }` -> `{ items }` (anti-entropy). */
  aeFetch: 13,
  /** Request: the sender's replication settings `{}` -> `{ signature }` (placement must agree cluster-wide). */
  kvConfig: 14,
  /**
   * One-way, link-level (handled by the link, never by a handler): the frame features the sender understands,
   * `{ batch: true, retire: true }`, and the port of its plain-TCP mesh listener when it has one, `{ tcp: 7401 }` (see
   * `mesh.ts`), sent first on every link after the handshake. See the module doc.
   */
  linkFeatures: 15,
  /** Request: keys and bytes a replica holds of partitions `{ partitions }` -> `{ stats: [[p, keys, bytes]] }` (remove --dry-run). */
  kvStats: 16,
  /**
   * One-way, link-level: the sender retired this link (another link to the same peer replaced it) and sends no
   * new request on it; it still answers requests it received. Sent only to a peer that announced `retire` in its
   * `linkFeatures`. A retiring link closes once it owes nothing, is owed nothing, and has the peer's `linkRetire`
   * (so no request of the peer's is still on its way), or `retireWaitMs` after retiring without one.
   */
  linkRetire: 17,
} as const;
export type MessageKind = keyof typeof MESSAGE_KINDS;

const KIND_BY_NUMBER = new Map<number, MessageKind>(
  Object.entries(MESSAGE_KINDS).map(([name, n]) => [n, name as MessageKind]),
);

/** The kind with wire number `n`, or undefined for numbers this build does not know (a newer peer's). */
export function kindOf(n: number): MessageKind | undefined {
  return KIND_BY_NUMBER.get(n);
}

/** Which end opened the connection; part of the signed handshake so a proof cannot be reflected back. */
export type Role = "dial" | "accept";
