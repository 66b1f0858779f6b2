/**
 * Per-key mutual exclusion for read-modify-write: a write reads the stored versions, computes the new set and
 * writes it back, and two such writes to one key must not interleave or one would overwrite the other's value
 * instead of becoming its sibling. Each key has a promise chain; keys without waiters hold no memory.
 */
export class KeyLocks {
  #tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier `run` for `key` has finished. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Resolves once every write started so far has finished. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
  }
}
