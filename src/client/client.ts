/**
 * `createClient`: the meshkv SDK. One object per application, talking to any node of the cluster over the
 * client HTTP API (docs/api.md): reads and writes with causal contexts and siblings, create-only and strict
 * writes, TTLs, per-request consistency, ordered listing as an async iterator of pages, batches, a resumable
 * change feed, and `update(key, fn)`, the read-resolve-write loop that makes siblings and lost races someone
 * else's problem (Riak's "fetch, resolve, store" pattern). Values go through `_codec.ts`.
 */
import { decodeValue, decodeWire, encodeValue, keyPath, toBase64, type WireValue } from "./_codec.ts";
import { isMeshkvClientError, MeshkvClientError } from "./errors.ts";
import { type EndpointState, Transport } from "./_transport.ts";
import { openWatch, type Watch, type WatchOptions } from "./_watch.ts";

export type ConsistencyName = "one" | "quorum" | "all" | "local_one" | "local_quorum" | "each_quorum";
/** A level name, or an explicit replica count for reads (`{ r }`) or writes (`{ w }`). */
export type Consistency = ConsistencyName | { r: number } | { w: number };

export interface ClientOptions {
  /** Base URLs of nodes (`http://10.0.0.1:7400`); any node serves any request. */
  endpoints: string | readonly string[];
  /** Bearer token with the scope your calls need (read, write or admin). */
  token?: string;
  /** Default level for every request (default: the cluster's). */
  consistency?: Consistency;
  /** Deadline of each attempt, in ms (default 10,000). */
  timeoutMs?: number;
  /** Extra attempts on other endpoints for idempotent requests (default 2). */
  retries?: number;
  /** How long an endpoint that failed is skipped, in ms (default 5,000). */
  cooldownMs?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

export interface CallOptions {
  consistency?: Consistency;
  signal?: AbortSignal;
}

export interface Entry<T> {
  key: string;
  /** The value; with siblings, the first of them (check `values.length`). */
  value: T;
  /** Every live sibling: one value normally, several after concurrent writes. */
  values: T[];
  /** Pass back with the next write to supersede these values. */
  context: string | null;
  expiresAt: number | null;
}

export interface PutOptions extends CallOptions {
  /** The context of the read this write supersedes (without it, stored values stay as siblings). */
  context?: string | null;
  /** Create only: fails with KEY_EXISTS when the key has a value. */
  ifNoneMatch?: boolean;
  /** Fail with STALE_CONTEXT instead of making a sibling when the context is not current. */
  strict?: boolean;
  /** Expire the key after this many ms. */
  ttlMs?: number;
  /** Override the content type (default: JSON, superjson, or octet-stream for Uint8Array). */
  contentType?: string;
}

export interface DeleteOptions extends CallOptions {
  /** Without a context, the node deletes what it holds now. */
  context?: string | null;
  strict?: boolean;
}

export interface WriteResult {
  context: string | null;
  created: boolean;
  siblings: number;
}

export interface ListOptions extends CallOptions {
  prefix?: string;
  start?: string;
  end?: string;
  /** Page size (1 to 1000, default 100). */
  limit?: number;
  cursor?: string;
  keysOnly?: boolean;
}

export interface Page<T> {
  items: Entry<T>[];
  /** Resume here later with `list({ cursor })`; null on the last page. */
  cursor: string | null;
}

export type BatchOp =
  | { op: "get"; key: string; consistency?: Consistency }
  | {
    op: "put";
    key: string;
    value: unknown;
    context?: string | null;
    ifNoneMatch?: boolean;
    strict?: boolean;
    ttlMs?: number;
    contentType?: string;
    consistency?: Consistency;
  }
  | { op: "delete"; key: string; context?: string | null; strict?: boolean; consistency?: Consistency };

export type BatchResult<T> =
  | { ok: true; op: "get"; key: string; entry: Entry<T> | null; context: string | null }
  | { ok: true; op: "put" | "delete"; key: string; context: string | null; created: boolean; siblings: number }
  | { ok: false; op: BatchOp["op"]; key: string; error: MeshkvClientError };

export interface UpdateOptions extends CallOptions {
  /** Attempts after a lost race before giving up with STALE_CONTEXT (default 10). */
  retries?: number;
  ttlMs?: number;
}

const CONTEXT = "x-meshkv-context";
const levelText = (c: Consistency) => (typeof c === "string" ? c : "r" in c ? `r=${c.r}` : `w=${c.w}`);

/** Query text for a level; a `{ r }` level applies to reads only and `{ w }` to writes only. */
function levelQuery(level: Consistency | undefined, kind: "read" | "write"): string {
  if (level === undefined) return "";
  if (typeof level === "object" && ("r" in level ? kind !== "read" : kind !== "write")) return "";
  return `consistency=${encodeURIComponent(levelText(level))}`;
}

function checkKey(key: unknown): string {
  if (typeof key !== "string" || key.length === 0 || key === "." || key === "..") {
    throw new MeshkvClientError(
      "INVALID_ARGUMENT",
      `Invalid key: ${JSON.stringify(key)} (a non-empty string, not . or ..)`,
    );
  }
  return key;
}

export class MeshkvClient {
  readonly #t: Transport;
  readonly #level: Consistency | undefined;
  #watches = new Set<Watch<unknown>>();

