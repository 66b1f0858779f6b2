/**
 * Endpoint choice and failover for the SDK. Every endpoint is a node of the same cluster, so any of them can
 * serve any request; the client prefers the nearest healthy one (lowest observed latency, a moving average of
 * response times), skips one for `cooldownMs` after a network error, a timeout or a 503, and probes them all
 * (`GET /health`) on first use and whenever every endpoint is cooling down.
 *
 * Only idempotent requests (reads, listings, watch connections) are retried on the next endpoint, at most
 * `retries` times: a write that failed without an answer may still have been applied, and replaying it with
 * the same context would turn it into its own sibling. The caller sees that failure and decides.
 */
import { errorFromBody, isRetryable, MeshkvClientError } from "./errors.ts";

export interface TransportOptions {
  endpoints: readonly string[];
  token: string | null;
  timeoutMs: number;
  retries: number;
  cooldownMs: number;
  fetch: typeof fetch;
}

export interface EndpointState {
  readonly url: string;
  /** Moving average of response times in ms, or null before the first answer. */
  readonly latencyMs: number | null;
  readonly healthy: boolean;
}

interface Endpoint {
  url: string;
  latencyMs: number | null;
  downUntil: number;
}

export interface SendOptions {
  method?: string;
  /** Path and query, starting with `/`. */
  path: string;
  body?: Uint8Array | string;
  headers?: Record<string, string>;
  idempotent: boolean;
  signal?: AbortSignal | undefined;
  /** For streams: the body is not buffered, and the timeout covers only the wait for the response headers. */
  stream?: boolean;
}

/** What `send` answers: the members of a `Response` the client reads. */
export type Reply = Pick<
  Response,
  "status" | "statusText" | "ok" | "headers" | "body" | "json" | "arrayBuffer" | "text"
>;

/**
 * A response whose body was read whole under the request's deadline. It keeps the fetch's own headers and
 * bytes rather than building a second `Response` around them, which on Node costs a `Headers` copy and a
 * stream per request (a tenth of the client's CPU per small request).
 */
class BufferedReply implements Reply {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly #bytes: ArrayBuffer | null;

