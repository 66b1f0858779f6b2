/**
 * `Target`s for bench/ycsb.ts: meshkv through its SDK, etcd through its HTTP/JSON gateway, Redis over RESP.
 * Workers are pinned round-robin to the endpoints they are given (one SDK client, one etcd member or one Redis
 * connection each), so the load is spread over the cluster's nodes as YCSB's client threads would spread it.
 */
import type { BatchOp, ConsistencyName, createClient } from "../src/client/mod.ts";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildOnce } from "./_cluster.ts";
import { etcdCas, etcdGet, etcdPut, etcdPutMany, RespConnection } from "./_peers.ts";
import { chunks, parallel, type Target } from "./_workload.ts";

/**
 * The SDK as users install it: the compiled build of `root` (dist/, made by `buildOnce` as the Node nodes run
 * it), not its TypeScript through tsx, whose transform names every inner function at run time and so costs the
 * generator CPU no user pays.
 */
export async function builtSdk(root: string): Promise<{ createClient: typeof createClient }> {
  buildOnce(root);
  return await import(pathToFileURL(join(root, "dist/src/client/mod.js")).href);
}

const LOAD_BATCH = 100;
const LOAD_LANES = 8;
const LOAD_ATTEMPTS = 10;

export interface MeshkvTargetOptions {
  /** Endpoints the workers use (round-robin). */
  urls: readonly string[];
  level: ConsistencyName;
  /** Endpoints to load through: without replication, every node gets every record so reads find them. */
  loadUrls: readonly string[];
  /** Load every record through each of `loadUrls` (no replication yet) instead of spreading them. */
  loadEverywhere: boolean;
  /** The generator's fetch (bench/_http.ts, or the global one). */
  fetch: typeof fetch;
  /** The SDK's `createClient`, from the build users install (`builtSdk`). */
  createClient: typeof createClient;
}

/**
 * meshkv through the SDK. An update is YCSB's blind write of a new value, but meshkv keeps what a context-less
 * write did not see as siblings (as Riak does), so each client remembers the last context it read or wrote per
 * key and sends it, as an application that read before writing would. F uses the SDK's `update()`: a read,
 * then a strict write with the read's context, retried after a lost race.
 */
export function meshkvTarget(o: MeshkvTargetOptions): Target & { close(): void } {
  const createClient = o.createClient;
  const opts = { consistency: o.level, timeoutMs: 10_000, retries: 0, fetch: o.fetch } as const;
  const clients = o.urls.map((url) => createClient({ endpoints: url, ...opts }));
  const contexts = clients.map(() => new Map<string, string>());
  const remember = (w: number, key: string, context: string | null) => {
    if (context !== null) contexts[w % clients.length]!.set(key, context);
  };
  return {
    async load(records, key, value) {
      const loaders = o.loadUrls.map((url) => createClient({ endpoints: url, ...opts }));
      const jobs = chunks(records, LOAD_BATCH).flatMap(([a, b], i) =>
        o.loadEverywhere ? loaders.map((c) => ({ c, a, b })) : [{ c: loaders[i % loaders.length]!, a, b }]
      );
      await parallel(jobs, o.loadEverywhere ? LOAD_LANES * loaders.length : LOAD_LANES, async ({ c, a, b }) => {
        let ops: BatchOp[] = [];
        for (let i = a; i < b; i++) ops.push({ op: "put", key: key(i), value: value(i) });
        // A loaded cluster on a busy machine may refuse some writes (a replica too slow for the level): retry them.
        for (let attempt = 1; ops.length > 0; attempt++) {
          const results = await c.batch(ops);
          const failed = results.flatMap((r, i) => (r.ok ? [] : [{ op: ops[i]!, error: r.error }]));
          if (failed.length > 0 && attempt >= LOAD_ATTEMPTS) throw failed[0]!.error;
          ops = failed.map((f) => f.op);
          if (ops.length > 0) await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      });
      for (const c of loaders) c.close();
    },
    async read(w, key) {
      const e = await clients[w % clients.length]!.get<Uint8Array>(key);
      if (e === null) return { found: false };
      remember(w, key, e.context);
      return { found: true, siblings: e.values.length };
    },
    async update(w, key, value) {
      const r = await clients[w % clients.length]!.put(key, value, {
        context: contexts[w % clients.length]!.get(key) ?? null,
      });
      remember(w, key, r.context);
    },
    async readModifyWrite(w, key, modify) {
      const r = await clients[w % clients.length]!.update<Uint8Array>(key, (values) => modify(values[0] ?? null), {
        retries: 100,
      });
      remember(w, key, r.context);
    },
    close() {
      for (const c of clients) c.close();
    },
  };
}

/**
 * etcd through the v3 JSON gateway. `one` reads are serializable, `quorum` reads linearizable; writes always
 * go through Raft. F is a compare-and-swap on mod_revision, retried after a lost race.
 */
export function etcdTarget(urls: readonly string[], level: ConsistencyName): Target {
  const serializable = level === "one";
  const at = (w: number) => urls[w % urls.length]!;
  return {
    async load(records, key, value) {
      await parallel(chunks(records, LOAD_BATCH), LOAD_LANES, async ([a, b], lane) => {
        const entries: [string, Uint8Array][] = [];
        for (let i = a; i < b; i++) entries.push([key(i), value(i)]);
        await etcdPutMany(at(lane), entries);
      });
    },
    async read(w, key) {
      return { found: (await etcdGet(at(w), key, serializable)) !== null };
    },
    async update(w, key, value) {
      await etcdPut(at(w), key, value);
    },
    async readModifyWrite(w, key, modify) {
      for (let attempt = 0; attempt < 100; attempt++) {
        const cur = await etcdGet(at(w), key, serializable);
        if (await etcdCas(at(w), key, cur?.modRevision ?? "0", modify(cur?.value ?? null))) return;
      }
      throw new Error(`etcd read-modify-write of ${key} lost 100 races`);
    },
  };
}

/** Redis over one RESP connection per worker. F is WATCH, GET, MULTI/SET/EXEC, retried when EXEC aborts. */
export async function redisTarget(port: number, inflight: number): Promise<Target & { close(): void }> {
  const conns = await Promise.all(Array.from({ length: inflight }, () => RespConnection.open(port)));
  const at = (w: number) => conns[w % conns.length]!;
  return {
    async load(records, key, value) {
      await parallel(chunks(records, LOAD_BATCH), LOAD_LANES, async ([a, b], lane) => {
        const cmds = [];
        for (let i = a; i < b; i++) cmds.push(["SET", key(i), value(i)]);
        const replies = await at(lane).pipeline(cmds);
        const bad = replies.find((r) => r instanceof Error);
        if (bad) throw bad;
      });
    },
    async read(w, key) {
      return { found: (await at(w).command(["GET", key])) !== null };
    },
    async update(w, key, value) {
      await at(w).command(["SET", key, value]);
    },
    async readModifyWrite(w, key, modify) {
      const c = at(w);
      for (let attempt = 0; attempt < 100; attempt++) {
        await c.command(["WATCH", key]);
        const old = await c.command(["GET", key]);
        const replies = await c.pipeline([["MULTI"], ["SET", key, modify(old instanceof Uint8Array ? old : null)], [
          "EXEC",
        ]]);
        if (replies[2] !== null) return;
      }
      throw new Error(`Redis read-modify-write of ${key} lost 100 races`);
    },
    close() {
      for (const c of conns) c.close();
    },
  };
}
