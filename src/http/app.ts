/**
 * The Hono application a node serves: the client API, the admin API, the dashboard, metrics and health (design
 * section 3).
 * It is built from plain values and interfaces, so tests drive it through `app.request()` without sockets,
 * and every runtime serves the same app through its adapter.
 *
 * The data routes call a `KvBackend` (the contract in `src/kv/backend.ts`; `meshkv start` hands it the cluster
 * node's backend). Errors become JSON through the one status table in `errors.ts`; time comes from the injected
 * `Clock` (request latencies, watch heartbeats), never from ambient globals, so the simulation controls it.
 * Without a backend the node serves `/health` and `/metrics`, and the data routes answer 501.
 *
 * `fetchHandler(app)` is what a server serves: the app's `fetch`, optionally carrying the direct path of the hot
 * routes (hot_routes.ts) for adapters that can take requests without building a `Request` (Node).
 */
import { Hono } from "hono";
import type { Clock, FetchHandler } from "../runtime/types.ts";
import { type NodeInfo, registerAdminRoutes } from "./admin_routes.ts";
import { type AuthConfig, TokenChecker } from "./auth.ts";
import type { KvBackend } from "../kv/backend.ts";
import { registerBatchRoute } from "./batch_route.ts";
import { type AppEnv, type Deps, observeRequest } from "./_deps.ts";
import { corsAnyOrigin, corsHeaders } from "./cors.ts";
import { asMeshkvError, errorResponseParts } from "./errors.ts";
import { announcesBody, BODY_READ } from "./_input.ts";
import { LIMITS } from "./limits.ts";
import { checkRawTarget, unverifiablePath } from "./raw_target.ts";
import { createHotRoutes, type Finish } from "./hot_routes.ts";
import { HEADERS, type KeyAnswer, registerKvRoutes } from "./kv_routes.ts";
import { Metrics } from "./metrics.ts";
import { registerWatchRoute } from "./watch_route.ts";
import type { PeerFetch } from "./ui/peers.ts";
import { registerUiRoutes } from "./ui/routes.tsx";
import { RequestSamples } from "./ui/samples.ts";

export type { NodeInfo } from "./admin_routes.ts";

export interface AppOptions extends NodeInfo {
  /** Serves the data and admin routes; absent or null: only `/health` and `/metrics`. */
  backend?: KvBackend | null;
  /** Bearer tokens; null or absent: no authentication (the CLI then listens on loopback only). */
  auth?: AuthConfig | null;
  /**
   * Time source for latencies and heartbeats: the runtime's (`detectRuntime().clock`) or a manual one in tests.
   * Required because src/http may not import a runtime adapter (DESIGN.md section 1).
   */
  clock: Clock;
  /** Member list for `/v1/admin/members` from the mesh, when it runs; otherwise the backend's. */
  members?: () => unknown;
  /** Body speed limits other than LIMITS' defaults (a tuning knob: `meshkv start --body-deadline-ms` ...). */
  bodyLimits?: Partial<Record<"bodyDeadlineMs" | "bodyRateBytesPerSecMin" | "bodyRateGraceMs", number>>;
  /** How the dashboard asks the other members for their traffic (default: `fetch`); null: it charts this node only. */
  peerFetch?: PeerFetch | null;
  /** Called with every unexpected (non-MeshkvError) failure, which the client sees as 500 INTERNAL. */
  onError?: (error: unknown) => void;
}

const HOT = new WeakMap<Hono<AppEnv>, NonNullable<FetchHandler["hot"]>>();

/**
 * The app's `fetch` for a server; with `hot`, carrying the direct path of its hot routes (see
 * `FetchHandler.hot`; every runtime's adapter takes it). `meshkv start` asks for it unless MESHKV_HTTP=hono
 * (on this machine 15-30% less CPU per GET on every runtime, up to 15% per PUT: docs/bench.md).
 */
