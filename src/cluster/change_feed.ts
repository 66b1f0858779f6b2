/**
 * This node's change feed behind `GET /v1/watch`: every change a replica on this node applies (a write it
 * coordinated, a merge from a peer, a repair) appends an event with an increasing id, the last `eventsMax`
 * events (and at most `bytesMax` of them) stay in memory so a watcher that reconnects with `Last-Event-ID`
 * gets what it missed, and each watcher reads through its own bounded queue.
 *
 * Ids are `<epoch>.<sequence>`, the epoch being the feed's start time in base 36, so an id from before a
 * restart is recognised as such. When a watcher cannot be given every event (its id is older than the
 * buffer, from another epoch, or its queue overflowed because it reads too slowly) it gets one `gap` event
 * and then live events again: like a Kafka consumer whose offset fell out of retention, it must re-read the
 * keys it cares about. Otherwise a watch starts with a `ready` event naming its starting position. Nothing
 * here blocks a writer on a slow watcher.
 */
import type { ChangeEvent, StoredValue } from "../kv/backend.ts";
import type { Stored } from "../core/stored.ts";
import { encodeSet } from "../core/context.ts";
import { contextOf, values } from "../core/version.ts";
import { visibleValues } from "./records.ts";

export interface FeedLimits {
  /** Events kept for resuming. */
  eventsMax: number;
  /** Bytes of values kept for resuming. */
  bytesMax: number;
  /** Events queued for one watcher before it is told it has a gap. */
  queueEventsMax: number;
}

export const FEED_DEFAULTS: FeedLimits = { eventsMax: 4096, bytesMax: 16 * 1024 * 1024, queueEventsMax: 1024 };

const ID_PATTERN = /^([0-9a-z]{1,12})\.(\d{1,15})$/;

interface Watcher {
  prefix: string;
  queue: ChangeEvent[];
  wake: (() => void) | null;
}

export type NewEvent = Omit<ChangeEvent, "id">;

/** A buffered change: its event is made (`make`, then dropped) when a watcher first needs it. */
interface Buffered {
  seq: number;
  key: string;
  bytes: number;
  event: ChangeEvent | null;
  make: (() => NewEvent) | null;
}

export class ChangeFeed {
  readonly #epoch: string;
  readonly #limits: FeedLimits;
  #seq = 0;
  #buffer: Buffered[] = [];
  #bufferBytes = 0;
  #watchers = new Set<Watcher>();
  #closed = false;

  constructor(startMs: number, limits: Partial<FeedLimits> = {}) {
    this.#epoch = Math.max(0, Math.floor(startMs)).toString(36);
    this.#limits = { ...FEED_DEFAULTS, ...limits };
  }

  get watchers(): number {
    return this.#watchers.size;
  }

  get lastId(): string {
    return `${this.#epoch}.${this.#seq}`;
  }

  /** True for text shaped like an id of any feed (the epoch need not be this one). */
  static isId(text: string): boolean {
    return ID_PATTERN.test(text);
  }

  /**
   * Appends the change of `key` without making its event: `make` runs only when a watcher needs it (now, or on a
   * replay), so a node nobody watches does not build an event per write. `bytes` is what the change counts
   * against `bytesMax`: at least the made event's value bytes and key (`changeEventBytesMax`).
   */
  publishLazy(key: string, bytes: number, make: () => NewEvent): void {
    const b: Buffered = { seq: ++this.#seq, key, bytes, event: null, make };
    this.#buffer.push(b);
    this.#bufferBytes += b.bytes;
    while (
      this.#buffer.length > this.#limits.eventsMax ||
      (this.#bufferBytes > this.#limits.bytesMax && this.#buffer.length > 1)
    ) {
      this.#bufferBytes -= this.#buffer.shift()!.bytes;
    }
    for (const w of this.#watchers) if (b.key.startsWith(w.prefix)) this.#deliver(w, this.#eventOf(b));
  }

  #eventOf(b: Buffered): ChangeEvent {
    if (b.event === null) {
      b.event = { ...b.make!(), id: `${this.#epoch}.${b.seq}` };
      b.make = null;
    }
    return b.event;
  }

  #deliver(w: Watcher, event: ChangeEvent): void {
    if (w.queue.length >= this.#limits.queueEventsMax) w.queue = [this.#gap()];
    else w.queue.push(event);
    const wake = w.wake;
    w.wake = null;
    wake?.();
  }

  #gap(): ChangeEvent {
    return { id: this.lastId, type: "gap", key: null, values: [], valuesOmitted: false, context: [] };
  }

  #ready(id: string): ChangeEvent {
    return { id, type: "ready", key: null, values: [], valuesOmitted: false, context: [] };
  }

  /** The events after `after` that are still buffered, or null when some were lost. */
  #replay(after: string, prefix: string): ChangeEvent[] | null {
    const m = ID_PATTERN.exec(after);
    if (!m || m[1] !== this.#epoch) return null;
    const seq = Number(m[2]);
    if (seq > this.#seq) return null;
    const first = this.#buffer[0]?.seq ?? this.#seq + 1;
    if (seq < first - 1) return null;
    return this.#buffer.filter((b) => b.seq > seq && b.key.startsWith(prefix)).map((b) => this.#eventOf(b));
  }

  /** Events for keys under `prefix`, after `after` (null: from now), until `signal` aborts or the feed closes. */
  async *watch(
    prefix: string,
    after: string | null,
    signal: AbortSignal,
  ): AsyncGenerator<ChangeEvent, void, undefined> {
    if (this.#closed || signal.aborted) return;
    const w: Watcher = { prefix, queue: [], wake: null };
    if (after === null) w.queue = [this.#ready(this.lastId)];
    else {
      const missed = this.#replay(after, prefix);
      w.queue = missed === null ? [this.#gap()] : [this.#ready(after), ...missed];
    }
    this.#watchers.add(w);
    const onAbort = () => {
      const wake = w.wake;
      w.wake = null;
      wake?.();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!signal.aborted && !this.#closed) {
        const next = w.queue.shift();
        if (next) yield next;
        else await new Promise<void>((resolve) => (w.wake = resolve));
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#watchers.delete(w);
    }
  }

  /** Ends every watch. */
  close(): void {
    this.#closed = true;
    for (const w of this.#watchers) {
      const wake = w.wake;
      w.wake = null;
      wake?.();
    }
  }
}

/** The values an event carries: all of them while they are small, none (and `valuesOmitted`) otherwise. */
export function eventValues(
  values: readonly StoredValue[],
  bytesMax: number,
): { values: readonly StoredValue[]; valuesOmitted: boolean } {
  const total = values.reduce((n, v) => n + v.data.length, 0);
  return total <= bytesMax ? { values, valuesOmitted: false } : { values: [], valuesOmitted: true };
}

/**
 * What `changeEvent(key, s, …, valueBytesMax)` counts against the feed's `bytesMax`, at most: the key and the
 * encoded set (cached: the store encoded it to write it), which holds every value, up to `valueBytesMax`.
 */
export function changeEventBytesMax(key: string, s: Stored, valueBytesMax: number): number {
  return key.length + Math.min(encodeSet(s.set).length, valueBytesMax);
}

/** The change event for a stored set, carrying its values while they total at most `valueBytesMax`. */
export function changeEvent(key: string, s: Stored, lww: boolean, valueBytesMax: number): Omit<ChangeEvent, "id"> {
  const live = visibleValues(values(s.set), lww);
  const carried = eventValues(live, valueBytesMax);
  return { type: live.length > 0 ? "put" : "delete", key, context: contextOf(s.set), ...carried };
}
