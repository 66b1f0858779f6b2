/**
 * Hash trees for anti-entropy: which key-hash segments of a partition differ between two replicas.
 *
 * A Merkle tree (Merkle 1987; Dynamo 2007, section 4.7) in the "tictac" form of Riak's `leveled` and
 * `riak_kv_tictacaae` (Martin Sutherland, 2017): a leaf covers one segment of the key-hash space and holds
 * the XOR of a 64-bit hash of every (key, version) in it, and each inner node is the XOR of its children.
 * Because XOR is its own inverse, a write changes the tree in place: `leaf ^= h(key, old) ^ h(key, new)`, and
 * the same delta goes up the path to the root, O(depth) per write with no rebuild and no dirty marking; every
 * level is always current. The order keys arrive in does not matter, so two replicas with the same data have
 * the same tree however they got there.
 *
 * Comparing two trees is an exchange in rounds, level by level: the root, then the children of the nodes
 * that differ, down to the leaves. `levelHashes` is what one side sends; `diffLevel` is what the other does
 * with it; `diffTrees` runs the whole exchange locally (for tests and benchmarks) and counts the hashes sent,
 * which grows with the number of differences, not with the data. The differing segments are then repaired
 * by listing the keys of those segments on both sides (`segmentOf` decides a key's segment).
 *
 * Hashes are two MurmurHash3 x86_32 (seeds below) of `u32 keyByteLength, key UTF-8, version bytes`; the
 * version bytes are `versionDigest` of the key's version set. A difference hides only if 64-bit deltas
 * cancel exactly, about 2^-64 per comparison.
 */
import { ByteReader, ByteWriter, FormatError } from "./_bytes.ts";
import { murmur3, utf8Scratch } from "./_hash.ts";
import { MeshkvError } from "../errors.ts";

export const DEFAULT_SEGMENTS = 4096;
export const DEFAULT_FANOUT = 16;
export const SEGMENTS_MAX = 1 << 22;

/** append only: the numbers are on the wire/disk. */
export const HASH_TREE_FORMATS = { V1: 1 } as const;
/** append only: the numbers are on the wire/disk (hash seeds are part of the format). */
export const HASH_TREE_SEEDS = { SEGMENT: 0x5e67, HIGH: 0x7c1a0001, LOW: 0x7c1a0002 } as const;

export interface HashTreeOptions {
  /** Leaves; a power of `fanout`. Default 4096. */
  segments?: number;
  /** Children per inner node; a power of two from 2 to 256. Default 16. */
  fanout?: number;
}

/** The segment of `key` in a tree with `segments` leaves. */
export function segmentOf(key: string, segments: number = DEFAULT_SEGMENTS): number {
  const { bytes, length } = utf8Scratch(key);
  return murmur3(bytes, HASH_TREE_SEEDS.SEGMENT, length) & (segments - 1);
}

/** The two 32-bit halves of the hash of one (key, version). Reuses one scratch buffer. */
function itemHash(key: string, version: Uint8Array, out: Uint32Array): void {
  const { bytes, length } = utf8Scratch(key, version.length + 4);
  bytes.copyWithin(4, 0, length);
  bytes[0] = length >>> 24;
  bytes[1] = (length >>> 16) & 0xff;
  bytes[2] = (length >>> 8) & 0xff;
  bytes[3] = length & 0xff;
  bytes.set(version, length + 4);
  const total = length + 4 + version.length;
  out[0] = murmur3(bytes, HASH_TREE_SEEDS.HIGH, total);
  out[1] = murmur3(bytes, HASH_TREE_SEEDS.LOW, total);
}

export interface TreeDiff {
  /** Differing segments, ascending. */
  readonly segments: number[];
  /** Hashes one side sent the other over all rounds. */
  readonly hashesExchanged: number;
  readonly rounds: number;
}

export class HashTree {
  readonly segments: number;
  readonly fanout: number;
  /** Levels below the root; leaves are level `depth`. */
  readonly depth: number;
  /** `#levels[d]` holds `fanout^d` nodes as (high, low) pairs. */
  #levels: Uint32Array[];
  #delta = new Uint32Array(2);
  #scratch = new Uint32Array(2);

  constructor(options: HashTreeOptions = {}) {
    const fanout = options.fanout ?? DEFAULT_FANOUT;
    const segments = options.segments ?? DEFAULT_SEGMENTS;
    if (!Number.isInteger(fanout) || fanout < 2 || fanout > 256 || (fanout & (fanout - 1)) !== 0) {
      throw new MeshkvError("INVALID_ARGUMENT", `Hash tree fanout must be a power of two from 2 to 256: ${fanout}`);
    }
    let depth = 0;
    for (let width = 1; width < segments; width *= fanout) depth++;
    if (!Number.isInteger(segments) || segments > SEGMENTS_MAX || depth === 0 || fanout ** depth !== segments) {
      throw new MeshkvError(
        "INVALID_ARGUMENT",
        `Hash tree segments must be a power of the fanout up to ${SEGMENTS_MAX}: ${segments}`,
      );
    }
    this.segments = segments;
    this.fanout = fanout;
    this.depth = depth;
    this.#levels = Array.from({ length: depth + 1 }, (_, d) => new Uint32Array(2 * fanout ** d));
  }

