/**
 * Per-key mutual exclusion for read-modify-write: a write reads the stored versions, computes the new set and
 * writes it back, and two such writes to one key must not interleave or one would overwrite the other's value
 * instead of becoming its sibling. A held key has a queue of waiters, woken one at a time in arrival order;
 * keys nobody holds take no memory. Taking a free key costs no promise and no turn of the microtask queue:
 * `fn` starts at once (most writes find their key free).
 */
export class KeyLocks {
  /** Held keys, each with the wake-up calls of the runs waiting for it, first come first. */
  #held = new Map<string, (() => void)[]>();
  /** Called when the last held key is released (for `idle`). */
  #drained: (() => void)[] = [];

  /** Runs `fn` once every earlier `run` for `key` has finished. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const waiters = this.#held.get(key);
    if (waiters === undefined) this.#held.set(key, []);
    else await new Promise<void>((resolve) => waiters.push(resolve));
    try {
      return await fn();
    } finally {
      this.#release(key);
    }
  }

  /** Hands the key to the next waiter (it stays held), or frees it. */
  #release(key: string): void {
    const waiters = this.#held.get(key)!;
    const next = waiters.shift();
    if (next !== undefined) {
      next();
      return;
    }
    this.#held.delete(key);
    if (this.#held.size === 0 && this.#drained.length > 0) {
      const drained = this.#drained;
      this.#drained = [];
      for (const d of drained) d();
    }
  }

  /** Resolves once every write started so far has finished. */
  async idle(): Promise<void> {
    while (this.#held.size > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
  }
}
