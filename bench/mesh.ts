/**
 * Mesh link micro-benchmark: the cost of one request over a real WebSocket link, with and without batch frames.
 *
 * Two meshes in this process, on loopback through the runtime's own server and dialer, `n` echo requests
 * (100-byte bodies) with `k` in flight (closed loop: each of `k` workers sends its next request when its last
 * one is answered). Each mode runs `rounds` times, alternating, and the medians are shown: requests per
 * second and CPU microseconds per request (`process.cpuUsage()`, user + system, both ends together since both
 * live in this process; each the median over the rounds, CPU of every round shown too), and how many frames
 * each WebSocket message carried. `batched` is the default settings;
 * `unbatched` sets `batchMessagesMax: 1` (every frame written at once, as before batch frames). With
 * `--baseline <checkout>` a third mode, `baseline`, runs the `Mesh` of another checkout of meshkv (e.g. the
 * commit before this work, unpacked with `git archive <commit> src | tar -x -C <dir>` beside a node_modules
 * link) in the same rounds, so before and after share the machine's load. `--dialers runtime,web` runs every
 * mode twice, once dialing with the runtime adapter's dialer and once with the web-standard `new WebSocket`
 * client (`dialWeb`, what the Deno adapter used before it dialed through `ws`: Nagle's algorithm on, so a
 * message over 1 KiB stalls ~40 ms for the peer's delayed ACK); use `--body 1025` or more to see it. `tcp` as a
 * dialer has the server listen on a plain-TCP mesh port too (`listenTcp`), so the link moves there (docs/mesh.md,
 * "Plain TCP between nodes"); the other dialers keep it on the WebSocket.
 *
 *   node --import tsx bench/mesh.ts [--requests 20000] [--inflight 1,32] [--rounds 3] [--modes batched,unbatched]
 *                                   [--body 100] [--batch-bytes 65536] [--baseline <checkout>] [--dialers runtime,web,tcp]
 *   node_modules/.bin/deno run -A bench/mesh.ts
 *   node_modules/.bin/bun bench/mesh.ts
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/mesh.ts --modes batched --inflight 32
 */
import process from "node:process";
import { Mesh } from "../src/mesh/mesh.ts";
import { MESH_DEFAULTS } from "../src/mesh/settings.ts";
import { detectRuntime } from "../src/runtime/detect.ts";
import type { Runtime } from "../src/runtime/types.ts";
import { dialWeb } from "../src/runtime/_web_socket.ts";
import { printTable } from "./_table.ts";

const rt: Runtime = await detectRuntime();
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : String(process.argv[i + 1]);
};
const requests = Number(arg("requests", "20000"));
const inflights = arg("inflight", "1,32").split(",").map(Number);
const rounds = Number(arg("rounds", "3"));
const baseline = arg("baseline", "");
const modes = arg("modes", baseline ? "baseline,batched,unbatched" : "batched,unbatched").split(",");
type MeshClass = typeof Mesh;
const BaselineMesh: MeshClass | undefined = baseline
  ? (await import(`${baseline.replace(/\/$/, "")}/src/mesh/mesh.ts`)).Mesh
  : undefined;
const dialers = arg("dialers", "runtime").split(",");
const DIALERS: Record<string, Runtime["dial"]> = {
  runtime: rt.dial,
  web: (url, o) => dialWeb(url, o),
  tcp: rt.dial,
};
const batchBytesMax = Number(arg("batch-bytes", String(MESH_DEFAULTS.batchBytesMax)));
const SETTINGS: Record<string, { batchMessagesMax: number; batchBytesMax?: number }> = {
  batched: { batchMessagesMax: MESH_DEFAULTS.batchMessagesMax, batchBytesMax },
  unbatched: { batchMessagesMax: 1 },
  baseline: { batchMessagesMax: 1 },
};

interface Round {
  opsPerS: number;
  cpuUsPerOp: number;
  framesPerMessage: number;
}

