/**
 * Gossip and mesh benchmarks.
 *
 * 1. On the simulated network (deterministic, default settings: 1 s rounds, fan-out 3, 5 s suspicion): rounds
 *    and simulated seconds until every node knows of a join and until every live node marks a crash down, for
 *    10, 50 and 200 nodes, and gossip bytes per node per second in steady state. Rounds to spread a join should
 *    grow about like log(n).
 * 2. One real peer link on loopback, both ends in this process: round-trip latency, requests per second with
 *    64 in flight, one-way frames per second.
 * 3. Across runtimes: this process against a `meshkv start` node on Node, Deno and Bun (ping requests).
 *
 *   node --import tsx bench/gossip.ts            (--quick: 10 and 50 nodes, no cross-runtime part)
 *   node_modules/.bin/deno run -A bench/gossip.ts
 *   node_modules/.bin/bun bench/gossip.ts
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { GOSSIP_DEFAULTS } from "../src/cluster/settings.ts";
import { SimCluster } from "../src/testing/sim_cluster.ts";
import { Mesh } from "../src/mesh/mesh.ts";
import { detectRuntime } from "../src/runtime/detect.ts";
import type { Runtime } from "../src/runtime/types.ts";
import { fmt, printTable } from "./_table.ts";

const rt: Runtime = await detectRuntime();
const runtime = `${rt.name} ${rt.version}`;
const quick = process.argv.includes("--quick");

const table = (title: string, rows: Record<string, string | number>[]) => printTable(title, runtime, rows);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

// ---------------------------------------------------------------------------------------------------------
// 1. Simulation

async function simulate(size: number, seed: number) {
  const started = performance.now();
  const interval = GOSSIP_DEFAULTS.gossipIntervalMs;
  const c = new SimCluster({ seed, size, gossip: GOSSIP_DEFAULTS, link: { delayMs: 1, jitterMs: 2 } });
  for (let i = 1; i < size; i++) await c.start(SimCluster.nodeId(i));
  const formed = await c.runUntil(() => c.allSee("alive") && c.converged(), 120_000, 100);
  if (formed === null) throw new Error(`${size - 1} nodes did not converge`);
  await c.run(3000, 100);

  const before = c.net.stats.bytes;
  await c.run(10_000, 100);
  const bytesPerNodeSecond = (c.net.stats.bytes - before) / (size - 1) / 10;

  const newcomer = SimCluster.nodeId(size);
  await c.start(newcomer);
  const join = await c.runUntil(() => c.allSee("alive", [newcomer]), 120_000, 10);
  await c.run(3000, 100);

  const victim = SimCluster.nodeId(2);
  await c.crash(victim);
  const down = await c.runUntil(() => c.allSee("down", [victim]), 120_000, 10);
  await c.stopAll();
  return {
    nodes: size,
    "join: rounds": join === null ? "never" : Math.ceil(join / interval),
    "join: sim s": join === null ? "never" : join / 1000,
    "crash->down: rounds": down === null ? "never" : Math.ceil(down / interval),
    "crash->down: sim s": down === null ? "never" : down / 1000,
    "log2(n)": Math.log2(size),
    "gossip B/node/s": Math.round(bytesPerNodeSecond),
    "wall s": (performance.now() - started) / 1000,
  };
}

const sizes = quick ? [10, 50] : [10, 50, 200];
const simRows = [];
for (const n of sizes) simRows.push(await simulate(n, 42));
table(
  `Gossip on the simulated network, default settings (1 s rounds, fan-out ${GOSSIP_DEFAULTS.fanout}, suspicion ${
    GOSSIP_DEFAULTS.suspicionMs / 1000
  } s)`,
  simRows,
);

// ---------------------------------------------------------------------------------------------------------
// 2. One real link in this process

const SECRET = "bench-secret-0123";
const client = (id: string) =>
  new Mesh({ nodeId: id, cluster: "meshkv", secret: SECRET, datacenter: "dc1", runtime: rt, random: rt.random() });

async function measure(mesh: Mesh, peer: string, kind: "echo" | "ping", body: unknown) {
  for (let i = 0; i < 200; i++) await mesh.request(peer, kind, body);
  const rtts: number[] = [];
  const rttEnd = performance.now() + 1000;
  while (performance.now() < rttEnd) {
    const t = performance.now();
    await mesh.request(peer, kind, body);
    rtts.push((performance.now() - t) * 1000);
  }
  let done = 0;
  const tpEnd = performance.now() + 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (performance.now() < tpEnd) {
      await mesh.request(peer, kind, body);
      done++;
    }
  }));
  return { rttMedianUs: median(rtts), rttP99Us: pct(rtts, 0.99), reqPerSec: done / ((performance.now() - t0) / 1000) };
}

async function localLink() {
  const server = new Mesh({
    nodeId: "server",
    cluster: "meshkv",
    secret: SECRET,
    datacenter: "dc1",
    runtime: rt,
    random: rt.random(),
  });
  server.onRequest("echo", (b) => b);
  let received = 0;
  server.onMessage("echo", () => received++);
  const http = await rt.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response("bench"),
    websocket: server.websocket(),
  });
  const c = client("client");
  c.setAddress("server", `127.0.0.1:${http.port}`);
  const r = await measure(c, "server", "echo", { payload: "x".repeat(100) });
  // One-way frames: send in bursts that respect the queue bound, until one second has passed.
  const body = { payload: "y".repeat(100) };
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < 1000) {
    for (let i = 0; i < 500; i++) {
      try {
        await c.send("server", "echo", body);
        sent++;
      } catch {
        break; // OVERLOADED: let the socket drain
      }
    }
    await new Promise((res) => setTimeout(res, 0));
  }
  while (received < sent && performance.now() - start < 10_000) await new Promise((res) => setTimeout(res, 1));
  const framesPerSec = received / ((performance.now() - start) / 1000);
  c.close();
  server.close();
  await http.close();
  return { ...r, framesPerSec };
}

const local = await localLink();
table("One real peer link on loopback, both ends in this process (100-byte bodies)", [{
  "RTT median us": local.rttMedianUs,
  "RTT p99 us": local.rttP99Us,
  "requests/s (64 in flight)": local.reqPerSec,
  "one-way frames/s": local.framesPerSec,
}]);

// ---------------------------------------------------------------------------------------------------------
// 3. Across runtimes: this process to a meshkv node on each runtime

function commandFor(target: string, args: string[]): [string, string[]] {
  const bin = (n: string) => `node_modules/.bin/${n}`;
  if (target === "node") return ["node", ["src/cli/bin.mjs", ...args]];
  if (target === "deno") return [bin("deno"), ["run", "-A", "--quiet", "src/cli/main.ts", ...args]];
  return [bin("bun"), ["src/cli/main.ts", ...args]];
}

async function crossRuntime(target: string) {
  const dir = `.tmp/bench-gossip-${target}-${rt.random().int(1e9)}`;
  const [cmd, args] = commandFor(target, [
    "start",
    "--id",
    `peer-${target}`,
    "--port",
    "0",
    "--data",
    dir,
    "--secret",
    SECRET,
  ]);
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`${target} node did not start:\n${out}`)), 20_000);
      child.stdout!.on("data", (d) => {
        out += d;
        const m = /listening on http:\/\/([\w.:]+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.stderr!.on("data", (d) => (out += d));
    });
    const c = client(`bench-${rt.name}`);
    c.setAddress(`peer-${target}`, url);
    const r = await measure(c, `peer-${target}`, "ping", null);
    c.close();
    return r;
  } finally {
    child.kill("SIGKILL");
    await rt.fs.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (!quick) {
  const rows = [];
  for (const target of ["node", "deno", "bun"]) {
    const r = await crossRuntime(target);
    rows.push({
      from: rt.name,
      to: target,
      "ping RTT median us": r.rttMedianUs,
      "ping RTT p99 us": r.rttP99Us,
      "pings/s (64 in flight)": r.reqPerSec,
    });
  }
  table("Across runtimes: this process to a meshkv node (ping requests over the mesh)", rows);
}
process.exit(0);
