/**
 * The dashboard's traffic history: request count, latency and errors of this node per fixed interval, over the
 * last few minutes. `/metrics` keeps counters since start (a scraper computes rates); a dashboard without a
 * Prometheus beside it needs the recent past itself, so the app keeps a ring buffer of per-interval samples,
 * fed by the request middleware (the same measurement `/metrics` gets). Memory is bounded: `UI_SAMPLES_MAX`
 * intervals of one fixed-size latency histogram each, whatever the request rate.
 *
 * Percentiles come from a log-scale histogram (bucket bounds grow by 2^(1/4), so a reported p50/p99 is at most
 * about 19% above the true value), the way HdrHistogram trades precision for a fixed footprint.
 */

/** Length of one sample interval. */
export const UI_SAMPLE_INTERVAL_MS = 5_000;
/** Intervals kept: 72 × 5 s = the last 6 minutes. */
export const UI_SAMPLES_MAX = 72;

/** Upper bounds of the latency buckets in ms: 0.1 ms × 2^(i/4), up to about 105 s; the last catches the rest. */
const BOUNDS_MS = Array.from({ length: 81 }, (_, i) => 0.1 * 2 ** (i / 4));

interface Slot {
  /** Interval number (monotonic ms / UI_SAMPLE_INTERVAL_MS), or -1 when unused. */
  index: number;
  requests: number;
  serverErrors: number;
  clientErrors: number;
  latency: Uint32Array;
}

/** One interval as the dashboard draws it; latencies are null for an interval without requests. */
export interface TrafficSample {
  /** How long ago the interval ended, in ms (0 for the current, still filling, interval). */
  agoMs: number;
  requests: number;
  ratePerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** 5xx answers. */
  serverErrors: number;
  /** 4xx answers (bad input, auth, not found). */
  clientErrors: number;
}

export class RequestSamples {
  readonly #slots: Slot[] = Array.from({ length: UI_SAMPLES_MAX }, () => ({
    index: -1,
    requests: 0,
    serverErrors: 0,
    clientErrors: 0,
    latency: new Uint32Array(BOUNDS_MS.length + 1),
  }));

  /** Records one finished request at monotonic time `nowMs`. */
  record(nowMs: number, latencyMs: number, status: number): void {
    const slot = this.#slot(Math.floor(nowMs / UI_SAMPLE_INTERVAL_MS));
    slot.requests++;
    if (status >= 500) slot.serverErrors++;
    else if (status >= 400) slot.clientErrors++;
    slot.latency[bucketOf(latencyMs)]!++;
  }

  /** The last `UI_SAMPLES_MAX` intervals up to monotonic time `nowMs`, oldest first, empty ones included. */
  series(nowMs: number): TrafficSample[] {
    const current = Math.floor(nowMs / UI_SAMPLE_INTERVAL_MS);
    const out: TrafficSample[] = [];
    for (let index = current - UI_SAMPLES_MAX + 1; index <= current; index++) {
      const slot = this.#slots[mod(index, UI_SAMPLES_MAX)]!;
      const live = slot.index === index;
      // The current interval has run only part of its length: its rate is over the part that has run.
      const spanMs = index === current ? Math.max(nowMs - index * UI_SAMPLE_INTERVAL_MS, 1) : UI_SAMPLE_INTERVAL_MS;
      const requests = live ? slot.requests : 0;
      out.push({
        agoMs: (current - index) * UI_SAMPLE_INTERVAL_MS,
        requests,
        ratePerSec: (requests * 1000) / spanMs,
        p50Ms: live ? quantile(slot.latency, slot.requests, 0.5) : null,
        p99Ms: live ? quantile(slot.latency, slot.requests, 0.99) : null,
        serverErrors: live ? slot.serverErrors : 0,
        clientErrors: live ? slot.clientErrors : 0,
      });
    }
    return out;
  }

  #slot(index: number): Slot {
    const slot = this.#slots[mod(index, UI_SAMPLES_MAX)]!;
    if (slot.index !== index) {
      slot.index = index;
      slot.requests = slot.serverErrors = slot.clientErrors = 0;
      slot.latency.fill(0);
    }
    return slot;
  }
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function bucketOf(ms: number): number {
  // Binary search for the first bound >= ms; beyond the last bound, the overflow bucket.
  let lo = 0;
  let hi = BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (BOUNDS_MS[mid]! >= ms) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The upper bound of the bucket holding the q-quantile (the overflow bucket reports the last bound). */
function quantile(counts: Uint32Array, total: number, q: number): number | null {
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return BOUNDS_MS[Math.min(i, BOUNDS_MS.length - 1)]!;
  }
  return BOUNDS_MS[BOUNDS_MS.length - 1]!;
}
