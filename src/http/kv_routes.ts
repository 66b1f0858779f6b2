/**
 * The key routes of the client API (DESIGN.md section 3): `GET`, `PUT` and `DELETE /v1/kv/{key}` and the
 * ordered listing `GET /v1/kv`. A single value is sent as its raw bytes with its content type; several
 * siblings as `300 Multiple Choices` with all of them in JSON, as Riak's HTTP API does. Every read and write
 * answers with `X-Meshkv-Context`, the opaque causal context the next write carries to supersede it.
 */
import { type ConsistencyLevel, levelToString } from "../core/quorum.ts";
import { MeshkvError } from "../errors.ts";
import type { ReadResult } from "../kv/backend.ts";
import { type App, type AppContext, backendOf, begin, type Deps } from "./_deps.ts";
import { errorResponseParts, invalid } from "./errors.ts";
import {
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
import { DATA_LIMITS } from "../kv/limits.ts";
import { token, toWire } from "./_values.ts";

export const HEADERS = {
  context: "X-Meshkv-Context",
  siblings: "X-Meshkv-Siblings",
  expiresAt: "X-Meshkv-Expires-At",
} as const;

const KEY_PREFIX = "/v1/kv/";
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

/** The 404 for an absent key, still carrying the context of a deleted one (so a write can supersede it). */
export function notFound(key: string, context: string | null): Response {
  const { status, body } = errorResponseParts(
    new MeshkvError("KEY_NOT_FOUND", `No value for key: ${key}`, { details: { key } }),
  );
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (context !== null) headers[HEADERS.context] = context;
  return new Response(JSON.stringify(body), { status, headers });
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

  app.get("/v1/kv/*", async (c) => {
    begin(c, deps, "get", "read");
    const key = keyFromPath(c.req.url, KEY_PREFIX);
    const consistency = setLevel(c, levelFrom(query(c), "r"));
    const r = await backendOf(deps).get(key, { consistency });
    const ctx = token(r.context);
    if (r.values.length === 0) return notFound(key, ctx);
    const headers: Record<string, string> = { [HEADERS.siblings]: String(r.values.length) };
    if (ctx !== null) headers[HEADERS.context] = ctx;
    if (r.expiresAt !== null) headers[HEADERS.expiresAt] = String(r.expiresAt);
    if (r.values.length > 1) {
      return new Response(JSON.stringify(readJson(key, r)), {
        status: 300,
        headers: { ...headers, "content-type": "application/json" },
      });
    }
    const v = r.values[0]!;
    return new Response(v.data as Uint8Array<ArrayBuffer>, {
      status: 200,
      headers: { ...headers, "content-type": v.contentType },
    });
  });

  app.put("/v1/kv/*", async (c) => {
    begin(c, deps, "put", "write");
    const key = keyFromPath(c.req.url, KEY_PREFIX);
    const consistency = setLevel(c, levelFrom(query(c), "w"));
    const inm = c.req.header("if-none-match");
    if (inm !== undefined && inm.trim() !== "*") {
      throw invalid(`Invalid If-None-Match: ${inm} (only * is supported)`, { field: "If-None-Match" });
    }
    const options = {
      context: contextFrom(c.req.header(HEADERS.context)),
      ifNoneMatch: inm !== undefined,
      strict: flag(c.req.query("strict"), "strict"),
      consistency,
      ttlMs: ttlFrom(c.req.query("ttl")),
    };
    const contentType = contentTypeFrom(c.req.header("content-type"), DEFAULT_CONTENT_TYPE);
    const data = await readBody(c.req.raw, DATA_LIMITS.valueBytesMax, "valueBytesMax", "Value", deps.body);
    const r = await backendOf(deps).put(key, { contentType, data }, options);
    const headers: Record<string, string> = { [HEADERS.siblings]: String(r.siblings) };
    const ctx = token(r.context);
    if (ctx !== null) headers[HEADERS.context] = ctx;
    return new Response(null, { status: r.created ? 201 : 204, headers });
  });

  app.delete("/v1/kv/*", async (c) => {
    begin(c, deps, "delete", "write");
    const key = keyFromPath(c.req.url, KEY_PREFIX);
    const consistency = setLevel(c, levelFrom(query(c), "w"));
    const header = c.req.header(HEADERS.context);
    const r = await backendOf(deps).delete(key, {
      context: header === undefined || header === "" ? null : contextFrom(header),
      strict: flag(c.req.query("strict"), "strict"),
      consistency,
    });
    const headers: Record<string, string> = { [HEADERS.siblings]: String(r.siblings) };
    const ctx = token(r.context);
    if (ctx !== null) headers[HEADERS.context] = ctx;
    return new Response(null, { status: 204, headers });
  });
}
