/**
 * The admin API, `/metrics` and `/health`. Admin routes need the `admin` scope; `/metrics` needs `read` (a
 * scraper should not hold write rights); `/health` is open so orchestrators can probe it, and answers 503
 * while the backend is not ready (starting, leaving, closed), so load balancers stop sending traffic.
 *
 * Join, leave and remove answer 501 `UNSUPPORTED` when the backend cannot change membership (the contract makes
 * them optional). Remove takes `{ "node": ID, "dryRun"?: boolean }` and nothing else; the backend refuses an
 * unknown node (404 `NODE_UNKNOWN`), a live one (409 `NODE_ALIVE`) and itself (400), each before changing anything.
 * Plan (`{ "change": "join"|"leave"|"remove", "node": ID }`) only previews one of those changes (`cluster/change_plan.ts`):
 * the same refusals as the change itself, plus 409 `NODE_MEMBER` for a join of a member. The dashboard's
 * `GET /ui/plan` asks through the same `planOf`, so both routes check the same way and answer the same JSON.
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
      {
        status: ready ? "ok" : "unavailable",
        ready,
        nodeId: info.nodeId,
        runtime: info.runtime,
        runtimeVersion: info.runtimeVersion,
        version: VERSION,
      },
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
    return c.json({
      ...status,
      nodeId: info.nodeId,
      version: VERSION,
      runtime: info.runtime,
      runtimeVersion: info.runtimeVersion,
    });
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
    if (!backend.join) {
      throw new MeshkvError("UNSUPPORTED", "Join is not supported: this backend cannot change membership");
    }
    const body = parseJson(
      await readBody(c.req.raw, LIMITS.adminBodyBytesMax, "adminBodyBytesMax", "Join body", deps.body),
      "join JSON",
    );
    const seeds = (body as { seeds?: unknown } | null)?.seeds;
    if (
      !Array.isArray(seeds) || seeds.length === 0 || seeds.length > LIMITS.joinSeedsMax ||
      !seeds.every((s) => typeof s === "string" && s.length > 0)
    ) {
      throw invalid(
        `Malformed join: expected { "seeds": ["host:port", ...] } with 1 to joinSeedsMax ${LIMITS.joinSeedsMax} seeds`,
      );
    }
    return c.json(await backend.join(seeds as string[]));
  });

  app.post("/v1/admin/leave", async (c) => {
    begin(c, deps, "admin", "admin");
    const backend = backendOf(deps);
    if (!backend.leave) {
      throw new MeshkvError("UNSUPPORTED", "Leave is not supported: this backend cannot change membership");
    }
    return c.json(await backend.leave());
  });

  app.post("/v1/admin/remove", async (c) => {
    begin(c, deps, "admin", "admin");
    const backend = backendOf(deps);
    if (!backend.remove) {
      throw new MeshkvError("UNSUPPORTED", "Remove is not supported: this backend cannot change membership");
    }
    const body = parseJson(
      await readBody(c.req.raw, LIMITS.adminBodyBytesMax, "adminBodyBytesMax", "Remove body", deps.body),
      "remove JSON",
    ) as Record<string, unknown> | null;
    const shape = `expected { "node": "ID", "dryRun": true|false } (dryRun optional)`;
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid(`Malformed remove: ${shape}`);
    const extra = Object.keys(body).filter((k) => k !== "node" && k !== "dryRun");
    if (extra.length > 0) throw invalid(`Malformed remove: unknown field ${JSON.stringify(extra[0])}; ${shape}`);
    const node = body["node"];
    if (typeof node !== "string" || node.length === 0 || node.length > NODE_ID_CHARS_MAX) {
      throw invalid(`Malformed remove: node must be a node id of 1 to ${NODE_ID_CHARS_MAX} characters; ${shape}`);
    }
    const dryRun = body["dryRun"] ?? false;
    if (typeof dryRun !== "boolean") throw invalid(`Malformed remove: dryRun must be true or false; ${shape}`);
    return c.json(await backend.remove(node, { dryRun }));
  });

  app.post("/v1/admin/plan", async (c) => {
    begin(c, deps, "admin", "admin");
    const body = parseJson(
      await readBody(c.req.raw, LIMITS.adminBodyBytesMax, "adminBodyBytesMax", "Plan body", deps.body),
      "plan JSON",
    );
    return c.json(await planOf(deps, body));
  });
}

/**
 * The plan a request asks for: checks `request` (the admin route's JSON body, or the dashboard's query read into
 * the same fields) and asks the backend. One function for both routes, so they refuse the same input with the
 * same codes and answer the same JSON.
 */
