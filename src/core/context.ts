/**
 * Encodings of versions: the binary form of a DVVSet (disk and mesh), and the opaque causal-context token a
 * client gets with a read and sends back with its next write (`X-Meshkv-Context`).
 *
 * Both are hand-rolled on LEB128 varints (`_bytes.ts`): a set of three entries with short ids is a few dozen
 * bytes, smaller than msgpack's map form, and the decoder validates every field as it goes. Each starts with
 * a format version byte. The token adds a MurmurHash3 checksum (see `_hash.ts`) so a truncated or mistyped
 * token is rejected as `BAD_CONTEXT` instead of being read as a smaller context (which would silently turn
 * the write into a sibling). The token is base64url without padding, so it fits in a header or a URL as is.
 * It is opaque: clients must not build or edit it, and the format may change with its version byte.
 *
 * DVVSet format, version 1:
 *   u8 version, varint entryCount, then per entry (sorted by node, strictly increasing):
 *   string node (varint byte length + UTF-8), varint counter (>= 1), varint timeMs,
 *   varint valueCount (<= counter), then valueCount times: varint byte length + value bytes
 * Context token format, version 1 (before base64url):
 *   u8 version, varint entryCount, per entry: string node, varint counter (>= 1); u32 checksum (big-endian,
 *   MurmurHash3 x86_32 with seed CONTEXT_SEED of every byte before it)
 */
import { MeshkvError } from "../errors.ts";
import { ByteReader, ByteWriter, FormatError, fromBase64Url, toBase64Url } from "./_bytes.ts";
import { murmur3 } from "./_hash.ts";
import { NODE_ID_BYTES_MAX } from "./ring.ts";
import type { DvvEntry, DvvSet, VersionVector, VvEntry } from "./version.ts";

/** append only: the numbers are on the wire/disk. */
export const VERSION_FORMATS = {
  DVVSET_V1: 1,
  CONTEXT_V1: 1,
} as const;

export const CONTEXT_SEED = 0x6d6b7663; // "mkvc"
/** Longest context token accepted, in characters (a header-sized bound). */
export const CONTEXT_TOKEN_CHARS_MAX = 8192;
/** Most entries in a version vector or DVVSet read from outside. */
export const VERSION_ENTRIES_MAX = 1024;
/** Largest single value inside an encoded DVVSet. */
export const VALUE_BYTES_MAX = 64 * 1024 * 1024;

/**
 * Encodings made or decoded lately, per set. Sets are never changed once built (every operation in `version.ts`
 * makes a new one), so a write's set is encoded once however many times it is asked for: the write decision's
 * size check, the engine's record and the message to each replica all get the same bytes, which nobody
 * changes. A decoded set's encoding is the bytes it was decoded from (its values are views into them already):
 * a stored set read and sent on is not encoded again.
 *
 * The last `RECENT_ENCODINGS` (set, bytes) pairs, in a ring searched newest first by identity, not a `WeakMap`:
 * each `WeakMap` entry is an ephemeron, and on V8 inserting young keys into it and clearing them at every
 * scavenge cost about 1.3% of a node's CPU under load (docs/bench.md, seventh round). A set's uses follow its
 * making within one request, so a short memory serves them; a set asked for later is encoded again, to the same
 * bytes, unless its holder remembers it again first (the write cache does, see `rememberEncoding`). The ring
 * keeps up to that many encodings alive a little past their sets (and the buffers they are views into).
 */
export const RECENT_ENCODINGS = 64;
const recentSets: (DvvSet<Uint8Array> | null)[] = new Array(RECENT_ENCODINGS).fill(null);
const recentBytes: (Uint8Array | null)[] = new Array(RECENT_ENCODINGS).fill(null);
let recentNext = 0;

/** Records that `bytes` is `set`'s encoding (they must be exactly `encodeSet`'s output for it). */
export function rememberEncoding(set: DvvSet<Uint8Array>, bytes: Uint8Array): void {
  recentSets[recentNext] = set;
  recentBytes[recentNext] = bytes;
  recentNext = (recentNext + 1) % RECENT_ENCODINGS;
}

function recalled(set: DvvSet<Uint8Array>): Uint8Array | null {
  for (let n = 1, i = recentNext; n <= RECENT_ENCODINGS; n++) {
    i = i === 0 ? RECENT_ENCODINGS - 1 : i - 1;
    if (recentSets[i] === set) return recentBytes[i]!;
  }
  return null;
}

/** Encodes a set whose values are bytes (callers encode their own value records first). */
export function encodeSet(set: DvvSet<Uint8Array>): Uint8Array {
  let bytes = recalled(set);
  if (bytes === null) {
    bytes = encodeSetOnce(set);
    rememberEncoding(set, bytes);
  }
  return bytes;
}

function encodeSetOnce(set: DvvSet<Uint8Array>): Uint8Array {
  const w = new ByteWriter();
  w.u8(VERSION_FORMATS.DVVSET_V1);
  w.varint(set.entries.length);
  for (const e of set.entries) {
    w.string(e.node);
    w.varint(e.counter);
    w.varint(e.timeMs);
    w.varint(e.values.length);
    for (const v of e.values) w.bytes(v);
  }
  return w.finish();
}

