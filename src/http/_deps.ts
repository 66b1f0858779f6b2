/**
 * What every route module gets from `createApp`: the backend, the token checker, the clock, the metrics, and
 * the Hono environment the routes share (the operation and level each request reports to `/metrics`).
 */
import type { Context, Hono } from "hono";
import type { Clock, ServeRequestInfo } from "../runtime/types.ts";
import type { KvBackend } from "../kv/backend.ts";
import type { Scope, TokenChecker } from "./auth.ts";
import type { Metrics } from "./metrics.ts";
import type { RequestSamples } from "./ui/samples.ts";
import { MeshkvError } from "../errors.ts";
import type { BodyTiming } from "./_input.ts";

export interface AppEnv {
  /** What the runtime adapter passes as the second argument of `app.fetch` (absent in `app.request()` tests). */
  Bindings: Partial<ServeRequestInfo>;
  Variables: {
    /** The operation name for metrics (`get`, `put`, `list`, ...). */
    op: string;
    /** The consistency level's text, or `default`. */
    level: string;
  };
}

export type AppContext = Context<AppEnv>;
export type App = Hono<AppEnv>;

export interface Deps {
  backend: KvBackend | null;
  auth: TokenChecker | null;
  clock: Clock;
  metrics: Metrics;
  /** The last minutes of traffic, per interval, for the dashboard's charts. */
  samples: RequestSamples;
  /** The clock and body limits every body read runs under. */
  body: BodyTiming;
}

/**
 * Records a finished request (`started` from `deps.clock.monotonic()`): /metrics, and the dashboard's traffic
 * samples unless it is the dashboard's own polling (`ui`), which would drown the traffic it charts. Both ways
 * in (the app's middleware and the hot routes' direct path) end every request here.
 */
export function observeRequest(deps: Deps, op: string, level: string, status: number, started: number): void {
  const ended = deps.clock.monotonic();
  deps.metrics.observe(op, level, status, (ended - started) / 1000);
  if (op !== "ui") deps.samples.record(ended, ended - started, status);
}

/** Names the request for metrics and checks its token's scope. */
export function begin(c: AppContext, deps: Deps, op: string, scope: Scope): void {
  c.set("op", op);
  deps.auth?.check(c.req.header("authorization"), scope);
}

/** The backend, or UNSUPPORTED when the node was started without one (it then serves /health only). */
export function backendOf(deps: Deps): KvBackend {
  if (!deps.backend) {
    throw new MeshkvError("UNSUPPORTED", "This node serves no data: it was started without a storage backend");
  }
  return deps.backend;
}
