/**
 * CORS for the `/v1` routes, so browser code on any origin can call a node (the API authenticates with bearer
 * tokens, not cookies, so `*` grants nothing a script could not do with the token anyway).
 *
 * Hono's `cors()` sets its headers on `c.res` before the route runs, which makes Hono rebuild the route's
 * response to copy them over; on Node that turns `@hono/node-server`'s lightweight response into a full WHATWG
 * `Response` whose body is then read back through a web stream (a tenth of a node's CPU in the YCSB profile).
 * This one adds the headers to the response the route returned, after it ran, and answers preflights itself.
 */
import type { MiddlewareHandler } from "hono";

export interface CorsOptions {
  allowMethods: readonly string[];
  allowHeaders: readonly string[];
  exposeHeaders: readonly string[];
  /** Seconds a browser may cache a preflight answer. */
  maxAgeSeconds: number;
}

export function corsAnyOrigin(o: CorsOptions): MiddlewareHandler {
  const methods = o.allowMethods.join(",");
  const allow = o.allowHeaders.join(",");
  const after = corsHeaders(o);
  const maxAge = String(o.maxAgeSeconds);
  return async (c, next) => {
    if (c.req.method === "OPTIONS") {
      return c.body(null, 204, {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": methods,
        "access-control-allow-headers": allow,
        "access-control-max-age": maxAge,
      });
    }
    await next();
    const h = c.res.headers;
    for (const [name, value] of Object.entries(after)) h.set(name, value);
  };
}

/** The headers `corsAnyOrigin` adds to every answer (the direct path of hot_routes.ts adds the same). */
export function corsHeaders(o: CorsOptions): Record<string, string> {
  const expose = o.exposeHeaders.join(",");
  return { "access-control-allow-origin": "*", ...(expose === "" ? {} : { "access-control-expose-headers": expose }) };
}
