/**
 * A small, fast, seedable pseudo-random generator (sfc32, seeded through splitmix32), identical on every
 * runtime. Simulations and property tests print the seed so a failure replays exactly (TigerBeetle's VOPR).
 * Not for secrets: the mesh handshake uses Web Crypto for its challenges.
 */
import type { Random } from "./types.ts";

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class SeededRandom implements Random {
  readonly seed: number;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new TypeError(`Seed must be an integer: ${seed}`);
    this.seed = seed >>> 0;
    const mix = splitmix32(this.seed);
    this.#a = mix();
    this.#b = mix();
    this.#c = mix();
    this.#d = mix();
    for (let i = 0; i < 12; i++) this.#u32();
  }

  #u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  next(): number {
    return this.#u32() / 4294967296;
  }

  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`Bound must be a positive integer: ${n}`);
    if (n <= 0x100000000) return Math.floor(this.next() * n);
    return Math.floor((this.#u32() * 4294967296 + this.#u32()) / 18446744073709551616 * n);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let v = this.#u32();
      for (let j = i; j < Math.min(n, i + 4); j++) {
        out[j] = v & 0xff;
        v >>>= 8;
      }
    }
    return out;
  }

  fork(): Random {
    return new SeededRandom(this.#u32());
  }
}

/** A seed from the operating system's entropy, for when the caller gave none. */
export function entropySeed(): number {
  const buf = new Uint32Array(1);
  crypto.getRandomValues(buf);
  return buf[0] ?? 0;
}

export function createRandom(seed?: number): Random {
  return new SeededRandom(seed ?? entropySeed());
}
