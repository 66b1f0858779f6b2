/**
 * `POST /v1/batch`: several gets, puts and deletes in one round trip. The whole body is checked first (shape,
 * keys, sizes, levels, contexts, scopes), so a malformed batch is refused as a whole with nothing applied;
 * then the ops run in order and each gets its own result with the status the single request would have had.
 * A batch is not a transaction (Dynamo keys are independent): one op failing does not undo or stop others.
 *
 * Body: `{ "ops": [ { "op": "get" | "put" | "delete", "key", ...fields } ], "consistency"? }`; put takes `value`,
 * `encoding` (`utf8` default, or `base64`), `contentType`, `context`, `ifNoneMatch`, `strict`, `ttl`; delete
 * takes `context`, `strict`; every op may take its own `consistency`.
 */
import { type ConsistencyLevel, levelToString } from "../core/quorum.ts";
import { MeshkvError } from "../errors.ts";
import type { BatchOp, BatchResult } from "../kv/backend.ts";
import { type App, backendOf, begin, type Deps } from "./_deps.ts";
import { errorResponseParts, invalid, overLimit } from "./errors.ts";
import { checkKey, contentTypeFrom, contextFrom, levelFromJson, parseJson, readBody, ttlFrom } from "./_input.ts";
import { DEFAULT_CONTENT_TYPE, readJson } from "./kv_routes.ts";
import { DATA_LIMITS } from "../kv/limits.ts";
import { LIMITS } from "./limits.ts";
import { bytesFromJson, token } from "./_values.ts";

const OP_FIELDS: Record<string, ReadonlySet<string>> = {
  get: new Set(["op", "key", "consistency"]),
  put: new Set([
    "op",
    "key",
    "value",
    "encoding",
    "contentType",
    "context",
    "ifNoneMatch",
    "strict",
    "ttl",
    "consistency",
  ]),
  delete: new Set(["op", "key", "context", "strict", "consistency"]),
};

function bool(value: unknown, field: string, at: number): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") {
    throw invalid(`Invalid ops[${at}].${field}: expected true or false`, { index: at, field });
  }
  return value;
}

function string(value: unknown, field: string, at: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalid(`Invalid ops[${at}].${field}: expected a string`, { index: at, field });
  return value;
}

/** Checks one op of the body and turns it into a backend op. */
function parseOp(raw: unknown, at: number, batchLevel: ConsistencyLevel | null): BatchOp {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw invalid(`Invalid ops[${at}]: expected an object`, { index: at });
  }
  const o = raw as Record<string, unknown>;
  const fields = OP_FIELDS[String(o.op)];
  if (!fields) throw invalid(`Invalid ops[${at}].op: ${String(o.op)} (get, put or delete)`, { index: at, field: "op" });
  const unknown = Object.keys(o).find((k) => !fields.has(k));
  if (unknown !== undefined) {
    throw invalid(`Invalid ops[${at}]: unknown field ${unknown}`, { index: at, field: unknown });
  }
  const key = checkKey(o.key, `ops[${at}].key`);
  const consistency = levelFromJson(o.consistency) ?? batchLevel;
  if (o.op === "get") return { type: "get", key, options: { consistency } };
  const context = contextFrom(string(o.context, "context", at));
  const strict = bool(o.strict, "strict", at);
  if (o.op === "delete") {
    return { type: "delete", key, options: { context: o.context === undefined ? null : context, strict, consistency } };
  }
  const data = bytesFromJson(o.value, o.encoding, `ops[${at}].value`);
  if (data.length > DATA_LIMITS.valueBytesMax) {
    throw overLimit("valueBytesMax", DATA_LIMITS.valueBytesMax, data.length, `ops[${at}].value`);
  }
  const fallback = o.encoding === "base64" ? DEFAULT_CONTENT_TYPE : "text/plain; charset=utf-8";
  const contentType = contentTypeFrom(string(o.contentType, "contentType", at), fallback);
  const options = {
    context,
    ifNoneMatch: bool(o.ifNoneMatch, "ifNoneMatch", at),
    strict,
    consistency,
    ttlMs: ttlFrom(o.ttl),
  };
  return { type: "put", key, value: { contentType, data }, options };
}

/** The JSON result of one op, shaped like the single request's answer. */
function resultJson(op: BatchOp, r: BatchResult): Record<string, unknown> {
  if (!r.ok) {
    const { status, body } = errorResponseParts(r.error);
    return { status, key: op.key, ...body };
  }
  if (r.type === "get") {
    const read = r.result;
    if (read.values.length === 0) {
      const missing = new MeshkvError("KEY_NOT_FOUND", `No value for key: ${op.key}`, { details: { key: op.key } });
      const { status, body } = errorResponseParts(missing);
      return { status, key: op.key, context: token(read.context), ...body };
    }
    return { status: read.values.length > 1 ? 300 : 200, ...readJson(op.key, read) };
  }
  const w = r.result;
  const status = r.type === "put" && w.created ? 201 : 204;
  return { status, key: op.key, context: token(w.context), siblings: w.siblings };
}

export function registerBatchRoute(app: App, deps: Deps): void {
  app.post("/v1/batch", async (c) => {
    begin(c, deps, "batch", "read");
    const body = parseJson(
      await readBody(c.req.raw, LIMITS.batchBytesMax, "batchBytesMax", "Batch body", deps.body),
      "batch JSON",
    );
    if (body === null || typeof body !== "object" || !Array.isArray((body as { ops?: unknown }).ops)) {
      throw invalid('Malformed batch: expected { "ops": [ ... ] }');
    }
    const { ops: rawOps, consistency } = body as { ops: unknown[]; consistency?: unknown };
    if (rawOps.length === 0) throw invalid("Malformed batch: ops is empty");
    if (rawOps.length > LIMITS.batchOpsMax) throw overLimit("batchOpsMax", LIMITS.batchOpsMax, rawOps.length, "Batch");
    const level = levelFromJson(consistency);
    c.set("level", level === null ? "default" : levelToString(level));
    const ops = rawOps.map((raw, at) => parseOp(raw, at, level));
    if (ops.some((op) => op.type !== "get")) begin(c, deps, "batch", "write");
    const results = await backendOf(deps).batch(ops);
    return c.json({ results: results.map((r, i) => resultJson(ops[i]!, r)) });
  });
}
