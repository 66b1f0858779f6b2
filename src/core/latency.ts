/**
 * A window of recent latencies and its percentiles: the coordinator's estimate of how long a replica's answer
 * usually takes, after which a read asks one more replica (speculative retry, Cassandra's `99p` default).
 * Pure: the caller measures with its clock and adds the samples.
 */

export class LatencyWindow {
  readonly #samples: Float64Array;
  #count = 0;
  #next = 0;
  #cached: { at: number; q: number; value: number } | null = null;
  #added = 0;

  /** Keeps the last `size` samples (a bound, convention 6). */
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`Latency window size must be a positive integer: got ${size}`);
    }
    this.#samples = new Float64Array(size);
  }

  get count(): number {
    return this.#count;
  }

  add(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#samples.length;
    if (this.#count < this.#samples.length) this.#count++;
    this.#added++;
  }

  /**
   * The `q` quantile (0 to 1) of the window, or null while it is empty. Sorting a copy is O(size log size), so
   * the value is recomputed only after a sixteenth of the window has been replaced.
   */
  percentile(q: number): number | null {
    if (this.#count === 0) return null;
    const c = this.#cached;
    if (c !== null && c.q === q && this.#added - c.at < Math.max(1, this.#samples.length >> 4)) return c.value;
    const sorted = this.#samples.slice(0, this.#count).sort();
    const value = sorted[Math.min(this.#count - 1, Math.floor(q * this.#count))]!;
    this.#cached = { at: this.#added, q, value };
    return value;
  }
}
