/**
 * The admin API, `/metrics` and `/health`. Admin routes need the `admin` scope; `/metrics` needs `read` (a
 * scraper should not hold write rights); `/health` is open so orchestrators can probe it, and answers 503
 * while the backend is not ready (starting, leaving, closed), so load balancers stop sending traffic.
 *
 * Join and leave answer 501 `UNSUPPORTED` when the backend cannot change membership (the contract makes them optional).
 */
import { MeshkvError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { type App, backendOf, begin, type Deps } from "./_deps.ts";
import { invalid } from "./errors.ts";
import { parseJson, readBody } from "./_input.ts";
import { LIMITS } from "./limits.ts";

export interface NodeInfo {
  nodeId: string;
  runtime: string;
  runtimeVersion: string;
}

export function registerAdminRoutes(app: App, deps: Deps, info: NodeInfo, members: (() => unknown) | undefined): void {
  app.get("/health", (c) => {
    c.set("op", "health");
    const ready = deps.backend === null || deps.backend.ready();
    return c.json(
      { status: ready ? "ok" : "unavailable", ready, nodeId: info.nodeId, runtime: info.runtime, runtimeVersion: info.runtimeVersion, version: VERSION },
      ready ? 200 : 503,
    );
  });

  app.get("/metrics", (c) => {
    begin(c, deps, "metrics", "read");
    const text = deps.metrics.render(deps.backend?.metrics?.() ?? []);
    return c.body(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  app.get("/v1/admin/status", async (c) => {
    begin(c, deps, "admin", "admin");
    const status = await backendOf(deps).status();
    return c.json({ ...status, nodeId: info.nodeId, version: VERSION, runtime: info.runtime, runtimeVersion: info.runtimeVersion });
  });

  app.get("/v1/admin/ring", async (c) => {
    begin(c, deps, "admin", "admin");
    return c.json(await backendOf(deps).ring());
  });

  app.get("/v1/admin/members", async (c) => {
    begin(c, deps, "admin", "admin");
    if (members) return c.json({ members: members() });
    return c.json({ members: await backendOf(deps).members() });
  });

  app.post("/v1/admin/join", async (c) => {
    begin(c, deps, "admin", "admin");
    const backend = backendOf(deps);
    if (!backend.join) throw new MeshkvError("UNSUPPORTED", "Join is not supported: this backend cannot change membership");
    const body = parseJson(await readBody(c.req.raw, LIMITS.adminBodyBytesMax, "adminBodyBytesMax", "Join body", deps.body), "join JSON");
    const seeds = (body as { seeds?: unknown } | null)?.seeds;
    if (!Array.isArray(seeds) || seeds.length === 0 || seeds.length > LIMITS.joinSeedsMax || !seeds.every((s) => typeof s === "string" && s.length > 0)) {
      throw invalid(`Malformed join: expected { "seeds": ["host:port", ...] } with 1 to joinSeedsMax ${LIMITS.joinSeedsMax} seeds`);
    }
    return c.json(await backend.join(seeds as string[]));
  });

  app.post("/v1/admin/leave", async (c) => {
    begin(c, deps, "admin", "admin");
    const backend = backendOf(deps);
    if (!backend.leave) throw new MeshkvError("UNSUPPORTED", "Leave is not supported: this backend cannot change membership");
    return c.json(await backend.leave());
  });
}
