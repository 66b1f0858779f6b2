/**
 * A clock that moves only when told to, for the deterministic simulation and for tests of timeouts.
 *
 * Timers fire in deadline order (ties in creation order) as `advance()` moves time forward, and between
 * timers the microtask queue is drained, so promise chains started by one timer finish before the next fires.
 */
import { sleepOn } from "./_system_clock.ts";
import type { Clock, TimerHandle } from "./types.ts";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
  every: number | null;
}

export class ManualClock implements Clock {
  #now: number;
  #wallOffset: number;
  #timers = new Map<number, Timer>();
  #nextId = 1;

  /** `start` is the wall-clock time (ms since the epoch) at monotonic zero. */
  constructor(start = 1_700_000_000_000) {
    this.#now = 0;
    this.#wallOffset = start;
  }

  now(): number {
    return Math.floor(this.#wallOffset + this.#now);
  }

  monotonic(): number {
    return this.#now;
  }

  /** Moves wall time without moving monotonic time, like an NTP step (for skew tests). */
  skewWall(ms: number): void {
    this.#wallOffset += ms;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn, every: null });
    return id as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as unknown as number);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    const every = Math.max(1, ms);
    this.#timers.set(id, { id, at: this.#now + every, fn, every });
    return id as unknown as TimerHandle;
  }

  clearInterval(handle: TimerHandle): void {
    this.#timers.delete(handle as unknown as number);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }

  /**
   * A microtask: deferred work runs when the current promise chains settle, at the same simulated instant,
   * so `advance()` and `settle()` both drain it and no simulated time passes.
   */
  defer(fn: () => void): void {
    queueMicrotask(fn);
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.#timers.size;
  }

  /** The deadline of the next timer, or null. */
  nextDeadline(): number | null {
    let best: number | null = null;
    for (const t of this.#timers.values()) if (best === null || t.at < best) best = t.at;
    return best;
  }

  #due(limit: number): Timer | null {
    let best: Timer | null = null;
    for (const t of this.#timers.values()) {
      if (t.at > limit) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    }
    return best;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const t = this.#due(target);
      if (!t) break;
      this.#now = Math.max(this.#now, t.at);
      if (t.every === null) this.#timers.delete(t.id);
      else t.at += t.every;
      t.fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

/** Drains pending microtasks (promise continuations) a bounded number of rounds. */
export async function settle(rounds = 64): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