async function pair(mode: string, dialer: string) {
  const settings = SETTINGS[mode];
  if (!settings) throw new RangeError(`Unknown mode ${mode}: use batched or unbatched`);
  const dial = DIALERS[dialer];
  if (!dial) throw new RangeError(`Unknown dialer ${dialer}: use runtime or web`);
  const M = mode === "baseline" ? BaselineMesh! : Mesh;
  const tcp = dialer === "tcp";
  const runtime: Runtime = { ...rt, dial };
  if (!tcp) delete (runtime as { dialTcp?: unknown }).dialTcp;
  const make = (id: string) =>
    new M({
      nodeId: id,
      cluster: "bench",
      secret: "bench-secret",
      datacenter: "dc1",
      runtime,
      random: rt.random(),
      settings,
    });
  const server = make("server");
  server.onRequest("echo", (b) => b);
  const http = await rt.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response("bench"),
    websocket: server.websocket(),
  });
  const listener = tcp ? await rt.listenTcp!({ hostname: "127.0.0.1", port: 0, ...server.tcpListener() }) : null;
  if (listener) server.setTcpPort(listener.port);
  const client = make("client");
  client.setAddress("server", `127.0.0.1:${http.port}`);
  await client.request("server", "echo", "warm");
  const want = tcp ? "tcp" : "websocket";
  for (let i = 0; client.links().some((l) => l.transport !== want); i++) {
    if (i > 200) throw new Error(`The link did not move to ${want}: ${JSON.stringify(client.links())}`);
    await client.request("server", "echo", "warm");
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    client,
    server,
    close: async () => {
      client.close();
      server.close();
      await Promise.all([http.close(), listener?.close()]);
    },
  };
}

async function round(mode: string, dialer: string, k: number): Promise<Round> {
  const { client, close } = await pair(mode, dialer);
  const body = { payload: "x".repeat(Number(arg("body", "100"))) };
  const warmup = Math.min(2000, requests / 10);
  const run = async (n: number) => {
    let left = n;
    const worker = async () => {
      while (left > 0) {
        left--;
        await client.request("server", "echo", body);
      }
    };
    await Promise.all(Array.from({ length: k }, worker));
  };
  await run(warmup);
  const before = client.links()[0]!;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run(requests);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = client.links()[0]!;
  await close();
  return {
    opsPerS: requests / (wallMs / 1000),
    cpuUsPerOp: (cpu.user + cpu.system) / requests,
    // (a build from before batch frames has no socketMessagesOut: one frame per message)
    framesPerMessage: after.socketMessagesOut === undefined
      ? 1
      : (after.framesOut - before.framesOut) / Math.max(1, after.socketMessagesOut - before.socketMessagesOut),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: Record<string, string | number>[] = [];
for (const k of inflights) {
  const runs = modes.flatMap((m) => dialers.map((d) => ({ m, d, key: `${m} ${d}` })));
  const results = new Map<string, Round[]>(runs.map((x) => [x.key, []]));
  for (let r = 0; r < rounds; r++) for (const x of runs) results.get(x.key)!.push(await round(x.m, x.d, k));
  for (const { m, d, key } of runs) {
    const rs = results.get(key)!;
    rows.push({
      mode: m,
      ...(dialers.length > 1 ? { dialer: d } : {}),
      "in flight": k,
      "requests/s": Math.round(median(rs.map((x) => x.opsPerS))),
      "CPU us/request": Number(median(rs.map((x) => x.cpuUsPerOp)).toFixed(1)),
      "frames per message (client)": Number(median(rs.map((x) => x.framesPerMessage)).toFixed(2)),
      "CPU us/request, every round": rs.map((x) => x.cpuUsPerOp.toFixed(1)).join(" / "),
    });
  }
}
printTable(
  `One mesh link on loopback, both ends in this process: ${requests} echo requests (${
    arg("body", "100")
  }-byte bodies), median of ${rounds} rounds`,
  `${rt.name} ${rt.version}`,
  rows,
);
process.exit(0);
