/**
 * Hint delivery: the loop that hands the hints a fallback node keeps (`hints.ts`) back to their targets once
 * gossip says they are alive again, in bounded batches, with jittered exponential backoff per target and a
 * byte-rate bound overall. A hint is deleted only after its target acknowledged it and only if it did not
 * change meanwhile (`HintStore.ack`).
 */
import type { Clock, Random, TimerHandle } from "../runtime/types.ts";
import { type Hint, hintBytes, HintStore } from "./hints.ts";

export interface HintDeliveryOptions {
  store: HintStore;
  clock: Clock;
  /** Jitters the backoff, so fallbacks do not all retry a returning node at once. */
  random: Random;
  /** Whether the target is up (from gossip); hints for a target that is not are left alone. */
  isAlive(target: string): boolean;
  /**
   * Drops the hints of a target that will never come back (removed from the cluster); called each round, so a
   * hint stored by a write in flight when the target was removed does not wait forever. Default: none.
   */
  dropIfGone?(target: string): Promise<void>;
  /** Sends hints to their target, which merges each into its copy; rejects when it could not. */
  deliver(target: string, hints: Hint[]): Promise<void>;
  /** Time between rounds. Default 200 ms. */
  intervalMs?: number;
  /** Most hints per `deliver` call. Default 256. */
  batchMax?: number;
  /** Most bytes per `deliver` call (at least one hint is sent). Default 1 MiB. */
  batchBytesMax?: number;
  /** Most bytes delivered per second, over all targets (a token bucket holding one second). Default 8 MiB. */
  bytesPerSecondMax?: number;
  /** Longest wait before retrying a target after failures. Default 30 s. */
  backoffMaxMs?: number;
  /** Errors of the background loop that are not delivery failures (the store failing); default: ignored. */
  onError?: (error: unknown) => void;
}

type DeliverySettings = Required<Omit<HintDeliveryOptions, "onError" | "dropIfGone">> & {
  onError: ((error: unknown) => void) | null;
  dropIfGone?: HintDeliveryOptions["dropIfGone"];
};

const DELIVERY_DEFAULTS = {
  intervalMs: 200,
  batchMax: 256,
  batchBytesMax: 1024 * 1024,
  bytesPerSecondMax: 8 * 1024 * 1024,
  backoffMaxMs: 30_000,
} as const;

/**
 * The delivery loop: every `intervalMs`, for each target that is alive and not backing off, takes batches
 * and calls `deliver`; a delivered batch is acknowledged (deleted unless changed meanwhile), a failed one backs
 * the target off exponentially (from `intervalMs`, doubling, up to `backoffMaxMs`, with jitter) and stays
 * stored. Targets are served concurrently, each in key order; the whole loop is throttled to
 * `bytesPerSecondMax`. Rounds never overlap: `runOnce` waits for a running round.
 */
export class HintDelivery {
  #o: DeliverySettings;
  #started = false;
  /** Set while `stop` waits: a draining target stops after its current batch. */
  #stopping = false;
  #timer: TimerHandle | null = null;
  #round: Promise<number> = Promise.resolve(0);
  #backoff = new Map<string, { failures: number; retryAt: number }>();
  #tokens: number;
  #refilledAt: number;

  constructor(o: HintDeliveryOptions) {
    if (o === null || typeof o !== "object") throw new TypeError("HintDelivery options must be an object");
    if (!(o.store instanceof HintStore)) throw new TypeError("HintDelivery needs a HintStore");
    if (typeof o.isAlive !== "function" || typeof o.deliver !== "function") {
      throw new TypeError("HintDelivery needs isAlive and deliver functions");
    }
    const s = { ...DELIVERY_DEFAULTS, ...dropUndefined(o), onError: o.onError ?? null } as DeliverySettings;
    for (const name of Object.keys(DELIVERY_DEFAULTS) as (keyof typeof DELIVERY_DEFAULTS)[]) {
      const v = s[name];
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new RangeError(`Invalid option ${name}: ${String(v)} (a positive integer)`);
      }
    }
    this.#o = s;
    this.#tokens = s.bytesPerSecondMax;
    this.#refilledAt = s.clock.monotonic();
  }

  /** Starts the loop (idempotent). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#schedule();
  }

  /** Stops the loop and waits for a round in flight. */
  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#stopping = true;
    try {
      await this.#round.catch(() => {});
    } finally {
      this.#stopping = false;
    }
  }

  /** Runs one round now (after a running one); resolves to the number of hints delivered. */
  runOnce(): Promise<number> {
    const next = this.#round.catch(() => 0).then(() => this.#run());
    this.#round = next;
    return next;
  }

  /** Targets backing off after failures, with their failure count and when they are tried again (monotonic ms). */
  backoff(): Record<string, { failures: number; retryAt: number }> {
    return Object.fromEntries([...this.#backoff].map(([t, b]) => [t, { ...b }]));
  }

  #schedule(): void {
    if (!this.#started || this.#timer !== null) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null;
      this.runOnce()
        .catch((e: unknown) => this.#o.onError?.(e))
        .finally(() => this.#schedule());
    }, this.#o.intervalMs);
  }

  async #run(): Promise<number> {
    const o = this.#o;
    const now = o.clock.monotonic();
    this.#tokens = Math.min(
      o.bytesPerSecondMax,
      this.#tokens + ((now - this.#refilledAt) * o.bytesPerSecondMax) / 1000,
    );
    this.#refilledAt = now;
    if (o.dropIfGone) { for (const t of o.store.targets()) await o.dropIfGone(t); }
    const due = o.store.targets().filter((t) => (this.#backoff.get(t)?.retryAt ?? -Infinity) <= now && o.isAlive(t));
    const results = await Promise.allSettled(due.map((t) => this.#drain(t)));
    let delivered = 0;
    for (const r of results) {
      if (r.status === "rejected") throw r.reason;
      delivered += r.value;
    }
    return delivered;
  }

  /** Delivers batches to one target until it has none, fails, goes down, or the byte budget is spent. */
  async #drain(target: string): Promise<number> {
    const o = this.#o;
    let delivered = 0;
    while (!this.#stopping && this.#tokens > 0 && o.isAlive(target)) {
      // Reserve the budget before awaiting, so targets served concurrently cannot spend it twice.
      const budget = Math.min(o.batchBytesMax, this.#tokens);
      this.#tokens -= budget;
      const hints = await o.store.take(target, o.batchMax, budget);
      let bytes = 0;
      for (const h of hints) bytes += hintBytes(h);
      this.#tokens += budget - bytes; // A hint over the budget leaves a debt the next refills pay.
      if (hints.length === 0) break;
      try {
        await o.deliver(target, hints);
      } catch {
        this.#fail(target);
        break;
      }
      this.#backoff.delete(target);
      await o.store.ack(hints);
      delivered += hints.length;
    }
    return delivered;
  }

  #fail(target: string): void {
    const o = this.#o;
    const failures = (this.#backoff.get(target)?.failures ?? 0) + 1;
    const full = Math.min(o.backoffMaxMs, o.intervalMs * 2 ** Math.min(failures, 30));
    const delay = full / 2 + (o.random.next() * full) / 2;
    this.#backoff.set(target, { failures, retryAt: o.clock.monotonic() + delay });
  }
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