/**
 * Decodes `encodeSet` output, checking every invariant. Throws `CORRUPTION` (with the offset in `details`)
 * when the bytes are not a valid set. Values are views into `bytes`; copy them to keep them past `bytes`.
 */
export function decodeSet(bytes: Uint8Array): DvvSet<Uint8Array> {
  const r = new ByteReader(bytes);
  try {
    const version = r.u8();
    if (version !== VERSION_FORMATS.DVVSET_V1) throw new FormatError(`Unknown version set format: ${version}`);
    const count = r.varint();
    if (count > VERSION_ENTRIES_MAX) throw new FormatError(`Too many entries: ${count}`);
    const entries: DvvEntry<Uint8Array>[] = [];
    for (let i = 0; i < count; i++) {
      const node = readNode(r, entries[i - 1]?.node);
      const counter = readCounter(r);
      const timeMs = r.varint();
      const valueCount = r.varint();
      if (valueCount > counter) throw new FormatError(`More values than events for ${node}`);
      const values: Uint8Array[] = [];
      for (let k = 0; k < valueCount; k++) values.push(r.bytes(VALUE_BYTES_MAX));
      entries.push({ node, counter, values, timeMs });
    }
    if (!r.done) throw new FormatError(`Trailing bytes at offset ${r.offset}`);
    const set = { entries };
    rememberEncoding(set, bytes);
    return set;
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    throw new MeshkvError("CORRUPTION", `Invalid version set: ${e.message}`, {
      cause: e,
      details: { offset: r.offset },
    });
  }
}

/**
 * The bytes that identify the versions a set holds (node, counter and value count per entry; no values and no
 * timestamps), so two replicas holding the same versions give the same digest. Hash trees hash these.
 */
export function versionDigest(set: DvvSet<unknown>): Uint8Array {
  const w = new ByteWriter();
  for (const e of set.entries) {
    w.string(e.node);
    w.varint(e.counter);
    w.varint(e.values.length);
  }
  return w.finish();
}

/** Version digests up to this many bytes travel as they are in anti-entropy key lists; longer ones as a hash. */
export const DIGEST_INLINE_BYTES_MAX = 48;

/**
 * The digest anti-entropy lists for a key: `versionDigest` itself when short (the usual case: three node ids of
 * up to a dozen characters), else a 16-byte hash of it (four 32-bit murmur3 with distinct seeds), so the list
 * stays small and bounded however long the node ids or however many coordinators a key has seen. Both sides use
 * the same rule, so equal versions always give equal wire digests.
 */
export function wireVersionDigest(set: DvvSet<unknown>): Uint8Array {
  const d = versionDigest(set);
  if (d.length <= DIGEST_INLINE_BYTES_MAX) return d;
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) view.setUint32(4 * i, murmur3(d, 0x9e3779b9 + i));
  return out;
}

/** The opaque, URL-safe token for a causal context. */
export function encodeContext(context: VersionVector): string {
  const w = new ByteWriter();
  w.u8(VERSION_FORMATS.CONTEXT_V1);
  w.varint(context.length);
  for (const e of context) {
    w.string(e.node);
    w.varint(e.counter);
  }
  const body = w.finish();
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, murmur3(body, CONTEXT_SEED));
  return toBase64Url(out);
}

/** Decodes a token from `encodeContext`, or throws `BAD_CONTEXT` saying what was wrong. */
export function decodeContext(token: string): VersionVector {
  if (typeof token !== "string" || token.length === 0) throw badContext("the token is empty");
  if (token.length > CONTEXT_TOKEN_CHARS_MAX) throw badContext(`longer than ${CONTEXT_TOKEN_CHARS_MAX} characters`);
  try {
    const raw = fromBase64Url(token);
    if (raw.length < 6) throw new FormatError("too short");
    const body = raw.subarray(0, raw.length - 4);
    const sum = new DataView(raw.buffer, raw.byteOffset + body.length, 4).getUint32(0);
    if (sum !== murmur3(body, CONTEXT_SEED)) throw new FormatError("checksum mismatch (truncated or edited)");
    const r = new ByteReader(body);
    const version = r.u8();
    if (version !== VERSION_FORMATS.CONTEXT_V1) throw new FormatError(`unknown format version ${version}`);
    const count = r.varint();
    if (count > VERSION_ENTRIES_MAX) throw new FormatError(`too many entries (${count})`);
    const out: VvEntry[] = [];
    for (let i = 0; i < count; i++) out.push({ node: readNode(r, out[i - 1]?.node), counter: readCounter(r) });
    if (!r.done) throw new FormatError(`trailing bytes at offset ${r.offset}`);
    return out;
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    throw badContext(e.message);
  }
}

function badContext(reason: string): MeshkvError {
  return new MeshkvError("BAD_CONTEXT", `Malformed causal context: ${reason}`);
}

function readNode(r: ByteReader, previous: string | undefined): string {
  const node = r.string(NODE_ID_BYTES_MAX);
  if (node.length === 0) throw new FormatError(`Empty node id at offset ${r.offset}`);
  if (previous !== undefined && !(previous < node)) {
    throw new FormatError(`Node ids out of order at offset ${r.offset}`);
  }
  return node;
}

function readCounter(r: ByteReader): number {
  const counter = r.varint();
  if (counter < 1) throw new FormatError(`Zero counter at offset ${r.offset}`);
  return counter;
}
