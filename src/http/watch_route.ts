/**
 * `GET /v1/watch?prefix=`: the change feed as server-sent events (WHATWG HTML, "Server-sent events"). Each
 * event has an `id`; a client that reconnects sends the last one as `Last-Event-ID` (browsers' EventSource do
 * it by themselves; `?after=` does the same for the first connection) and gets what it missed, or a `gap`
 * event when that is no longer kept. The first event is `ready` (or `gap`), so a client knows when the watch
 * is live. Idle streams carry a comment every `watchHeartbeatMs` so proxies do not time them out.
 *
 * Event data is JSON: `{ "key", "context", "values": [...], "valuesOmitted" }` (values as in list pages).
 */
import type { ChangeEvent } from "../kv/backend.ts";
import { type App, backendOf, begin, type Deps } from "./_deps.ts";
import { invalid, overLimit } from "./errors.ts";
import { checkKey } from "./_input.ts";
import { LIMITS } from "./limits.ts";
import { token, toWire } from "./_values.ts";

const encoder = new TextEncoder();

function frame(e: ChangeEvent): Uint8Array {
  const data = { key: e.key, context: token(e.context), values: e.values.map(toWire), valuesOmitted: e.valuesOmitted };
  return encoder.encode(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`);
}

export function registerWatchRoute(app: App, deps: Deps): void {
  let open = 0;
  app.get("/v1/watch", (c) => {
    begin(c, deps, "watch", "read");
    const backend = backendOf(deps);
    const rawPrefix = c.req.query("prefix");
    const prefix = rawPrefix === undefined || rawPrefix === "" ? "" : checkKey(rawPrefix, "prefix");
    const after = c.req.header("last-event-id") || c.req.query("after") || null;
    if (after !== null && !backend.isEventId(after)) {
      throw invalid(`Invalid event id: ${after.slice(0, 64)} (pass back an id this node sent)`, {
        field: "Last-Event-ID",
      });
    }
    if (open >= LIMITS.watchStreamsMax) {
      throw overLimit("watchStreamsMax", LIMITS.watchStreamsMax, open + 1, "Watch streams");
    }
    // A client that goes away cancels the body stream (every adapter does that), which ends the watch. The
    // request's own signal is not used: Deno aborts it after every successful response, with a warning.
    const abort = new AbortController();
    const events = backend.watch({ prefix, after, signal: abort.signal })[Symbol.asyncIterator]();
    open++;
    let heartbeat: ReturnType<typeof deps.clock.setInterval> | null = null;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      open--;
      if (heartbeat !== null) deps.clock.clearInterval(heartbeat);
      abort.abort();
    };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode("retry: 1000\n\n"));
        heartbeat = deps.clock.setInterval(() => {
          try {
            controller.enqueue(encoder.encode(": ping\n\n"));
          } catch {
            finish();
          }
        }, LIMITS.watchHeartbeatMs);
      },
      async pull(controller) {
        try {
          const next = await events.next();
          if (next.done) {
            finish();
            controller.close();
          } else controller.enqueue(frame(next.value));
        } catch (e) {
          finish();
          controller.error(e);
        }
      },
      cancel() {
        finish();
      },
    });
    return new Response(body, {
      status: 200,
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
      },
    });
  });
}
