/**
 * What the YCSB load generator costs per request, on its own: issue 18 bounds it at a third of a core per 5,000
 * ops/s (67 µs of CPU per operation), so that bench/ycsb.ts measures the systems and not itself. In a YCSB run
 * the generator shares the machine with the nodes it drives, and its CPU per operation moves with their load;
 * here it drives a server that costs next to nothing and answers at once (bench/_bare_server.mjs on Node: the
 * runtime's own `node:http` answering from a `Map`, in a child process), so what is measured is the client side
 * alone: this process's `process.cpuUsage()` over `--requests` requests with `--inflight` in flight, per
 * request, medians of `--rounds` rounds after one unmeasured round (the modes alternate within each round).
 *
 * Modes: `fetch get` (bench/_http.ts's lean `fetch`, then `arrayBuffer()`, with an `AbortSignal` as the SDK
 * gives it), and `sdk get` / `sdk put` (the SDK as users install it, the compiled build, through that `fetch`, as
 * ycsb drives meshkv). Values are 1 KB over `--keys` keys.
 *
 *   node --import tsx bench/generator.ts [--requests 20000] [--inflight 32] [--rounds 5] [--keys 1000]
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "./_cluster.ts";
import { httpFetch } from "./_http.ts";
import { printTable } from "./_table.ts";
import { builtSdk } from "./_targets.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  const v = i < 0 ? fallback : Number(argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};
const requests = flag("--requests", 20_000);
const inflight = flag("--inflight", 32);
const rounds = flag("--rounds", 5);
const keys = flag("--keys", 1000);
/** Issue 18's bound: a third of a core per 5,000 operations a second. */
const BOUND_US = 1e6 / 3 / 5000;

const port = await freePort();
const server = spawn(process.execPath, [join(root, "bench/_bare_server.mjs"), String(port)], { stdio: "inherit" });
const base = `http://127.0.0.1:${port}`;
try {
  await waitFor("the bare server", 10_000, async () => (await fetch(`${base}/health`)).ok);
  const f = httpFetch();
  const { createClient } = await builtSdk(root);
  const client = createClient({ endpoints: base, timeoutMs: 10_000, retries: 0, fetch: f });
  const value = new Uint8Array(1000).fill(97);
  for (let i = 0; i < keys; i++) await client.put(`user${i}`, value);

  const modes: Record<string, (i: number) => Promise<unknown>> = {
    "fetch get": async (i) => {
      const res = await f(`${base}/v1/kv/user${i % keys}`, { signal: new AbortController().signal });
      if (res.status !== 200) throw new Error(`GET answered ${res.status}`);
      await res.arrayBuffer();
    },
    "sdk get": async (i) => {
      if ((await client.get(`user${i % keys}`)) === null) throw new Error("a loaded key was not found");
    },
    "sdk put": (i) => client.put(`user${i % keys}`, value, { context: null }),
  };

  /** CPU of this process per request, in µs, over one round of `fn`. */
  async function round(fn: (i: number) => Promise<unknown>): Promise<number> {
    let next = 0;
    const before = process.cpuUsage();
    await Promise.all(Array.from({ length: inflight }, async () => {
      while (next < requests) await fn(next++);
    }));
    const used = process.cpuUsage(before);
    return (used.user + used.system) / requests;
  }

  const samples = new Map<string, number[]>();
  for (let r = 0; r <= rounds; r++) {
    for (const [name, fn] of Object.entries(modes)) {
      const us = await round(fn);
      if (r > 0) samples.set(name, [...(samples.get(name) ?? []), us]); // round 0 warms the JIT up
    }
  }
  client.close();
  printTable(
    `Generator CPU per request: ${requests} requests, ${inflight} in flight, median of ${rounds} rounds (bound: ${
      BOUND_US.toFixed(0)
    } µs per operation)`,
    `node ${process.versions.node}`,
    [...samples].map(([mode, v]) => {
      const sorted = [...v].sort((a, b) => a - b);
      return {
        mode,
        "median µs": sorted[Math.floor(sorted.length / 2)]!.toFixed(1),
        "rounds (µs)": v.map((x) => x.toFixed(0)).join(" "),
      };
    }),
  );
} finally {
  server.kill();
}
