/**
 * The key routes of the client API (DESIGN.md section 3): `GET`, `PUT` and `DELETE /v1/kv/{key}` and the
 * ordered listing `GET /v1/kv`. A single value is sent as its raw bytes with its content type; several
 * siblings as `300 Multiple Choices` with all of them in JSON, as Riak's HTTP API does. Every read and write
 * answers with `X-Meshkv-Context`, the opaque causal context the next write carries to supersede it.
 *
 * The three single-key routes are plain functions of a `KeyRequest` (`getKey`, `putKey`, `deleteKey`): the Hono
 * routes call them, and so does the direct path of hot_routes.ts, which the Node adapter takes without building
 * a `Request`; one function per route keeps the two paths answering alike.
 */
import { type ConsistencyLevel, levelToString } from "../core/quorum.ts";
import { MeshkvError } from "../errors.ts";
import type { ReadResult } from "../kv/backend.ts";
import { type App, type AppContext, backendOf, begin, type Deps } from "./_deps.ts";
import { errorResponseParts, invalid } from "./errors.ts";
import {
  type BodySource,
  checkKey,
  contentTypeFrom,
  contextFrom,
  decodeCursor,
  encodeCursor,
  flag,
  keyFromPath,
  levelFrom,
  pageLimitFrom,
  readBody,
  ttlFrom,
} from "./_input.ts";
import type { Scope } from "./auth.ts";
import { DATA_LIMITS } from "../kv/limits.ts";
import { token, toWire } from "./_values.ts";

export const HEADERS = {
  context: "X-Meshkv-Context",
  siblings: "X-Meshkv-Siblings",
  expiresAt: "X-Meshkv-Expires-At",
} as const;

export const KEY_PREFIX = "/v1/kv/";
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

function setLevel(c: AppContext, level: ConsistencyLevel | null): ConsistencyLevel | null {
  c.set("level", level === null ? "default" : levelToString(level));
  return level;
}

const query = (c: AppContext) => (name: string) => c.req.query(name);

/** The JSON form of a read: key, context, every live sibling, expiry. */
export function readJson(key: string, r: ReadResult): Record<string, unknown> {
  return { key, context: token(r.context), values: r.values.map(toWire), expiresAt: r.expiresAt };
}

/** What a single-key route reads of its request: Hono's context, or an adapter's plain request. */
export interface KeyRequest {
  /** The request's URL (`Request.url`). */
  url: string;
  /** Its path, still percent-encoded, when the adapter has it already (else the route parses `url`). */
  path?: string;
  query(name: string): string | undefined;
  header(name: string): string | undefined;
  /** What `readBody` reads the value from. */
  body: BodySource;
  /** Names the operation and the level for /metrics (`op` and `level` of AppEnv). */
  setOp(op: string): void;
  setLevel(level: string): void;
}

/** A route's answer before it becomes a `Response` (Hono) or a plain response (the direct path). */
export interface KeyAnswer {
  status: number;
  /** Names in lower case. */
  headers: Record<string, string>;
  body: Uint8Array | string | null;
}

const H = { context: "x-meshkv-context", siblings: "x-meshkv-siblings", expiresAt: "x-meshkv-expires-at" } as const;

function start(deps: Deps, r: KeyRequest, op: string, scope: Scope): void {
  r.setOp(op);
  deps.auth?.check(r.header("authorization"), scope);
}

function level(r: KeyRequest, count: "r" | "w"): ConsistencyLevel | null {
  const l = levelFrom(r.query, count);
  r.setLevel(l === null ? "default" : levelToString(l));
  return l;
}

/** The 404 for an absent key, still carrying the context of a deleted one (so a write can supersede it). */
function notFoundAnswer(key: string, context: string | null): KeyAnswer {
  const { status, body } = errorResponseParts(
    new MeshkvError("KEY_NOT_FOUND", `No value for key: ${key}`, { details: { key } }),
  );
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (context !== null) headers[H.context] = context;
  return { status, headers, body: JSON.stringify(body) };
}

/** `GET /v1/kv/{key}`: the value as its raw bytes, 300 with every sibling in JSON, or 404. */
export async function getKey(deps: Deps, r: KeyRequest): Promise<KeyAnswer> {
  start(deps, r, "get", "read");
  const key = keyFromPath(r.url, KEY_PREFIX, r.path);
  const consistency = level(r, "r");
  const got = await backendOf(deps).get(key, { consistency });
  const ctx = token(got.context);
  if (got.values.length === 0) return notFoundAnswer(key, ctx);
  const headers: Record<string, string> = { [H.siblings]: String(got.values.length) };
  if (ctx !== null) headers[H.context] = ctx;
  if (got.expiresAt !== null) headers[H.expiresAt] = String(got.expiresAt);
  if (got.values.length > 1) {
    headers["content-type"] = "application/json";
    return { status: 300, headers, body: JSON.stringify(readJson(key, got)) };
  }
  const v = got.values[0]!;
  headers["content-type"] = v.contentType;
  return { status: 200, headers, body: v.data };
}

