/**
 * The Hono application a node serves: the client API, the admin API, metrics and health (design section 3).
 * It is built from plain values and interfaces, so tests drive it through `app.request()` without sockets,
 * and every runtime serves the same app through its adapter.
 */
import { Hono } from "hono";
import { VERSION } from "../version.ts";

export interface NodeInfo {
  nodeId: string;
  runtime: string;
  runtimeVersion: string;
}

export function createApp(info: NodeInfo): Hono {
  const app = new Hono();
  app.get("/health", (c) =>
    c.json({
      status: "ok",
      nodeId: info.nodeId,
      runtime: info.runtime,
      runtimeVersion: info.runtimeVersion,
      version: VERSION,
    }),
  );
  app.notFound((c) => c.json({ error: { code: "NOT_FOUND", message: `No route: ${c.req.method} ${c.req.path}` } }, 404));
  return app;
}
