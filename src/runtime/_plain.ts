/**
 * The direct path of the hot routes (`FetchHandler.hot`) on a server whose native request is a WHATWG `Request`
 * (Deno, Bun): the request is handed over as a `PlainRequest` over the same `Request` (its headers and body read
 * in place), and the answer becomes one `Response` with plain headers, skipping the Hono app's router, middleware
 * chain and context for GET, PUT and DELETE of one key. What the direct path does not take goes to the handler.
 */
import type { FetchHandler, PlainRequest, PlainResponse } from "./types.ts";

/** The answer to `req` through the direct path, or null when the handler must serve it. */
export function answerDirect(
  hot: NonNullable<FetchHandler["hot"]>,
  req: Request,
  target: string,
): Promise<Response> | null {
  const plain: PlainRequest = {
    method: req.method,
    target,
    url: req.url,
    header: (name) => req.headers.get(name) ?? undefined,
    body: async () => new Uint8Array(await req.arrayBuffer()),
  };
  const answer = hot(plain);
  return answer === null ? null : answer.then(toResponse, failed);
}

function toResponse(a: PlainResponse): Response {
  return new Response(a.body as Uint8Array<ArrayBuffer> | string | null, { status: a.status, headers: a.headers });
}

/** The direct path answers every failure itself; this is for a bug in it, as the Node adapter does. */
function failed(): Response {
  return new Response(null, { status: 500 });
}

/** The origin-form target of an absolute URL as Deno keeps it in `Request.url` (null when it has no path). */
export function targetOf(url: string): string | null {
  const scheme = url.indexOf("://");
  if (scheme < 0) return null;
  const slash = url.indexOf("/", scheme + 3);
  return slash < 0 ? null : url.slice(slash);
}
