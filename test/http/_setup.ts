/**
 * The app under test: the backend users get (`ClusterBackend`, what `meshkv start` serves), as one node of the
 * simulated cluster (memory disk, simulated network, manual clock), served through `app.request()` (no
 * sockets). So a route is tested against the behaviour production has, not a stand-in's. Helpers build
 * requests with tokens and read JSON errors.
 */
import * as assert from "uvu/assert";
import type { ClusterBackend } from "../../src/cluster/cluster_backend.ts";
import type { ReplicationConfig } from "../../src/cluster/ring_view.ts";
import { GOSSIP_FAST } from "../../src/cluster/presets.ts";
import { SimCluster } from "../../src/testing/sim_cluster.ts";
import { drive } from "../cluster/_kv_sim.ts";
import { type AppOptions, createApp } from "../../src/http/app.ts";
import type { AuthConfig } from "../../src/http/auth.ts";
import type { ManualClock } from "../../src/runtime/memory.ts";

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

/** The node the harness serves: the first of its simulated cluster. */
export const NODE_ID = "n01";

export interface Harness {
  app: ReturnType<typeof createApp>;
  backend: ClusterBackend;
  sim: SimCluster;
  clock: ManualClock;
  errors: unknown[];
  /** `app.request` with a path, method, body and headers; adds the admin token when auth is on. */
  req(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  /** Awaits `promise` while moving simulated time (for requests that wait on the clock: join, leave). */
  drive<T>(promise: Promise<T>, limitMs?: number): Promise<T>;
  close(): Promise<void>;
}

/** Starts a one-node cluster (N = 1) and waits until it serves. */
export async function oneNodeCluster(replication: Partial<ReplicationConfig> = {}): Promise<SimCluster> {
  const sim = await SimCluster.create({
    seed: 1,
    size: 1,
    gossip: GOSSIP_FAST,
    kv: { replication: { n: 1, ...replication } },
  });
  const t = await sim.runUntil(() => sim.kv(NODE_ID).settled(), 15_000);
  assert.ok(t !== null, "the one-node cluster did not start serving");
  return sim;
}

/** An app serving `sim`'s node NODE_ID with the given options. */
export function appFor(sim: SimCluster, options: Partial<AppOptions> = {}): ReturnType<typeof createApp> {
  return createApp({
    nodeId: NODE_ID,
    runtime: "memory",
    runtimeVersion: "0",
    backend: sim.kv(NODE_ID),
    clock: sim.clock,
    ...options,
  });
}

export async function harness(options: { auth?: boolean; app?: Partial<AppOptions> } = {}): Promise<Harness> {
  const sim = await oneNodeCluster();
  const backend = sim.kv(NODE_ID);
  const errors: unknown[] = [];
  const app = appFor(sim, { auth: options.auth ? AUTH : null, onError: (e) => errors.push(e), ...options.app });
  const req = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const { token, ...rest } = init;
    const headers = new Headers(rest.headers);
    const t = token === undefined ? (options.auth ? TOKENS.admin : null) : token;
    if (t !== null) headers.set("authorization", `Bearer ${t}`);
    return Promise.resolve(app.request(`http://localhost${path}`, { ...rest, headers }));
  };
  const close = async () => {
    await backend.close();
    await sim.stopAll();
  };
  return { app, backend, sim, clock: sim.clock, errors, req, drive: (p, limitMs) => drive(sim, p, limitMs), close };
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