  constructor(options: ClientOptions) {
    const endpoints = typeof options.endpoints === "string" ? [options.endpoints] : [...(options.endpoints ?? [])];
    if (endpoints.length === 0 || !endpoints.every((e) => /^https?:\/\/[^/]+/.test(e))) {
      throw new TypeError("endpoints must be one or more http(s) URLs");
    }
    const fetchFn = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (typeof fetchFn !== "function") throw new TypeError("No fetch available: pass options.fetch");
    this.#t = new Transport({
      endpoints,
      token: options.token ?? null,
      timeoutMs: options.timeoutMs ?? 10_000,
      retries: Math.max(0, Math.min(options.retries ?? 2, 10)),
      cooldownMs: options.cooldownMs ?? 5000,
      fetch: fetchFn,
    });
    this.#level = options.consistency;
  }

  /** Endpoints with their observed latency and health, nearest first as the client would pick them. */
  endpoints(): EndpointState[] {
    return this.#t.state();
  }

  #query(parts: string[]): string {
    const q = parts.filter((p) => p !== "").join("&");
    return q === "" ? "" : `?${q}`;
  }

  /** Reads a key, also for a 404 (whose context still matters to `update`). */
  async #read<T>(key: string, o: CallOptions): Promise<{ entry: Entry<T> | null; context: string | null }> {
    const level = levelQuery(o.consistency ?? this.#level, "read");
    const path = keyPath(checkKey(key)) + (level === "" ? "" : `?${level}`);
    const res = await this.#t.send({ path, idempotent: true, signal: o.signal }, true);
    const context = res.headers.get(CONTEXT);
    if (res.status === 404) return { entry: null, context };
    const expires = res.headers.get("x-meshkv-expires-at");
    const expiresAt = expires === null ? null : Number(expires);
    let values: T[];
    if (res.status === 300) {
      values = ((await res.json()) as { values: WireValue[] }).values.map((w) => decodeWire<T>(w));
    } else {values = [
        decodeValue<T>(
          new Uint8Array(await res.arrayBuffer()),
          res.headers.get("content-type") ?? "application/octet-stream",
        ),
      ];}
    return { entry: { key, value: values[0]!, values, context, expiresAt }, context };
  }

  /** The key's value(s) and context, or null when it has none. */
  async get<T = unknown>(key: string, options: CallOptions = {}): Promise<Entry<T> | null> {
    return (await this.#read<T>(key, options)).entry;
  }

  /** Writes a value. Without `context`, values already stored stay beside it as siblings. */
  async put(key: string, value: unknown, options: PutOptions = {}): Promise<WriteResult> {
    const { body, contentType } = encodeValue(value, options.contentType);
    const headers: Record<string, string> = { "content-type": contentType };
    if (options.context) headers[CONTEXT] = options.context;
    if (options.ifNoneMatch) headers["if-none-match"] = "*";
    const path = keyPath(checkKey(key)) + this.#query([
      levelQuery(options.consistency ?? this.#level, "write"),
      options.ttlMs !== undefined ? `ttl=${options.ttlMs}` : "",
      options.strict ? "strict=true" : "",
    ]);
    const res = await this.#t.send({ method: "PUT", path, body, headers, idempotent: false, signal: options.signal });
    return {
      context: res.headers.get(CONTEXT),
      created: res.status === 201,
      siblings: Number(res.headers.get("x-meshkv-siblings") ?? 1),
    };
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<WriteResult> {
    const headers: Record<string, string> = {};
    if (options.context) headers[CONTEXT] = options.context;
    const path = keyPath(checkKey(key)) +
      this.#query([levelQuery(options.consistency ?? this.#level, "write"), options.strict ? "strict=true" : ""]);
    const res = await this.#t.send({ method: "DELETE", path, headers, idempotent: false, signal: options.signal });
    return {
      context: res.headers.get(CONTEXT),
      created: false,
      siblings: Number(res.headers.get("x-meshkv-siblings") ?? 0),
    };
  }

  /** Pages of keys in order, following the cursor until the range is exhausted. */
  list<T = unknown>(options: ListOptions = {}): AsyncIterable<Page<T>> {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        let cursor = options.cursor ?? null;
        do {
          const params = new URLSearchParams();
          for (const name of ["prefix", "start", "end"] as const) {
            if (options[name] !== undefined) params.set(name, options[name]!);
          }
          if (options.limit !== undefined) params.set("limit", String(options.limit));
          if (options.keysOnly) params.set("keysOnly", "true");
          if (cursor !== null) params.set("cursor", cursor);
          const level = levelQuery(options.consistency ?? self.#level, "read");
          const path = `/v1/kv?${[params.toString(), level].filter((p) => p !== "").join("&")}`;
          const res = await self.#t.send({ path, idempotent: true, signal: options.signal });
          const body = (await res.json()) as {
            items: { key: string; context?: string | null; values?: WireValue[]; expiresAt?: number | null }[];
            cursor: string | null;
          };
          cursor = body.cursor;
          const items = body.items.map((it) => {
            const values = (it.values ?? []).map((w) => decodeWire<T>(w));
            return {
              key: it.key,
              value: values[0] as T,
              values,
              context: it.context ?? null,
              expiresAt: it.expiresAt ?? null,
            };
          });
          yield { items, cursor };
        } while (cursor !== null);
      },
    };
  }

  /** Several gets, puts and deletes in one round trip; each op has its own result (not a transaction). */
  async batch<T = unknown>(ops: readonly BatchOp[], options: CallOptions = {}): Promise<BatchResult<T>[]> {
    const wire = ops.map((op) => {
      checkKey(op.key);
      const base: Record<string, unknown> = { op: op.op, key: op.key };
      if (op.consistency !== undefined) base.consistency = levelText(op.consistency);
      if (op.op === "get") return base;
      if (op.context) base.context = op.context;
      if (op.strict) base.strict = true;
      if (op.op === "delete") return base;
      const { body, contentType } = encodeValue(op.value, op.contentType);
      Object.assign(base, { value: toBase64(body), encoding: "base64", contentType });
      if (op.ifNoneMatch) base.ifNoneMatch = true;
      if (op.ttlMs !== undefined) base.ttl = op.ttlMs;
      return base;
    });
    const level = options.consistency ?? this.#level;
    const payload = JSON.stringify(
      level === undefined || typeof level === "object" ? { ops: wire } : { ops: wire, consistency: level },
    );
    const res = await this.#t.send({
      method: "POST",
      path: "/v1/batch",
      body: payload,
      headers: { "content-type": "application/json" },
      idempotent: ops.every((o) => o.op === "get"),
      signal: options.signal,
    });
    const { results } = (await res.json()) as { results: Record<string, unknown>[] };
    return results.map((r, i) => batchResult<T>(ops[i]!, r));
  }

  /**
   * Reads the key, calls `fn` with its live values (empty when absent; several when there are siblings),
   * and writes the result with the read's context as a strict write. When another writer got there first it
   * reads and calls `fn` again, at most `retries` times, so no update is lost. Network failures of the
   * write are not retried (the write may have landed); they reach the caller.
   */
  async update<T>(
    key: string,
    fn: (values: T[], entry: Entry<T> | null) => T | Promise<T>,
    options: UpdateOptions = {},
  ): Promise<WriteResult & { value: T }> {
    const retries = Math.max(0, Math.min(options.retries ?? 10, 100));
    for (let attempt = 0;; attempt++) {
      const { entry, context } = await this.#read<T>(key, options);
      const value = await fn(entry?.values ?? [], entry);
      try {
        const put: PutOptions = { context, strict: true };
        if (options.consistency !== undefined) put.consistency = options.consistency;
        if (options.signal !== undefined) put.signal = options.signal;
        if (options.ttlMs !== undefined) put.ttlMs = options.ttlMs;
        return { ...(await this.put(key, value, put)), value };
      } catch (e) {
        if (!isMeshkvClientError(e, "STALE_CONTEXT") || attempt >= retries) throw e;
      }
      // Back off with jitter so racing writers spread out instead of colliding again.
      const ms = Math.random() * Math.min(200, 5 * 2 ** attempt);
      await new Promise((r) => setTimeout(r, ms));
    }
  }

  /** Changes under `prefix` as an async iterator, resuming across reconnects; `close()` or the signal ends it. */
  watch<T = unknown>(options: WatchOptions = {}): Watch<T> {
    const w = openWatch<T>(this.#t, options);
    this.#watches.add(w as Watch<unknown>);
    const close = w.close;
    w.close = () => {
      this.#watches.delete(w as Watch<unknown>);
      close();
    };
    return w;
  }

  /** Cluster status (admin scope). */
  async status(options: CallOptions = {}): Promise<Record<string, unknown>> {
    return (await (await this.#t.send({ path: "/v1/admin/status", idempotent: true, signal: options.signal }))
      .json()) as Record<string, unknown>;
  }

  /**
   * Takes a node that is gone for good out of the cluster (admin scope): `POST /v1/admin/remove`. With `dryRun`
   * it only returns the plan (partitions that move, where to, keys and bytes). The node must be down.
   */
  async removeNode(
    node: string,
    options: { dryRun?: boolean; signal?: AbortSignal } = {},
  ): Promise<Record<string, unknown>> {
    const body = JSON.stringify({ node, dryRun: options.dryRun === true });
    const res = await this.#t.send({
      method: "POST",
      path: "/v1/admin/remove",
      body,
      headers: { "content-type": "application/json" },
      idempotent: options.dryRun === true,
      signal: options.signal,
    });
    return (await res.json()) as Record<string, unknown>;
  }

  /** Every partition with its owner and replicas (admin scope): `GET /v1/admin/ring`. */
  async ring(options: CallOptions = {}): Promise<Record<string, unknown>> {
    return (await (await this.#t.send({ path: "/v1/admin/ring", idempotent: true, signal: options.signal }))
      .json()) as Record<string, unknown>;
  }

  /**
   * Previews a membership change (admin scope): `POST /v1/admin/plan`. Which partitions would move from where
   * to where, and how many keys and bytes; nothing changes. `joiner` places a node that is not a member yet.
   */
  async plan(
    change: "join" | "leave" | "remove",
    node: string,
    options: { joiner?: { capacity?: number; datacenter?: string; rack?: string }; signal?: AbortSignal } = {},
  ): Promise<Record<string, unknown>> {
    const body = JSON.stringify({ change, node, ...options.joiner });
    return (await (await this.#t.send({
      method: "POST",
      path: "/v1/admin/plan",
      body,
      headers: { "content-type": "application/json" },
      idempotent: true,
      signal: options.signal,
    })).json()) as Record<string, unknown>;
  }

  /** Asks the node to leave the cluster (admin scope): it hands its data off first. `POST /v1/admin/leave`. */
  async leave(options: CallOptions = {}): Promise<Record<string, unknown>> {
    return (await (await this.#t.send({
      method: "POST",
      path: "/v1/admin/leave",
      idempotent: false,
      signal: options.signal,
    })).json()) as Record<string, unknown>;
  }

  /** Ends every open watch. */
  close(): void {
    for (const w of [...this.#watches]) w.close();
  }
}

function batchResult<T>(op: BatchOp, r: Record<string, unknown>): BatchResult<T> {
  const status = Number(r.status);
  const context = (r.context as string | null | undefined) ?? null;
  if (op.op === "get" && status === 404) return { ok: true, op: "get", key: op.key, entry: null, context };
  if (r.error) {
    const e = r.error as { code: string; message: string } & Record<string, unknown>;
    const { code, message, ...details } = e;
    return { ok: false, op: op.op, key: op.key, error: new MeshkvClientError(code, message, status, details) };
  }
  if (op.op === "get") {
    const values = (r.values as WireValue[]).map((w) => decodeWire<T>(w));
    const entry = {
      key: op.key,
      value: values[0]!,
      values,
      context,
      expiresAt: (r.expiresAt as number | null) ?? null,
    };
    return { ok: true, op: "get", key: op.key, entry, context };
  }
  return { ok: true, op: op.op, key: op.key, context, created: status === 201, siblings: Number(r.siblings ?? 0) };
}

export function createClient(options: ClientOptions): MeshkvClient {
  return new MeshkvClient(options);
}