export async function planOf(deps: Deps, request: unknown): Promise<Record<string, unknown>> {
  const backend = backendOf(deps);
  if (!backend.plan) {
    throw new MeshkvError("UNSUPPORTED", "Plan is not supported: this backend cannot change membership");
  }
  const p = parsePlan(request);
  return await backend.plan(p.change, p.node, p.joiner);
}

/** Largest capacity a planned joiner may have (`meshkv start --capacity`'s bound). */
const PLAN_CAPACITY_MAX = 10_000;

const PLAN_CHANGES = ["join", "leave", "remove"] as const;
const PLAN_SHAPE =
  `expected { "change": "join"|"leave"|"remove", "node": "ID" } (join also takes "capacity": 1 to ${PLAN_CAPACITY_MAX}, "datacenter", "rack")`;

/** Checks a plan body: the change, the node and, for a join, the hypothetical joiner's place. */
function parsePlan(
  body: unknown,
): {
  change: (typeof PLAN_CHANGES)[number];
  node: string;
  joiner?: { capacity: number; datacenter: string; rack?: string };
} {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid(`Malformed plan: ${PLAN_SHAPE}`);
  const o = body as Record<string, unknown>;
  const change = o["change"];
  if (typeof change !== "string" || !(PLAN_CHANGES as readonly string[]).includes(change)) {
    throw invalid(`Malformed plan: change must be join, leave or remove; ${PLAN_SHAPE}`);
  }
  const allowed = change === "join" ? ["change", "node", "capacity", "datacenter", "rack"] : ["change", "node"];
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0) {
    throw invalid(`Malformed plan: unknown field ${JSON.stringify(extra[0])} for ${change}; ${PLAN_SHAPE}`);
  }
  const node = o["node"];
  if (typeof node !== "string" || node.length === 0 || node.length > NODE_ID_CHARS_MAX) {
    throw invalid(`Malformed plan: node must be a node id of 1 to ${NODE_ID_CHARS_MAX} characters; ${PLAN_SHAPE}`);
  }
  if (change !== "join") return { change: change as "leave" | "remove", node };
  const capacity = o["capacity"] ?? 1;
  if (typeof capacity !== "number" || !Number.isInteger(capacity) || capacity < 1 || capacity > PLAN_CAPACITY_MAX) {
    throw invalid(`Malformed plan: capacity must be a whole number from 1 to ${PLAN_CAPACITY_MAX}; ${PLAN_SHAPE}`);
  }
  const name = (field: string, fallback: string | undefined) => {
    const v = o[field] ?? fallback;
    if (v !== undefined && (typeof v !== "string" || v.length === 0 || v.length > NODE_ID_CHARS_MAX)) {
      throw invalid(`Malformed plan: ${field} must be a name of 1 to ${NODE_ID_CHARS_MAX} characters; ${PLAN_SHAPE}`);
    }
    return v as string | undefined;
  };
  const rack = name("rack", undefined);
  return {
    change: "join",
    node,
    joiner: { capacity, datacenter: name("datacenter", "dc1")!, ...(rack === undefined ? {} : { rack }) },
  };
}

/** Longest node id the remove route accepts (gossip's own bound on member ids). */
const NODE_ID_CHARS_MAX = 128;