export function fetchHandler(app: Hono<AppEnv>, options: { hot?: boolean } = {}): FetchHandler {
  const fetch: FetchHandler = (request, info) => app.fetch(request, info ?? {});
  const hot = HOT.get(app);
  if (options.hot === true && hot !== undefined) fetch.hot = hot;
  return fetch;
}

const CORS = {
  allowMethods: ["GET", "PUT", "DELETE", "POST", "OPTIONS"],
  allowHeaders: ["Authorization", "Content-Type", "If-None-Match", "Last-Event-ID", HEADERS.context],
  exposeHeaders: [HEADERS.context, HEADERS.siblings, HEADERS.expiresAt],
  maxAgeSeconds: 600,
};

export function createApp(options: AppOptions): Hono<AppEnv> {
  const deps: Deps = {
    backend: options.backend ?? null,
    auth: options.auth ? new TokenChecker(options.auth) : null,
    clock: options.clock,
    metrics: new Metrics(),
    samples: new RequestSamples(),
    body: {
      clock: options.clock,
      bodyDeadlineMs: options.bodyLimits?.bodyDeadlineMs ?? LIMITS.bodyDeadlineMs,
      bodyRateBytesPerSecMin: options.bodyLimits?.bodyRateBytesPerSecMin ?? LIMITS.bodyRateBytesPerSecMin,
      bodyRateGraceMs: options.bodyLimits?.bodyRateGraceMs ?? LIMITS.bodyRateGraceMs,
    },
  };
  const app = new Hono<AppEnv>();

  app.use("*", async (c, next) => {
    const started = deps.clock.monotonic();
    c.set("op", "other");
    c.set("level", "default");
    await next();
    observeRequest(deps, c.get("op"), c.get("level"), c.res.status, started);
  });
  // A body the route did not read to its end (none read it, or it was refused as too large or too slow) is
  // still on the wire: the connection closes after the answer instead of reading it for reuse.
  app.use("*", async (c, next) => {
    await next();
    if (!announcesBody(c.req.raw) || BODY_READ.has(c.req.raw)) return;
    try {
      c.res.headers.set("connection", "close");
    } catch {
      const res = new Response(c.res.body, c.res); // a response with immutable headers
      res.headers.set("connection", "close");
      c.res = res;
    }
  });
  // Before any route: a raw path that URL parsing would rewrite is refused, so no route acts on another key.
  app.use("*", async (c, next) => {
    const raw = c.env?.rawTarget;
    if (typeof raw === "string") checkRawTarget(raw, new URL(c.req.url).pathname);
    else if (typeof c.env?.rawTargetUnverifiable === "string") throw unverifiablePath(c.env.rawTargetUnverifiable);
    await next();
  });
  app.use("/v1/*", corsAnyOrigin(CORS));

  registerAdminRoutes(app, deps, options, options.members);
  registerKvRoutes(app, deps);
  registerBatchRoute(app, deps);
  registerWatchRoute(app, deps);
  registerUiRoutes(app, deps, options);

  app.notFound((c) =>
    c.json({ error: { code: "NOT_FOUND", message: `No route: ${c.req.method} ${c.req.path}` } }, 404)
  );
  const finish: Finish = {
    error(err, op) {
      const e = asMeshkvError(err);
      if (e.code === "INTERNAL") options.onError?.(err);
      if (e.code === "QUORUM_UNMET") deps.metrics.quorumFailure(op);
      const { status, body } = errorResponseParts(e);
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (status === 401) headers["www-authenticate"] = 'Bearer realm="meshkv"';
      // The rest of a too-slow body is still on its way (or never comes): the connection cannot carry another request.
      if (e.code === "BODY_TIMEOUT") headers.connection = "close";
      return { status, headers, body: JSON.stringify(body) };
    },
    cors: corsHeaders(CORS),
  };
  app.onError((err, c) => {
    const a: KeyAnswer = finish.error(err, c.get("op") ?? "other");
    return c.body(a.body as string, a.status as 400, a.headers);
  });
  HOT.set(app, createHotRoutes(deps, finish));
  return app;
}
