/**
 * The direct path of the hot routes (`GET`, `PUT` and `DELETE /v1/kv/{key}`): the same answers as the Hono app
 * gives them, for a runtime adapter that hands over a `PlainRequest`, skipping the router, the middleware
 * chain and Hono's context (and on Node `@hono/node-server`'s request and response objects: the adapter
 * hands over the `IncomingMessage` and writes one `writeHead` + `end`). `meshkv start` asks for it on every
 * runtime (`fetchHandler(app, { hot: true })`; MESHKV_HTTP=hono turns it off): it took 15-30% of a GET's CPU
 * and up to 15% of a PUT's on this machine (docs/bench.md, "The direct path again").
 *
 * Same behaviour by construction, not by copy: each route is the function the Hono route calls (kv_routes.ts),
 * and what app.ts's middleware does around it is done here in the same order, through the same functions
 * (the error answer, CORS headers, `Connection: close` for an unread body, metrics and the dashboard's traffic
 * samples). A request this path is
 * not sure to answer exactly like the app (another route or method, a raw target the app would refuse or
 * that URL parsing would change, an empty key) is left to the app: the handler returns null for it.
 */
import { getQueryParam } from "hono/utils/url";
import type { PlainRequest, PlainResponse } from "../runtime/types.ts";
import { type Deps, observeRequest } from "./_deps.ts";
import { announcesBody, BODY_READ, type BodySource } from "./_input.ts";
import { deleteKey, getKey, KEY_PREFIX, type KeyAnswer, type KeyRequest, putKey } from "./kv_routes.ts";
import { checkRawTarget, plainPath } from "./raw_target.ts";

/** How app.ts ends every request; the direct path ends its own the same way. */
export interface Finish {
  /** The answer to a failure (app.onError). */
  error(err: unknown, op: string): KeyAnswer;
  /** CORS headers of `/v1` answers (set after the route, as the cors middleware does). */
  cors: Record<string, string>;
}

const ROUTES: Record<string, (deps: Deps, r: KeyRequest) => Promise<KeyAnswer>> = {
  GET: getKey,
  PUT: putKey,
  DELETE: deleteKey,
};

/** A `Request`'s body side over a plain request, for `readBody` (only Content-Length bodies come this way). */
function bodySource(req: PlainRequest): BodySource {
  return {
    headers: { get: (name) => req.header(name) ?? null, has: (name) => req.header(name) !== undefined },
    body: null,
    arrayBuffer: async () => {
      const b = await req.body();
      return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
        ? (b.buffer as ArrayBuffer)
        : (new Uint8Array(b).buffer as ArrayBuffer); // a copy: a Buffer's `slice()` is a view of the same memory
    },
  };
}

export function createHotRoutes(deps: Deps, finish: Finish): (req: PlainRequest) => Promise<PlainResponse> | null {
  return (req) => {
    const route = ROUTES[req.method];
    if (route === undefined || !req.target.startsWith(KEY_PREFIX) || req.target.length === KEY_PREFIX.length) {
      return null;
    }
    if (req.target.charCodeAt(KEY_PREFIX.length) === 63 /* ? */ || req.header("transfer-encoding") !== undefined) {
      return null;
    }
    let path = plainPath(req.target);
    if (path === null) {
      try {
        path = new URL(req.url).pathname;
        checkRawTarget(req.target, path);
      } catch {
        return null; // the app refuses it, with its own answer
      }
    }
    return run(deps, finish, route, req, path);
  };
}

async function run(
  deps: Deps,
  finish: Finish,
  route: (deps: Deps, r: KeyRequest) => Promise<KeyAnswer>,
  req: PlainRequest,
  path: string,
): Promise<PlainResponse> {
  const started = deps.clock.monotonic();
  let op = "other";
  let level = "default";
  const body = bodySource(req);
  const url = req.url;
  let answer: KeyAnswer;
  try {
    answer = await route(deps, {
      url,
      path,
      query: (name) => getQueryParam(url, name) as string | undefined,
      header: req.header,
      body,
      setOp: (o) => (op = o),
      setLevel: (l) => (level = l),
    });
  } catch (err) {
    answer = finish.error(err, op);
  }
  const headers = answer.headers;
  Object.assign(headers, finish.cors);
  if (announcesBody(body) && !BODY_READ.has(body)) headers.connection = "close";
  observeRequest(deps, op, level, answer.status, started);
  return answer;
}
