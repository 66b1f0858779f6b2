/**
 * HTTP path micro-benchmark: what one request of the hot routes (GET, PUT, DELETE of one key) costs a real
 * node, in server CPU microseconds and requests per second.
 *
 * One `meshkv start --replicas 1 --conflicts lww` child process per mode, all started first (lww as issue 18
 * ran YCSB; defaults otherwise: batch durability; one node, so no mesh traffic: what is left is the HTTP
 * layer, the coordinator and the storage engine), a keep-alive
 * `node:http` load generator in this process with `--inflight` requests in flight (closed loop), and for each
 * operation a measured window of `--seconds`. Server CPU is the child's utime + stime from /proc/<pid>/stat
 * over the window (Linux only), divided by the requests answered; the generator's own CPU is shown too, so it
 * can be seen not to be the limit. After one unmeasured round (the JIT's warm-up), modes alternate within each
 * round (op by op) and medians over `--rounds` are shown, so the modes compared share the machine's load.
 *
 * Modes: `node` (the Node build as users run it, compiled: the hot routes read off the socket by
 * src/runtime/_node_http1.ts and answered through the direct path of src/http/hot_routes.ts), `node-http`
 * (MESHKV_HTTP=node-http: the same direct path behind `node:http`, answered with one `writeHead` + `end`),
 * `deno`, `bun` (the same direct path, answered with one `Response`), `node-hono`, `deno-hono`, `bun-hono` (MESHKV_HTTP=hono: every request through the Hono
 * app, on Node through `@hono/node-server`), and the floor: `bare-node`, `bare-deno`,
 * `bare-bun` (bench/_bare_server.mjs: the runtime's own server answering the same routes from a `Map`, no meshkv
 * code), so what a node costs above the runtime is measured in the same run.
 *
 *   node --import tsx bench/http.ts [--modes node,node-hono] [--ops get,put,delete] [--inflight 16]
 *                                   [--seconds 3] [--rounds 3] [--value 1000] [--keys 1000] [--profile <dir>]
 *
 * `--profile <dir>` writes a CPU profile of every node into `<dir>/<mode>/` (startup and preload included).
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import process from "node:process";
import {
  freePort,
  meshkvCommand,
  removeDir,
  type RuntimeName,
  startProc,
  stopProc,
  tempDir,
  waitFor,
} from "./_cluster.ts";
import { printTable } from "./_table.ts";

const root = join(import.meta.dirname, "..");
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : String(process.argv[i + 1]);
};
const modes = arg("modes", "node,node-http,node-hono").split(",");
const ops = arg("ops", "get,put,delete").split(",");
const inflight = Number(arg("inflight", "16"));
const seconds = Number(arg("seconds", "3"));
const rounds = Number(arg("rounds", "3"));
const valueBytes = Number(arg("value", "1000"));
const keyCount = Number(arg("keys", "1000"));
const profile = arg("profile", "");
/** More `meshkv start` flags for the node, space-separated (e.g. `--node-args "--durability none"`). */
const nodeArgs = arg("node-args", "").split(" ").filter((a) => a !== "");
const TICKS_PER_S = 100; // USER_HZ on Linux

/** utime + stime of a process, in microseconds. */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / TICKS_PER_S;
}

const agent = new Agent({ keepAlive: true, maxSockets: inflight });
const value = Buffer.alloc(valueBytes, "v");

function send(port: number, method: string, path: string, body: Buffer | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = body
      ? { "content-type": "application/octet-stream", "content-length": String(body.length) }
      : {};
    const req = request({ agent, host: "127.0.0.1", port, method, path, headers }, (res) => {
      res.on("data", () => {});
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body ?? undefined);
  });
}

// Deletes go to keys of their own, so reads always find a value (a deleted key is deleted again: a tombstone write).
const key = (i: number) => `/v1/kv/bench/key-${i % keyCount}`;
const deleted = (i: number) => `/v1/kv/bench/deleted-${i % keyCount}`;
const OPS: Record<string, (port: number, i: number) => Promise<number>> = {
  get: (port, i) => send(port, "GET", key(i), null),
  put: (port, i) => send(port, "PUT", key(i), value),
  delete: (port, i) => send(port, "DELETE", deleted(i), null),
};
const OK: Record<string, number[]> = { get: [200], put: [201, 204], delete: [204] };

interface Result {
  opsPerS: number;
  serverCpuUsPerOp: number;
  clientCpuUsPerOp: number;
}

