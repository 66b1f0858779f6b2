/**
 * The request target as it came off the wire, checked before routing (DESIGN.md section 3: the key a route
 * acts on is exactly the key the client sent). Runtimes build `Request.url` with the WHATWG URL parser, which
 * resolves `.` and `..` segments (also spelled `%2e`), reads `\` as `/`, drops everything after `#` and
 * re-encodes raw non-ASCII bytes, so `PUT /v1/kv/zz/../victim` would write `victim`. Browsers and `fetch`
 * normalise before sending; only raw clients (and proxies that pass paths through) send such targets, and a
 * proxy that allows `/v1/kv/public/*` must not be walked out of. Such a target is refused with `BAD_PATH`
 * (400) before any route runs, rather than guessed at: RFC 3986 section 5.2.4 resolves dot segments only
 * for relative references, and a server that resolves them routes differently from whatever sat in front.
 *
 * The adapter hands the raw target over where its runtime keeps one (`ServeRequestInfo.rawTarget`):
 * `IncomingMessage.url` on Node, `Request.url` on Deno (which keeps the path as sent). Bun.serve resolves the
 * path before the handler runs and keeps no raw copy, so there the adapter says null (see src/runtime/bun.ts).
 */
import { MeshkvError } from "../errors.ts";

/** A segment a URL parser treats as `.` or `..`, in any mix of `.` and `%2e`/`%2E`. */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
/** Bytes a path may hold as sent: printable ASCII without `\` and `#` (everything else must be percent-encoded). */
const PLAIN_PATH = /^[\x21-\x22\x24-\x5b\x5d-\x7e]*$/;

function badPath(target: string, why: string): MeshkvError {
  const shown = target.length > 200 ? `${target.slice(0, 200)}...` : target;
  return new MeshkvError(
    "BAD_PATH",
    `Invalid request path: ${why}; percent-encode the key (as the SDK does): ${JSON.stringify(shown)}`,
    {
      details: { path: shown },
    },
  );
}

/** The refusal of a request whose raw target the runtime could not recover (`ServeRequestInfo.rawTargetUnverifiable`). */
export function unverifiablePath(why: string): MeshkvError {
  return new MeshkvError(
    "BAD_PATH",
    `Invalid request path: this server cannot check a raw path ${why}; percent-encode the key (as the SDK does)`,
    {
      details: { reason: why },
    },
  );
}

/**
 * Path characters the WHATWG URL parser keeps as they are in an http(s) URL's path: printable ASCII without
 * `"`, `#`, `%`, `<`, `>`, `?`, `\`, `^`, backtick, `{`, `|` and `}` (`%` is left out so that no `%2e` can be
 * a dot segment).
 */
const UNCHANGED_PATH = /^\/[!$&-;=@-\[\]_a-z~]*$/;
/** A `.` or `..` segment spelled plainly. */
const PLAIN_DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

/**
 * The path of an origin-form target that URL parsing leaves exactly as it is (so `checkRawTarget` passes and
 * `new URL(url).pathname` is this very string), or null when it may not: then parse and check. Most keys the
 * SDK sends are such paths, and a hot request skips a URL parse with it.
 */
export function plainPath(target: string): string | null {
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  return UNCHANGED_PATH.test(path) && !PLAIN_DOT_SEGMENT.test(path) ? path : null;
}

/** The path part of a raw request target (origin-form `/p?q` or absolute-form `http://host/p?q`). */
export function rawPathOf(target: string): string {
  let path = target;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(path);
  if (scheme) path = path.slice(scheme[0].length) || "/";
  const q = path.indexOf("?");
  return q < 0 ? path : path.slice(0, q);
}

/** Percent-decoding that leaves a malformed sequence as it is (routes report those themselves). */
function decoded(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * Throws `BAD_PATH` when routing on `parsedPath` (the path of `Request.url`) could act on something other
 * than what `rawTarget` names: dot segments, backslashes, `#`, bytes outside printable ASCII, or any other
 * difference between the two once percent-encoding is undone.
 */
export function checkRawTarget(rawTarget: string, parsedPath: string): void {
  const path = rawPathOf(rawTarget);
  if (!path.startsWith("/")) throw badPath(rawTarget, "it must start with /");
  if (!PLAIN_PATH.test(path)) {
    const why = path.includes("\\")
      ? "a backslash (read as /)"
      : path.includes("#")
      ? "a # (the rest would be dropped)"
      : "a byte outside printable ASCII";
    throw badPath(rawTarget, `it contains ${why}`);
  }
  // A dot segment needs a `.` or a `%2e`; most paths have neither, and are not split to look.
  if (path.includes(".") || path.includes("%2e") || path.includes("%2E")) {
    for (const segment of path.split("/")) {
      if (DOT_SEGMENT.test(segment)) {
        throw badPath(rawTarget, `it contains a "${segment}" segment, which URL parsing resolves`);
      }
    }
  }
  // The rules above cover what the WHATWG parser changes today; this catches whatever else would differ.
  if (path !== parsedPath && decoded(path) !== decoded(parsedPath)) {
    throw badPath(rawTarget, "it does not survive URL parsing unchanged");
  }
}