  constructor(res: Response, bytes: ArrayBuffer | null) {
    this.status = res.status;
    this.statusText = res.statusText;
    this.headers = res.headers;
    this.#bytes = bytes;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** Already read: there is no stream left to cancel. */
  get body(): null {
    return null;
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(this.#bytes ?? new ArrayBuffer(0));
  }

  text(): Promise<string> {
    return Promise.resolve(this.#bytes === null ? "" : new TextDecoder().decode(this.#bytes));
  }

  async json(): Promise<any> {
    return JSON.parse(await this.text());
  }
}

/** A deadline timer's callback: one function for every request rather than a closure each. */
const abortController = (c: AbortController) => c.abort();

/** Latency smoothing weight of a new sample. */
const EWMA_WEIGHT = 0.3;
/** How long a health probe may take, in ms. */
const PROBE_TIMEOUT_MS = 2000;

export class Transport {
  readonly #o: TransportOptions;
  readonly #endpoints: Endpoint[];
  #probing: Promise<void> | null = null;
  #probed = false;

  constructor(options: TransportOptions) {
    this.#o = options;
    this.#endpoints = options.endpoints.map((url) => ({ url: url.replace(/\/+$/, ""), latencyMs: null, downUntil: 0 }));
  }

  /** Endpoints in the order the next request would try them. */
  state(): EndpointState[] {
    const now = performance.now();
    return this.#sorted().map((e) => ({ url: e.url, latencyMs: e.latencyMs, healthy: e.downUntil <= now }));
  }

  #record(e: Endpoint, ms: number): void {
    e.latencyMs = e.latencyMs === null ? ms : e.latencyMs * (1 - EWMA_WEIGHT) + ms * EWMA_WEIGHT;
    e.downUntil = 0;
  }

  #markDown(e: Endpoint): void {
    e.downUntil = performance.now() + this.#o.cooldownMs;
  }

  /** Probes every endpoint; resolves when the first one answers (the nearest), or when all have failed. */
  #probe(): Promise<void> {
    if (this.#probing) return this.#probing;
    const probes = this.#endpoints.map(async (e) => {
      const started = performance.now();
      try {
        const res = await this.#fetchOnce(e, { path: "/health", idempotent: true }, PROBE_TIMEOUT_MS);
        await res.body?.cancel();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        this.#record(e, performance.now() - started);
      } catch {
        this.#markDown(e);
        throw new Error("down");
      }
    });
    this.#probing = Promise.any(probes)
      .catch(() => {})
      .finally(() => {
        this.#probed = true;
        // Let the slower probes finish in the background; the next probe may start once they are done.
        void Promise.allSettled(probes).then(() => (this.#probing = null));
      });
    return this.#probing;
  }

  /** True when the endpoints must be probed before a request: never probed, or every one cooling down. */
  #mustProbe(): boolean {
    if (!this.#probed) return true;
    const now = performance.now();
    for (const e of this.#endpoints) if (e.downUntil <= now) return false;
    return true;
  }

  /**
   * Endpoints in the order to try: healthy ones by latency (unknown last), then cooling ones. A single
   * endpoint is its own order (the array itself, which callers only read): no copies per request.
   */
  #sorted(): Endpoint[] {
    if (this.#endpoints.length === 1) return this.#endpoints;
    const t = performance.now();
    const healthy = this.#endpoints.filter((e) => e.downUntil <= t);
    healthy.sort((a, b) => (a.latencyMs ?? Infinity) - (b.latencyMs ?? Infinity));
    const cooling = this.#endpoints.filter((e) => e.downUntil > t).sort((a, b) => a.downUntil - b.downUntil);
    return [...healthy, ...cooling];
  }

  async #fetchOnce(e: Endpoint, o: SendOptions, timeoutMs: number): Promise<Reply> {
    const timeout = new AbortController();
    const timer = setTimeout(abortController, timeoutMs, timeout);
    const onAbort = o.signal === undefined ? null : () => timeout.abort();
    if (onAbort !== null) o.signal!.addEventListener("abort", onAbort, { once: true });
    // The caller's headers object is its own per request (never kept), so it is sent as it is without a token.
    const headers = this.#o.token === null ? o.headers : { ...o.headers, authorization: `Bearer ${this.#o.token}` };
    try {
      const init: RequestInit = { method: o.method ?? "GET", signal: timeout.signal };
      if (headers !== undefined) init.headers = headers;
      if (o.body !== undefined) init.body = o.body as BodyInit;
      const res = await this.#o.fetch(`${e.url}${o.path}`, init);
      if (o.stream) return res;
      // Read the body under the same deadline, so a stalled body cannot hang the caller.
      return new BufferedReply(res, res.status === 204 || res.status === 304 ? null : await res.arrayBuffer());
    } catch (cause) {
      if (o.signal?.aborted) throw o.signal.reason;
      const timedOut = timeout.signal.aborted;
      const err = timedOut
        ? new MeshkvClientError("TIMEOUT", `No answer from ${e.url} within ${timeoutMs} ms`, 0, {}, cause)
        : new MeshkvClientError(
          "CONNECT_FAILED",
          `Request to ${e.url} failed: ${(cause as Error)?.message ?? String(cause)}`,
          0,
          {},
          cause,
        );
      err.endpoint = e.url;
      throw err;
    } finally {
      clearTimeout(timer);
      // A stream's body keeps listening, so aborting the caller's signal still ends it.
      if (onAbort !== null && !o.stream) o.signal!.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Sends a request, failing over for idempotent ones. Resolves with any response that is not an error
   * (2xx, 300, and 404 when `allow404`), and throws a `MeshkvClientError` rebuilt from error bodies.
   */
  async send(o: SendOptions, allow404 = false): Promise<Reply> {
    if (o.signal?.aborted) throw o.signal.reason;
    // No probe pending (the usual case): no await before the request goes out.
    if (this.#mustProbe()) await this.#probe();
    const order = this.#sorted();
    const attempts = o.idempotent ? Math.min(order.length, this.#o.retries + 1) : 1;
    let last: unknown = null;
    for (let i = 0; i < Math.max(1, attempts); i++) {
      const e = order[i % order.length]!;
      const started = performance.now();
      try {
        const res = await this.#fetchOnce(e, o, this.#o.timeoutMs);
        if (res.status === 503) this.#markDown(e);
        else this.#record(e, performance.now() - started);
        if (res.ok || res.status === 300 || (allow404 && res.status === 404)) return res;
        const err = errorFromBody(res.status, await res.json().catch(() => null));
        err.endpoint = e.url;
        throw err;
      } catch (err) {
        if (o.signal?.aborted) throw o.signal.reason;
        if (!(err instanceof MeshkvClientError) || !isRetryable(err)) throw err;
        if (err.status === 0) this.#markDown(e);
        last = err;
      }
    }
    throw last;
  }
}