async function measure(port: number, pid: number, op: string): Promise<Result> {
  const run = OPS[op]!;
  let next = 0;
  let done = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const status = await run(port, next++);
      if (!OK[op]!.includes(status)) throw new Error(`${op} answered ${status}`);
      done++;
    }
  };
  // Warm-up, then the measured window (the workers keep going across the boundary).
  const workers = Array.from({ length: inflight }, worker);
  await new Promise((r) => setTimeout(r, 500));
  const done0 = done;
  const server0 = processCpuUs(pid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const n = done - done0;
  const wallS = (performance.now() - t0) / 1000;
  const server = processCpuUs(pid) - server0;
  const client = process.cpuUsage(client0);
  stop = true;
  await Promise.all(workers);
  return { opsPerS: n / wallS, serverCpuUsPerOp: server / n, clientCpuUsPerOp: (client.user + client.system) / n };
}

interface Started {
  mode: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** The runtime's own server with no meshkv code (bench/_bare_server.mjs), for `bare-<runtime>` modes. */
function bareCommand(runtime: RuntimeName, port: number): [string, string[]] {
  const script = join(root, "bench/_bare_server.mjs");
  if (runtime === "node") return [process.execPath, [script, String(port)]];
  if (runtime === "deno") return [join(root, "node_modules/.bin/deno"), ["run", "-A", "--quiet", script, String(port)]];
  return [join(root, "node_modules/.bin/bun"), [script, String(port)]];
}

async function startNode(mode: string): Promise<Started> {
  const bare = mode.startsWith("bare-");
  const runtime = (bare ? mode.slice(5) : mode.split("-")[0]) as RuntimeName;
  const dir = tempDir("meshkv-http-bench-");
  const port = await freePort();
  const [cmd, argv] = bare ? bareCommand(runtime, port) : meshkvCommand(root, runtime, [
    "start",
    "--id",
    "a",
    "--port",
    String(port),
    "--data",
    join(dir, "a"),
    "--replicas",
    "1",
    "--conflicts",
    "lww",
    ...nodeArgs,
  ], profile === "" ? undefined : join(profile, mode));
  const env = mode.endsWith("-hono")
    ? { MESHKV_HTTP: "hono" }
    : mode === "node-http"
    ? { MESHKV_HTTP: "node-http" }
    : {};
  const proc = startProc(mode, cmd, argv, root, env);
  const stop = async () => {
    await stopProc(proc, "SIGINT", profile === "" ? 5000 : 30_000);
    removeDir(dir);
  };
  try {
    await waitFor(`${mode} /health`, 60_000, async () => (await send(port, "GET", "/health", null)) === 200);
    for (let i = 0; i < keyCount; i++) {
      await OPS.put!(port, i);
      await send(port, "PUT", deleted(i), value);
    }
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${proc.output().slice(-2000)}`);
  }
  return { mode, port, pid: proc.child.pid!, stop };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// Every mode's node runs for the whole benchmark (an idle one costs next to nothing), so rounds can alternate.
const nodes = await Promise.all(modes.map(startNode));
const results = new Map<string, Result[]>();
try {
  // One unmeasured round first: the JIT warms up the paths of every mode before any round counts.
  for (const op of ops) for (const n of nodes) await measure(n.port, n.pid, op);
  for (let r = 0; r < rounds; r++) {
    for (const op of ops) {
      for (const n of nodes) {
        const k = `${n.mode}|${op}`;
        if (!results.has(k)) results.set(k, []);
        results.get(k)!.push(await measure(n.port, n.pid, op));
      }
    }
  }
} finally {
  await Promise.all(nodes.map((n) => n.stop()));
}
const rows: Record<string, string | number>[] = [];
for (const op of ops) {
  for (const mode of modes) {
    const rs = results.get(`${mode}|${op}`)!;
    rows.push({
      op,
      mode,
      "requests/s": Math.round(median(rs.map((x) => x.opsPerS))),
      "server CPU us/request": Math.round(median(rs.map((x) => x.serverCpuUsPerOp))),
      "generator CPU us/request": Math.round(median(rs.map((x) => x.clientCpuUsPerOp))),
      "server CPU us/request, every round": rs.map((x) => x.serverCpuUsPerOp.toFixed(0)).join(" / "),
    });
  }
}
printTable(
  `One meshkv node (--replicas 1 --conflicts lww), ${inflight} requests in flight over keep-alive node:http, ${keyCount} keys of ${valueBytes} bytes, ${seconds} s per operation, median of ${rounds} rounds`,
  `generator on node ${process.versions.node}`,
  rows,
);
agent.destroy();
process.exit(0);
