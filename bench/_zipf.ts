/**
 * Seeded randomness and YCSB's key choosers for bench/ycsb.ts.
 *
 * `ZipfianGenerator` is YCSB's (site.ycsb.generator.ZipfianGenerator), which follows Gray et al., "Quickly
 * generating billion-record synthetic databases" (SIGMOD 1994): item 0 is the most popular, and item i is
 * chosen with probability proportional to 1 / (i + 1)^theta, with YCSB's constant theta = 0.99.
 * `ScrambledZipfian` is what YCSB's workloads actually use for `requestdistribution=zipfian`: a zipfian over
 * ten billion items, hashed with FNV-1a 64 and taken modulo the record count, so the hot keys are spread over
 * the key space instead of being the first records loaded (which would make them share a partition).
 * The random source is the runtime's seeded sfc32 (`src/runtime/_random.ts`), so a run can be repeated.
 */
import { SeededRandom as RuntimeRandom } from "../src/runtime/memory.ts";

/** A seeded source of doubles in [0, 1) with 53 random bits (two draws of the runtime's seeded sfc32). */
export class SeededRandom {
  readonly #source: RuntimeRandom;

  constructor(seed: number) {
    this.#source = new RuntimeRandom(seed);
  }

  /** A double in [0, 1). */
  next(): number {
    return (this.#source.int(2 ** 27) * 2 ** 26 + this.#source.int(2 ** 26)) / 2 ** 53;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  bytes(n: number): Uint8Array {
    return this.#source.bytes(n);
  }
}

/** YCSB's zipfian constant. */
export const ZIPFIAN_CONSTANT = 0.99;

/** The generalised harmonic number sum_{i=1..n} 1 / i^theta (YCSB's zeta). */
export function zeta(n: number, theta: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += 1 / Math.pow(i + 1, theta);
  return sum;
}

/** Items in [0, items) with item 0 the most popular (YCSB's ZipfianGenerator, Gray et al. 1994). */
export class ZipfianGenerator {
  readonly items: number;
  readonly #theta: number;
  readonly #alpha: number;
  readonly #zetan: number;
  readonly #eta: number;
  readonly #rng: SeededRandom;

  /** `zetan` may be given when it is known (computing it for ten billion items would take minutes). */
  constructor(items: number, rng: SeededRandom, theta = ZIPFIAN_CONSTANT, zetan?: number) {
    if (!(items >= 1)) throw new RangeError("ZipfianGenerator needs at least one item");
    this.items = items;
    this.#theta = theta;
    this.#rng = rng;
    this.#alpha = 1 / (1 - theta);
    this.#zetan = zetan ?? zeta(items, theta);
    const zeta2theta = zeta(2, theta);
    this.#eta = (1 - Math.pow(2 / items, 1 - theta)) / (1 - zeta2theta / this.#zetan);
  }

  next(): number {
    const u = this.#rng.next();
    const uz = u * this.#zetan;
    if (uz < 1) return 0;
    if (uz < 1 + Math.pow(0.5, this.#theta)) return 1;
    return Math.min(this.items - 1, Math.floor(this.items * Math.pow(this.#eta * u - this.#eta + 1, this.#alpha)));
  }
}

const FNV_OFFSET_BASIS_64 = 0xcbf29ce484222325n;
const FNV_PRIME_64 = 1099511628211n;

/** YCSB's Utils.fnvhash64: FNV-1a over the eight bytes of a long, low byte first, as a non-negative long. */
export function fnvhash64(value: number): bigint {
  let v = BigInt(value);
  let hash = FNV_OFFSET_BASIS_64;
  for (let i = 0; i < 8; i++) {
    hash ^= v & 0xffn;
    hash = BigInt.asIntN(64, hash * FNV_PRIME_64);
    v >>= 8n;
  }
  return hash < 0n ? -hash : hash;
}

/** YCSB's ScrambledZipfianGenerator constants: ten billion items and their precomputed zeta at 0.99. */
const SCRAMBLED_ITEMS = 10_000_000_000;
const SCRAMBLED_ZETAN = 26.46902820178302;

/** Zipfian popularity over [0, records), hot items scattered by FNV hashing (YCSB's default for zipfian). */
export class ScrambledZipfian {
  readonly #records: bigint;
  readonly #gen: ZipfianGenerator;

  constructor(records: number, rng: SeededRandom) {
    this.#records = BigInt(records);
    this.#gen = new ZipfianGenerator(SCRAMBLED_ITEMS, rng, ZIPFIAN_CONSTANT, SCRAMBLED_ZETAN);
  }

  next(): number {
    return Number(fnvhash64(this.#gen.next()) % this.#records);
  }
}
