/**
 * The SDK side of `GET /v1/watch`: reads server-sent events from a fetch body (no EventSource, so it works in
 * workers and on servers, and can send the bearer token), and reconnects with `Last-Event-ID` when the
 * connection drops, with exponential backoff and at most `reconnectsMax` failures in a row. Events wait in a
 * queue of at most `queueEventsMax`; when it is full, reading from the socket pauses (backpressure) instead of
 * buffering without bound.
 */
import { decodeWire, type WireValue } from "./_codec.ts";
import { MeshkvClientError } from "./errors.ts";
import type { Transport } from "./_transport.ts";

export interface WatchEvent<T> {
  /** Pass to `watch({ after })` to resume after this event. */
  id: string;
  /** `gap`: events were lost (resume point too old, node restarted, or too slow); re-read what you need. */
  type: "put" | "delete" | "gap";
  key: string | null;
  /** Live siblings after the change (empty for delete and gap, or when `valuesOmitted`). */
  values: T[];
  /** The first of `values`. */
  value: T | undefined;
  /** The values were too large to carry: `get` the key. */
  valuesOmitted: boolean;
  context: string | null;
}

export interface Watch<T> extends AsyncIterable<WatchEvent<T>> {
  /** Resolves once the server confirmed the watch (changes from then on are delivered). */
  readonly ready: Promise<void>;
  /** The id of the last event received, for resuming later. */
  readonly lastId: string | null;
  close(): void;
}

export interface WatchOptions {
  prefix?: string;
  after?: string;
  signal?: AbortSignal;
}

const QUEUE_EVENTS_MAX = 1000;
const RECONNECTS_MAX = 10;
const BACKOFF_MS_MAX = 5000;

interface RawEvent {
  id: string | null;
  event: string;
  data: string;
}

/** Splits an SSE byte stream into events (WHATWG HTML 9.2.6), skipping comments and retry lines. */
async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<RawEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let ev: RawEvent = { id: null, event: "message", data: "" };
  let has = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (has) yield ev;
          ev = { id: null, event: "message", data: "" };
          has = false;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") ev.id = val;
        else if (field === "event") ev.event = val;
        else if (field === "data") ev.data = ev.data === "" ? val : `${ev.data}\n${val}`;
        else continue;
        has = true;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

export function openWatch<T>(transport: Transport, options: WatchOptions): Watch<T> {
  const prefix = options.prefix ?? "";
  let lastId: string | null = options.after ?? null;
  const closer = new AbortController();
  const onUserAbort = () => close();
  options.signal?.addEventListener("abort", onUserAbort, { once: true });
  const queue: WatchEvent<T>[] = [];
  let failure: unknown = null;
  let ended = false;
  let wakeConsumer: (() => void) | null = null;
  let wakeProducer: (() => void) | null = null;
  let resolveReady!: () => void;
  let rejectReady!: (e: unknown) => void;
  const ready = new Promise<void>((res, rej) => ((resolveReady = res), (rejectReady = rej)));
  ready.catch(() => {});
  const wake = () => {
    const w = wakeConsumer;
    wakeConsumer = null;
    w?.();
  };

  const pump = async () => {
    let failures = 0;
    while (!closer.signal.aborted) {
      try {
        const query = new URLSearchParams(prefix === "" ? {} : { prefix }).toString();
        const headers: Record<string, string> = { accept: "text/event-stream" };
        if (lastId !== null) headers["last-event-id"] = lastId;
        const res = await transport.send({
          path: `/v1/watch${query ? `?${query}` : ""}`,
          headers,
          idempotent: true,
          stream: true,
          signal: closer.signal,
        });
        for await (const raw of parseSse(res.body!)) {
          failures = 0;
          if (raw.id !== null) lastId = raw.id;
          if (raw.event === "ready" || raw.event === "gap") resolveReady();
          if (raw.event === "ready" || !["put", "delete", "gap"].includes(raw.event)) continue;
          const data = JSON.parse(raw.data) as {
            key: string | null;
            values: WireValue[];
            valuesOmitted: boolean;
            context: string | null;
          };
          const values = data.values.map((w) => decodeWire<T>(w));
          queue.push({
            id: raw.id ?? "",
            type: raw.event as WatchEvent<T>["type"],
            key: data.key,
            values,
            value: values[0],
            valuesOmitted: data.valuesOmitted,
            context: data.context,
          });
          wake();
          while (queue.length >= QUEUE_EVENTS_MAX && !closer.signal.aborted) {
            await new Promise<void>((r) => (wakeProducer = r));
          }
        }
        failures++;
      } catch (e) {
        if (closer.signal.aborted) break;
        if (e instanceof MeshkvClientError && e.status !== 0 && e.status !== 503) throw e;
        failures++;
        if (failures > RECONNECTS_MAX) throw e;
      }
      if (failures > RECONNECTS_MAX) {
        throw new MeshkvClientError("CONNECTION_CLOSED", `Watch stream closed ${failures} times in a row`);
      }
      const delay = Math.min(BACKOFF_MS_MAX, 100 * 2 ** Math.max(0, failures - 1)) * (0.5 + Math.random() / 2);
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        closer.signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
      });
    }
  };
  void pump().then(
    () => {
      ended = true;
      rejectReady(new MeshkvClientError("CONNECTION_CLOSED", "Watch closed before it was ready"));
      wake();
    },
    (e) => {
      failure = e;
      ended = true;
      rejectReady(e);
      wake();
    },
  );

  function close(): void {
    closer.abort();
    options.signal?.removeEventListener("abort", onUserAbort);
    const p = wakeProducer;
    wakeProducer = null;
    p?.();
    wake();
  }

  return {
    ready,
    get lastId() {
      return lastId;
    },
    close,
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          const next = queue.shift();
          if (next) {
            const p = wakeProducer;
            wakeProducer = null;
            p?.();
            yield next;
            continue;
          }
          if (failure !== null) throw failure;
          if (options.signal?.aborted) throw options.signal.reason;
          if (ended || closer.signal.aborted) return;
          await new Promise<void>((r) => (wakeConsumer = r));
        }
      } finally {
        close();
      }
    },
  };
}