/** `PUT /v1/kv/{key}`: 201 when the key had no live value, else 204. */
export async function putKey(deps: Deps, r: KeyRequest): Promise<KeyAnswer> {
  start(deps, r, "put", "write");
  const key = keyFromPath(r.url, KEY_PREFIX, r.path);
  const consistency = level(r, "w");
  const inm = r.header("if-none-match");
  if (inm !== undefined && inm.trim() !== "*") {
    throw invalid(`Invalid If-None-Match: ${inm} (only * is supported)`, { field: "If-None-Match" });
  }
  const options = {
    context: contextFrom(r.header(H.context)),
    ifNoneMatch: inm !== undefined,
    strict: flag(r.query("strict"), "strict"),
    consistency,
    ttlMs: ttlFrom(r.query("ttl")),
  };
  const contentType = contentTypeFrom(r.header("content-type"), DEFAULT_CONTENT_TYPE);
  const data = await readBody(r.body, DATA_LIMITS.valueBytesMax, "valueBytesMax", "Value", deps.body);
  const w = await backendOf(deps).put(key, { contentType, data }, options);
  const headers: Record<string, string> = { [H.siblings]: String(w.siblings) };
  const ctx = token(w.context);
  if (ctx !== null) headers[H.context] = ctx;
  return { status: w.created ? 201 : 204, headers, body: null };
}

/** `DELETE /v1/kv/{key}`: 204, with the tombstone's context. */
export async function deleteKey(deps: Deps, r: KeyRequest): Promise<KeyAnswer> {
  start(deps, r, "delete", "write");
  const key = keyFromPath(r.url, KEY_PREFIX, r.path);
  const consistency = level(r, "w");
  const header = r.header(H.context);
  const d = await backendOf(deps).delete(key, {
    context: header === undefined || header === "" ? null : contextFrom(header),
    strict: flag(r.query("strict"), "strict"),
    consistency,
  });
  const headers: Record<string, string> = { [H.siblings]: String(d.siblings) };
  const ctx = token(d.context);
  if (ctx !== null) headers[H.context] = ctx;
  return { status: 204, headers, body: null };
}

/** A Hono context as a `KeyRequest`. */
function fromContext(c: AppContext): KeyRequest {
  return {
    url: c.req.url,
    query: (name) => c.req.query(name),
    header: (name) => c.req.header(name),
    body: c.req.raw,
    setOp: (op) => c.set("op", op),
    setLevel: (l) => c.set("level", l),
  };
}

function toResponse(a: KeyAnswer): Response {
  return new Response(a.body as Uint8Array<ArrayBuffer> | string | null, { status: a.status, headers: a.headers });
}

export function registerKvRoutes(app: App, deps: Deps): void {
  // Listing first: the key routes' wildcard would also match `/v1/kv` itself.
  app.get("/v1/kv", async (c) => {
    begin(c, deps, "list", "read");
    const consistency = setLevel(c, levelFrom(query(c), "r"));
    const optionalKey = (name: string) => {
      const v = c.req.query(name);
      return v === undefined || v === "" ? null : checkKey(v, name);
    };
    const keysOnly = flag(c.req.query("keysOnly"), "keysOnly");
    const page = await backendOf(deps).list({
      prefix: optionalKey("prefix") ?? "",
      start: optionalKey("start"),
      end: optionalKey("end"),
      after: decodeCursor(c.req.query("cursor")),
      limit: pageLimitFrom(c.req.query("limit")),
      keysOnly,
      consistency,
    });
    const items = page.items.map((it) =>
      keysOnly
        ? { key: it.key }
        : { key: it.key, context: token(it.context), values: it.values.map(toWire), expiresAt: it.expiresAt }
    );
    return c.json({ items, cursor: page.next === null ? null : encodeCursor(page.next) });
  });

  app.get("/v1/kv/*", async (c) => toResponse(await getKey(deps, fromContext(c))));
  app.put("/v1/kv/*", async (c) => toResponse(await putKey(deps, fromContext(c))));
  app.delete("/v1/kv/*", async (c) => toResponse(await deleteKey(deps, fromContext(c))));
}