  /** Records that `key` went from `oldVersion` to `newVersion` (null: absent before / deleted after). */
  update(key: string, oldVersion: Uint8Array | null, newVersion: Uint8Array | null): void {
    const delta = this.#delta;
    delta[0] = 0;
    delta[1] = 0;
    for (const version of [oldVersion, newVersion]) {
      if (version === null) continue;
      itemHash(key, version, this.#scratch);
      delta[0] ^= this.#scratch[0]!;
      delta[1] ^= this.#scratch[1]!;
    }
    const high = delta[0]!;
    const low = delta[1]!;
    if (high === 0 && low === 0) return;
    let index = segmentOf(key, this.segments);
    for (let d = this.depth; d >= 0; d--) {
      const level = this.#levels[d]!;
      level[2 * index] = level[2 * index]! ^ high;
      level[2 * index + 1] = level[2 * index + 1]! ^ low;
      index = Math.floor(index / this.fanout);
    }
  }

  /** The width of `level` (0 is the root). */
  width(level: number): number {
    this.#checkLevel(level);
    return this.fanout ** level;
  }

  /** The hashes of nodes `indices` at `level`, as (high, low) pairs: what one side sends in a round. */
  levelHashes(level: number, indices: readonly number[]): Uint32Array {
    const src = this.#levels[this.#checkLevel(level)]!;
    const out = new Uint32Array(2 * indices.length);
    indices.forEach((i, k) => {
      if (!Number.isInteger(i) || i < 0 || 2 * i >= src.length) throw new RangeError(`No node ${i} at level ${level}`);
      out[2 * k] = src[2 * i]!;
      out[2 * k + 1] = src[2 * i + 1]!;
    });
    return out;
  }

  /** Of `indices` at `level`, those whose hash differs from `remote` (the other side's `levelHashes`). */
  diffLevel(level: number, indices: readonly number[], remote: Uint32Array): number[] {
    if (remote.length !== 2 * indices.length) {
      throw new MeshkvError("INVALID_ARGUMENT", `Hash tree level reply has the wrong size: ${remote.length}`);
    }
    const local = this.levelHashes(level, indices);
    return indices.filter((_, k) => local[2 * k] !== remote[2 * k] || local[2 * k + 1] !== remote[2 * k + 1]);
  }

  /** The children, at `level + 1`, of `indices` at `level`: what to ask for in the next round. */
  childrenOf(level: number, indices: readonly number[]): number[] {
    if (this.#checkLevel(level) === this.depth) throw new RangeError("Leaves have no children");
    const out: number[] = [];
    for (const i of indices) for (let c = 0; c < this.fanout; c++) out.push(i * this.fanout + c);
    return out;
  }

  /** True when both trees hold the same data (their roots match). */
  equals(other: HashTree): boolean {
    return this.diffLevel(0, [0], other.levelHashes(0, [0])).length === 0;
  }

  /** Forgets everything (before a rebuild from storage). */
  clear(): void {
    for (const level of this.#levels) level.fill(0);
  }

  /** The leaves, for saving the tree with the partition so a restart needs no rebuild. */
  toBytes(): Uint8Array {
    const w = new ByteWriter();
    w.u8(HASH_TREE_FORMATS.V1);
    w.varint(this.segments);
    w.varint(this.fanout);
    const leaves = this.#levels[this.depth]!;
    for (let i = 0; i < leaves.length; i++) w.u32(leaves[i]!);
    return w.finish();
  }

  /** Reads `toBytes` output, recomputing inner levels; CORRUPTION when the bytes are not a tree. */
  static fromBytes(bytes: Uint8Array): HashTree {
    const r = new ByteReader(bytes);
    try {
      const version = r.u8();
      if (version !== HASH_TREE_FORMATS.V1) throw new FormatError(`Unknown hash tree format: ${version}`);
      const segments = r.varint();
      const fanout = r.varint();
      const tree = new HashTree({ segments, fanout });
      const leaves = tree.#levels[tree.depth]!;
      for (let i = 0; i < leaves.length; i++) leaves[i] = r.u32();
      if (!r.done) throw new FormatError(`Trailing bytes at offset ${r.offset}`);
      for (let d = tree.depth - 1; d >= 0; d--) {
        const child = tree.#levels[d + 1]!;
        const parent = tree.#levels[d]!;
        for (let i = 0; i < child.length; i += 2) {
          const p = 2 * Math.floor(i / 2 / fanout);
          parent[p] = parent[p]! ^ child[i]!;
          parent[p + 1] = parent[p + 1]! ^ child[i + 1]!;
        }
      }
      return tree;
    } catch (e) {
      if (e instanceof FormatError || (e instanceof MeshkvError && e.code === "INVALID_ARGUMENT")) {
        throw new MeshkvError("CORRUPTION", `Invalid hash tree: ${e.message}`, {
          cause: e,
          details: { offset: r.offset },
        });
      }
      throw e;
    }
  }

  #checkLevel(level: number): number {
    if (!Number.isInteger(level) || level < 0 || level > this.depth) throw new RangeError(`No level ${level}`);
    return level;
  }
}

/**
 * Runs the level-by-level exchange between `local` and `remote` in memory: each round, `remote` sends the
 * hashes `local` asks for and `local` keeps the indices that differ. Both trees must have the same shape.
 */
export function diffTrees(local: HashTree, remote: HashTree): TreeDiff {
  if (local.segments !== remote.segments || local.fanout !== remote.fanout) {
    throw new RangeError("Hash trees of different shapes cannot be compared");
  }
  let indices = [0];
  let hashesExchanged = 0;
  let rounds = 0;
  for (let level = 0;; level++) {
    rounds++;
    hashesExchanged += indices.length;
    indices = local.diffLevel(level, indices, remote.levelHashes(level, indices));
    if (indices.length === 0 || level === local.depth) return { segments: indices, hashesExchanged, rounds };
    indices = local.childrenOf(level, indices);
  }
}
