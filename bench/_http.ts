/**
 * A small `fetch` on `node:http` with a keep-alive agent, for the load generator of bench/ycsb.ts.
 *
 * Why: the generator must not be the bottleneck, and on Node 20 the built-in `fetch` (undici behind the WHATWG
 * fetch layer) costs several times the client CPU of `node:http` per request (bench/ycsb.ts --fetch global
 * shows it; docs/bench.md has numbers). The meshkv SDK takes a `fetch` option, so the generator still drives
 * meshkv through the SDK over real HTTP, and etcd's gateway through the same function; only the client's
 * HTTP stack is lighter. It supports what the SDK and the etcd calls use: method, string or byte bodies,
 * header records, AbortSignal, and a fully buffered response.
 */
import { Agent, request } from "node:http";

export function httpFetch(maxSockets = 256): typeof fetch {
  const agent = new Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 10_000 });
  const fn = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise((resolve, reject) => {
      const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
      const headers: Record<string, string> = {};
      if (init.headers !== undefined) new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const body = init.body as string | Uint8Array | null | undefined;
      if (body !== undefined && body !== null) {
        headers["content-length"] = String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);
      }
      const signal = init.signal ?? null;
      if (signal?.aborted) return reject(signal.reason);
      const req = request({
        agent,
        hostname: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: init.method ?? "GET",
        headers,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          signal?.removeEventListener("abort", onAbort);
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
          }
          const status = res.statusCode ?? 500;
          const payload = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(new Response(payload, { status, statusText: res.statusMessage ?? "", headers: h }));
        });
      });
      const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error("Aborted"));
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (e) => {
        signal?.removeEventListener("abort", onAbort);
        reject(new TypeError(`fetch failed: ${e.message}`, { cause: e }));
      });
      if (body !== undefined && body !== null) req.end(body);
      else req.end();
    });
  return fn as typeof fetch;
}
