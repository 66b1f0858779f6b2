/**
 * The app under test: the single-node backend on the memory file system with a manual clock, served through
 * `app.request()` (no sockets). Helpers build requests with tokens and read JSON errors.
 */
import * as assert from "uvu/assert";
import { openLocalBackend, type LocalBackend } from "../../src/cluster/local_backend.ts";
import { createApp, type AppOptions } from "../../src/http/app.ts";
import type { AuthConfig } from "../../src/http/auth.ts";
import { createMemoryRuntime, type ManualClock } from "../../src/runtime/memory.ts";

export const TOKENS = {
  read: "read-token-0123456789abcdef",
  write: "write-token-0123456789abcdef",
  admin: "admin-token-0123456789abcdef",
} as const;

export const AUTH: AuthConfig = {
  tokens: [
    { token: TOKENS.read, scope: "read" },
    { token: TOKENS.write, scope: "write" },
    { token: TOKENS.admin, scope: "admin" },
  ],
};

export interface Harness {
  app: ReturnType<typeof createApp>;
  backend: LocalBackend;
  clock: ManualClock;
  errors: unknown[];
  /** `app.request` with a path, method, body and headers; adds the admin token when auth is on. */
  req(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

export async function harness(options: { auth?: boolean; app?: Partial<AppOptions> } = {}): Promise<Harness> {
  const rt = createMemoryRuntime();
  const clock = rt.clock as ManualClock;
  await rt.fs.mkdir("/data", { recursive: true });
  const backend = await openLocalBackend({ fs: rt.fs, dir: "/data/kv", clock, nodeId: "n1", engine: { durability: "always" } });
  const errors: unknown[] = [];
  const app = createApp({
    nodeId: "n1",
    runtime: "memory",
    runtimeVersion: "0",
    backend,
    auth: options.auth ? AUTH : null,
    clock,
    onError: (e) => errors.push(e),
    ...options.app,
  });
  const req = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const { token, ...rest } = init;
    const headers = new Headers(rest.headers);
    const t = token === undefined ? (options.auth ? TOKENS.admin : null) : token;
    if (t !== null) headers.set("authorization", `Bearer ${t}`);
    return Promise.resolve(app.request(`http://localhost${path}`, { ...rest, headers }));
  };
  return { app, backend, clock, errors, req, close: () => backend.close() };
}

/** Asserts a JSON error response with `status` and `code`; returns the error object. */
export async function expectError(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.is(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`);
  const body = JSON.parse(text) as { error: Record<string, unknown> };
  assert.is(body.error.code, code, text);
  assert.type(body.error.message, "string");
  return body.error;
}

export const CONTEXT = "x-meshkv-context";
