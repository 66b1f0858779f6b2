/**
 * YCSB-style load on real clusters: meshkv on three local nodes (all Node, all Deno, all Bun, and one of each),
 * at consistency `one` and `quorum`, with and without emulated inter-region delay, beside etcd (three members)
 * and Redis (one, unreplicated) when they are installed. The load generator is the same for every system and
 * always runs on Node: workloads A, B, C and F (bench/_workload.ts), 1 KB values, zipfian keys (0.99), a fixed
 * number of requests in flight, a warm-up, then a fixed measured duration.
 *
 *   node --import tsx bench/ycsb.ts --quick            (5,000 records, 1 s warm-up, 2 s per run: about 4 minutes)
 *   node --import tsx bench/ycsb.ts                    (100,000 records, 5 s warm-up, 20 s per run)
 *   npm run bench -- ycsb -- --quick --profile
 *
 * Flags: --records N, --inflight N (32), --warmup S, --duration S, --repeat N (median of N runs), --seed N,
 * --settle S (pause after loading: 10, quick 2), --workloads A,B,C,F, --levels one,quorum, --runtimes node,deno,bun,mixed, --delay "us-east|eu-west=40",
 * --delay-runtimes node (or none), --peers etcd,redis (or none), --install-peers (apt-get), --profile (CPU
 * profile of the slowest runtime's nodes under workload A), --perf (the same run recorded with Linux perf: CPU
 * time by area and system call, kernel and V8's own threads included; bench/_perf.ts), --conflicts lww|siblings (every node's; lww), --node-args
 * "FLAGS" (more meshkv start flags), --delay-levels local_quorum,quorum, --delay-workloads A, --mesh-preset default|fast, --profile-dir DIR (keep the profiles there), --out FILE (default bench/results/<date>.md).
 * Writes the Markdown report and an SVG chart beside it; see docs/bench.md.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ConsistencyName } from "../src/client/mod.ts";
import {
  type MeshkvNodeSpec,
  procCpuSeconds,
  removeDir,
  RUNTIME_NAMES,
  type RuntimeName,
  startHasReplicasFlag,
  startMeshkvCluster,
  tempDir,
} from "./_cluster.ts";
import { httpFetch } from "./_http.ts";
import { installPeers, startEtcdCluster, startRedis, useEtcdFetch, which } from "./_peers.ts";
import { perfScript, perfUnavailable, recordPerf, summarizePerf } from "./_perf.ts";
import { topSelfTime } from "./_profile.ts";
import { chart, machineTable, mdTable, type Row, workloadTable } from "./_report.ts";
import { builtSdk, etcdTarget, meshkvTarget, redisTarget } from "./_targets.ts";
import {
  recordKey,
  type RunOptions,
  type RunResult,
  runWorkload,
  type Target,
  valuePool,
  WORKLOADS,
} from "./_workload.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const has = (f: string) => argv.includes(f);
const flag = (f: string, dflt: string) => {
  const i = argv.indexOf(f);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const list = (f: string, dflt: string) =>
  flag(f, dflt).split(",").map((s) => s.trim()).filter((s) => s !== "" && s !== "none");

if (process.versions.bun !== undefined || (process.versions as Record<string, string | undefined>).deno !== undefined) {
  console.log(
    "bench/ycsb.ts holds the load generator fixed on Node: run it with node --import tsx bench/ycsb.ts (it starts Deno and Bun nodes itself)",
  );
  process.exit(0);
}

const quick = has("--quick");
const records = Number(flag("--records", quick ? "5000" : "100000"));
const repeat = Math.max(1, Number(flag("--repeat", "1")));
const run: RunOptions = {
  records,
  inflight: Number(flag("--inflight", "32")),
  seed: Number(flag("--seed", "42")),
  warmupMs: 1000 * Number(flag("--warmup", quick ? "1" : "5")),
  durationMs: 1000 * Number(flag("--duration", quick ? "2" : "20")),
};
// A pause after loading, so the flushes, compactions and replica catch-up it set off do not land on the first run.
const settleMs = 1000 * Number(flag("--settle", quick ? "2" : "10"));
const workloads = list("--workloads", "A,B,C,F").map((w) => {
  const wl = WORKLOADS[w.toUpperCase()];
  if (wl === undefined) throw new RangeError(`Unknown workload ${w}: use A, B, C or F`);
  return wl;
});
const levels = list("--levels", "one,quorum") as ConsistencyName[];
const runtimes = list("--runtimes", "node,deno,bun,mixed");
const delay = flag("--delay", "us-east|eu-west=40");
const delayRuntimes = list("--delay-runtimes", "node");
/** The levels of the clusters with delay: local_quorum (must not wait for the WAN) against quorum (one round trip). */
const delayLevels = list("--delay-levels", "local_quorum,quorum") as ConsistencyName[];
/** The workloads of the clusters with delay (default: A, reads and writes). */
const delayWorkloads = list("--delay-workloads", "A");
const peers = list("--peers", "etcd,redis");
const fetchKind = flag("--fetch", "http");
/** `meshkv start --conflicts` of every node: lww by default, as the issue's measurement ran (YCSB overwrites). */
const conflicts = flag("--conflicts", "lww");
if (conflicts !== "lww" && conflicts !== "siblings") throw new Error("--conflicts must be lww or siblings");
/** `meshkv start --mesh-preset` of every node: the default timings, as users run them (fast: tests' timings). */
const preset = flag("--mesh-preset", "default");
/** More `meshkv start` flags, space-separated (e.g. `--node-args "--durability always"`). */
const nodeArgs = ["--conflicts", conflicts, ...flag("--node-args", "").split(" ").filter((s) => s !== "")];
const generatorFetch: typeof fetch = fetchKind === "global" ? (input, init) => fetch(input, init) : httpFetch();
useEtcdFetch(generatorFetch);
const date = new Date().toISOString().slice(0, 10);
const out = flag("--out", join(root, "bench", "results", `${date}.md`));

if (has("--install-peers")) installPeers();
const replicas = startHasReplicasFlag(root);
const pool = valuePool(run.seed);
const value = (i: number) => pool[i % pool.length]!;
const rows: Row[] = [];
const notes: string[] = [];
const peerVersions: Record<string, string> = {};
/** The last cluster started and the last measured window (for --profile). */
let lastSpawnedAt = 0;
let lastWindow: [number, number] = [0, 0];
let profiling = false;
/** While set (`--perf`), the first measured window of the next run is recorded with perf into `file`. */
let perfWindow: { file: string; stopped: Promise<void> | null; pids: readonly number[] } | null = null;
const log = (s: string) => console.error(`[ycsb ${new Date().toISOString().slice(11, 19)}] ${s}`);

console.log(`# YCSB on meshkv, etcd and Redis (${quick ? "quick" : "full"} run, ${date})\n`);
log(
  `${records} records of 1 KB, ${run.inflight} in flight, ${run.warmupMs / 1000} s warm-up, ${
    run.durationMs / 1000
  } s measured, ` +
    `replication ${replicas ? "on (--replicas 3)" : "absent (each record loaded into every node)"}`,
);

/**
 * Runs every level and workload against a loaded system; `makeTarget` gives the target for a level. The levels
 * take turns within each workload (one run of each level, then the next round), so the background work a
 * run leaves behind (flushes, compactions, replica catch-up) and the machine's other load fall on every level
 * alike: measured one level after the other, the level measured first right after loading paid for it.
 */
async function measure(
  system: string,
  levelsHere: readonly string[],
  makeTarget: (level: string) => Target | Promise<Target>,
  loaded: Target | null,
  pids: readonly number[],
) {
  const targets: Target[] = [];
  for (const level of levelsHere) targets.push(await makeTarget(level));
  const t = performance.now();
  await (loaded ?? targets[0]!).load(records, recordKey, value);
  log(`${system}: loaded ${records} records in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, settleMs));
  // One discarded pass of the first workload: the flushes, compactions and replica catch-up the load set off
  // otherwise land on the first runs measured (that is what made `one` look half as fast as `quorum` in
  // earlier runs: measured first, it paid for the load).
  await runWorkload(targets[0]!, workloads[0]!, { ...run, seed: run.seed + 1000 });
  for (const w of system.includes("+") ? workloads.filter((w) => delayWorkloads.includes(w.name)) : workloads) {
    const results: RunResult[][] = levelsHere.map(() => []);
    for (let i = 0; i < repeat; i++) {
      for (const [k, target] of targets.entries()) {
        results[k]!.push(
          await runWorkload(target, w, {
            ...run,
            seed: run.seed + i,
            serverCpu: () => procCpuSeconds(pids),
            ...(perfWindow === null || perfWindow.stopped !== null ? {} : { onWindow: perfEdges(perfWindow, pids) }),
          }),
        );
      }
    }
    for (const [k, level] of levelsHere.entries()) {
      const runs = results[k]!.sort((a, b) => a.opsPerSec - b.opsPerSec);
      const result = runs[Math.floor(runs.length / 2)]!;
      rows.push({ system, level, workload: w.name, result, repeats: runs.map((r) => r.opsPerSec) });
      lastWindow = result.window;
      log(
        `${system} ${level} ${w.name}: ${Math.round(result.opsPerSec)} ops/s, p50 ${
          result.all.p50.toFixed(2)
        } ms, p99 ${result.all.p99.toFixed(2)} ms` +
          (result.errors ? `, ${result.errors} errors (${result.errorSamples[0]})` : "") +
          (result.misses ? `, ${result.misses} misses` : ""),
      );
      if (result.errors > 0) {
        notes.push(
          `${profiling ? "(profile run) " : ""}${system} ${level} ${w.name}: ${result.errors} errors, e.g. ${
            result.errorSamples.join("; ")
          }`,
        );
      }
    }
  }
  for (const target of targets) (target as { close?: () => void }).close?.();
}

/** Starts perf on `pids` when a window starts and stops it when the window ends (`--perf`). */
function perfEdges(w: NonNullable<typeof perfWindow>, pids: readonly number[]) {
  let recorder: { stop(): Promise<void> } | null = null;
  return (edge: "start" | "end") => {
    if (edge === "start" && w.stopped === null) (recorder = recordPerf(pids, w.file)), (w.pids = pids);
    else if (edge === "end" && recorder !== null) (w.stopped = recorder.stop()), (recorder = null);
  };
}

function clusterSpec(name: string): MeshkvNodeSpec[] {
  if (name === "mixed") return RUNTIME_NAMES.map((runtime) => ({ runtime }));
  if (!(RUNTIME_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(`Unknown runtime ${name}: use node, deno, bun or mixed`);
  }
  return [0, 1, 2].map(() => ({ runtime: name as RuntimeName }));
}

async function meshkvSystem(
  name: string,
  withDelay: boolean,
  profileDir?: string,
  levelsHere: readonly string[] = levels,
  perfMaps = false,
) {
  // With delay: four nodes, two per region, two replicas per region (Cassandra's usual multi-region shape), so
  // that `quorum` (3 of 4) needs the other region and `local_quorum` (2 of the 2 local replicas) does not.
  const base = clusterSpec(name);
  const nodes = withDelay
    ? [0, 1, 2, 3].map((i) => ({ ...base[i % base.length]!, datacenter: i < 2 ? "us-east" : "eu-west" }))
    : base;
  const delayMs = /=(\d+)/.exec(delay)?.[1] ?? "?";
  const system = `meshkv ${name}${withDelay ? ` +${delayMs}ms` : ""}`;
  log(`${system}: starting ${nodes.map((n) => n.runtime).join(", ")}`);
  const cluster = await startMeshkvCluster({
    root,
    nodes,
    ...(withDelay ? { regionDelays: delay } : {}),
    ...(replicas && !withDelay ? { replicas: 3 } : {}),
    ...(profileDir ? { profileDir } : {}),
    perfMaps,
    extraArgs: withDelay ? [...nodeArgs, "--replication", "us-east:2,eu-west:2"] : nodeArgs,
    preset,
  });
  lastSpawnedAt = cluster.spawnedAt;
  try {
    // With delay, the generator sits in us-east and talks to the us-east nodes only.
    const urls = withDelay ? cluster.urls.slice(0, 2) : cluster.urls;
    // Loading is not measured. With delay it runs at `local_quorum` through every node, so each put waits for its
    // own region's two replicas only; the coordinator still sends it to all four and the settle pause lets the
    // other region's copies land (at `quorum` each put of a 100-put batch waited for its own WAN round trip, and
    // 100,000 records took over an hour). Any three of the four replicas a `quorum` read asks hold at least one
    // of the two copies a `local_quorum` write made, so reads find every record either way.
    const { createClient } = await builtSdk(root);
    const loader = meshkvTarget({
      createClient,
      urls,
      level: withDelay ? "local_quorum" : "quorum",
      loadUrls: cluster.urls,
      loadEverywhere: !replicas,
      fetch: generatorFetch,
    });
    await measure(
      system,
      levelsHere,
      (level) =>
        meshkvTarget({
          createClient,
          urls,
          level: level as ConsistencyName,
          loadUrls: cluster.urls,
          loadEverywhere: !replicas,
          fetch: generatorFetch,
        }),
      loader,
      cluster.procs.map((p) => p.child.pid ?? 0),
    );
  } finally {
    await cluster.stop();
  }
}

/** Runs one system; a failure is noted in the report and the run goes on with the next system. */
async function attempt(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const msg = `${what}: failed: ${String((e as Error).message ?? e).split("\n")[0]}`;
    log(msg);
    console.error((e as Error).stack ?? e);
    notes.push(msg);
  }
}

const started = performance.now();
for (const name of runtimes) await attempt(`meshkv ${name}`, () => meshkvSystem(name, false));
for (const name of delayRuntimes) {
  await attempt(`meshkv ${name} with delay`, () => meshkvSystem(name, true, undefined, delayLevels));
}

if (peers.includes("etcd")) {
  const etcd = which("etcd");
  if (etcd === null) notes.push("etcd: not installed (`--install-peers` installs Debian's etcd-server), skipped");
  else {
    await attempt("etcd", async () => {
      const c = await startEtcdCluster(etcd);
      peerVersions.etcd = c.version;
      try {
        await measure("etcd", levels, (level) => etcdTarget(c.urls, level as ConsistencyName), null, c.pids);
      } finally {
        await c.stop();
      }
    });
  }
}
if (peers.includes("redis")) {
  const redis = which("redis-server");
  if (redis === null) notes.push("Redis: not installed (`--install-peers` installs Debian's redis-server), skipped");
  else {
    await attempt("redis", async () => {
      const r = await startRedis(redis);
      peerVersions.redis = r.version;
      try {
        await measure("redis", ["-"], () => redisTarget(r.port, run.inflight), null, r.pids);
      } finally {
        await r.stop();
      }
    });
  }
}
for (const n of notes.filter((n) => n.includes("skipped"))) log(n);

let profileText = "";
if (has("--profile")) await attempt("profile", async () => void (profileText = await profile()));
if (has("--perf")) await attempt("perf profile", async () => void (profileText += await perfProfile()));

/** The runtime slowest at workload A (quorum if measured), or null when no single-runtime cluster ran A. */
function slowestAtA(): Row | null {
  const a = rows.filter((r) =>
    r.workload === "A" && r.level === (levels.includes("quorum") ? "quorum" : levels[0]) &&
    /^meshkv (node|deno|bun)$/.test(r.system)
  );
  return a.length === 0 ? null : a.reduce((x, y) => (y.result.opsPerSec < x.result.opsPerSec ? y : x));
}

/**
 * Starts `slowest`'s runtime again and runs workload A at its level once more (for `--profile` and `--perf`);
 * its rows are left out of the report. Returns the run's result.
 */
async function rerunUnderA(
  slowest: Row,
  o: { profileDir?: string; perfMaps?: boolean },
): Promise<RunResult | undefined> {
  const runtime = slowest.system.split(" ")[1]!;
  const savedWorkloads = workloads.splice(0, workloads.length, WORKLOADS.A!);
  const savedRows = rows.length;
  profiling = true;
  try {
    await meshkvSystem(runtime, false, o.profileDir, [slowest.level], o.perfMaps ?? false);
    return rows[savedRows]?.result;
  } finally {
    rows.splice(savedRows);
    workloads.splice(0, workloads.length, ...savedWorkloads);
    profiling = false;
  }
}

/**
 * Runs the slowest runtime's cluster under workload A again with perf recording its nodes (every thread) over
 * the measured window: CPU time by area, by system call, and the top functions (bench/_perf.ts).
 */
async function perfProfile(): Promise<string> {
  const why = perfUnavailable();
  if (why !== null) return `\n\nNo perf profile: ${why}.\n`;
  const slowest = slowestAtA();
  if (slowest === null) return "\n\nNo perf profile: no single-runtime meshkv rows with workload A.\n";
  const runtime = slowest.system.split(" ")[1]!;
  const dir = tempDir("meshkv-perf-");
  try {
    perfWindow = { file: join(dir, "nodes.perf"), stopped: null, pids: [] };
    log(`perf profile of ${runtime} (slowest at workload A: ${Math.round(slowest.result.opsPerSec)} ops/s)`);
    const profiled = await rerunUnderA(slowest, { perfMaps: true });
    await perfWindow.stopped;
    if (perfWindow.stopped === null) return "\n\nNo perf profile: the run had no measured window.\n";
    const script = perfScript(perfWindow.file);
    // PERF_SCRIPT_OUT=<file> keeps the named `perf script` text for a closer look (inclusive costs, callers).
    if (process.env.PERF_SCRIPT_OUT) writeFileSync(process.env.PERF_SCRIPT_OUT, script);
    const sum = summarizePerf(script);
    const us = profiled?.serverCpuUsPerOp ?? null;
    const table = (list: { name: string; share: number }[], what: string) =>
      mdTable(list.map((x) => ({
        [what]: x.name.replaceAll("|", "\\|"),
        share: `${(x.share * 100).toFixed(1)}%`,
        "µs per op": us === null ? "-" : Math.round(x.share * us),
      })));
    return `\n\nperf profile (CPU time, not wall-clock samples; bench/_perf.ts) of the ${runtime} nodes under workload A ` +
      `(${slowest.level}), over the measured ${run.durationMs / 1000} s: ${sum.samples} samples at ` +
      `${Math.round(profiled?.opsPerSec ?? 0)} ops/s and ${
        us === null ? "?" : Math.round(us)
      } µs of server CPU per op ` +
      `(µs per op below are shares of that).\n\nBy area:\n\n${table(sum.areas, "area")}\n\n` +
      `The kernel's share by the system call it was made from:\n\n${table(sum.syscalls, "call")}\n\n` +
      `Top functions (self):\n\n${table(sum.top.slice(0, 20), "function")}\n`;
  } finally {
    // The perf maps the nodes wrote (tens of MB each) are read by `perf script` above and not needed after it.
    for (const pid of perfWindow?.pids ?? []) rmSync(`/tmp/perf-${pid}.map`, { force: true });
    perfWindow = null;
    removeDir(dir);
  }
}

/** Profiles the nodes of the runtime slowest at workload A (quorum, no delay) while they serve workload A. */
async function profile(): Promise<string> {
  const slowest = slowestAtA();
  if (slowest === null) return "No single-runtime meshkv rows with workload A to pick the slowest runtime from.\n";
  const runtime = slowest.system.split(" ")[1]!;
  const keep = flag("--profile-dir", "");
  const dir = keep === "" ? tempDir("meshkv-prof-") : (mkdirSync(keep, { recursive: true }), keep);
  try {
    log(`profiling ${runtime} (slowest at workload A: ${Math.round(slowest.result.opsPerSec)} ops/s)`);
    const profiled = await rerunUnderA(slowest, { profileDir: dir });
    const window: [number, number] = [lastWindow[0] - lastSpawnedAt, lastWindow[1] - lastSpawnedAt];
    const top = topSelfTime(dir, root, 20, window);
    if (top.files === 0) return `No CPU profile was written by ${runtime} (it may not support --cpu-prof).\n`;
    const table = mdTable(
      top.rows.map((r) => ({
        function: r.fn,
        where: r.where,
        "self ms": Math.round(r.selfMs),
        share: `${(r.share * 100).toFixed(1)}%`,
      })),
    );
    const ops = profiled ? profiled.opsPerSec * (run.durationMs / 1000) : 0;
    const areas = mdTable(
      top.areas.slice(0, 14).map((a) => ({
        area: a.area,
        "self ms": Math.round(a.selfMs),
        share: `${(a.share * 100).toFixed(1)}%`,
        "µs per op": ops > 0 ? Math.round((a.selfMs * 1000) / ops) : "-",
      })),
    );
    const perArea =
      `\n\nThe same samples by area (self time; µs per op: over the ${Math.round(ops)} operations of the ` +
      `profiled run, all three nodes added):\n\n${areas}`;
    return `Slowest runtime at workload A (${slowest.level}): **${runtime}**. CPU profile of its three nodes while they served workload A ` +
      `(${top.files} profiles, as many processes and worker threads; samples from the measured ${
        run.durationMs / 1000
      } s only, idle left out where the runtime marks it: ${
        Math.round(top.busyMs)
      } ms), top self time:\n\n${table}${perArea}`;
  } finally {
    if (keep === "") removeDir(dir);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Report

const sections: string[] = [];
const add = (title: string, body: string) => sections.push(`## ${title}\n\n${body}`);
const get = (system: string, level: string, w: string) =>
  rows.find((r) => r.system === system && r.level === level && r.workload === w);
const elapsed = (performance.now() - started) / 1000;

add(
  "Setup",
  mdTable([
    {
      parameter: "records",
      value: `${records.toLocaleString("en-US")} of 1 KB (key user<N>), loaded first (not measured), then ${
        settleMs / 1000
      } s to settle`,
    },
    { parameter: "key choice", value: "YCSB scrambled zipfian, constant 0.99, seeded" },
    { parameter: "requests in flight", value: run.inflight },
    {
      parameter: "warm-up / measured",
      value: `${run.warmupMs / 1000} s / ${run.durationMs / 1000} s per run, median of ${repeat} run(s)`,
    },
    { parameter: "seed", value: run.seed },
    {
      parameter: "meshkv nodes",
      value: `3 per cluster, --mesh-preset ${preset} --durability batch${replicas ? " --replicas 3" : ""} ${
        nodeArgs.join(" ")
      }`,
    },
    {
      parameter: "replication",
      value: replicas
        ? "N = 3 (W = R = 2 at quorum)"
        : "absent in this build: each node keeps its own writes, so every record was loaded into every node, and updates stay on the node that took them",
    },
    {
      parameter: "emulated delay",
      value: delayRuntimes.length
        ? `\`${delay}\` one way; four nodes, a and b in us-east, c and d in eu-west, --replication us-east:2,eu-west:2; the generator talks to a and b`
        : "none",
    },
    { parameter: "wall time", value: `${Math.round(elapsed)} s` },
  ]),
);
const git = spawnSync("git", ["-C", root, "describe", "--always", "--dirty"], { encoding: "utf8" });
const source = git.status === 0 ? git.stdout.trim() : (process.env.MESHKV_COMMIT ?? "unknown");
add("Machine", machineTable(root, { "meshkv source (git describe)": source, ...peerVersions }));

const meshkvNames = runtimes.map((r) => `meshkv ${r}`);
const targets: Record<string, string | number>[] = [];
for (const level of levels) {
  for (const w of workloads) {
    const got = meshkvNames.map((s) => get(s, level, w.name)).filter((r) => r !== undefined);
    if (got.length === 0) continue;
    const tput = got.map((r) => r.result.opsPerSec);
    const row: Record<string, string | number> = { level, workload: w.name };
    for (const r of got) {
      row[r.system.replace("meshkv ", "")] = `${Math.round(r.result.opsPerSec)} (p99 ${r.result.all.p99.toFixed(1)})`;
    }
    row["fastest/slowest"] = (Math.max(...tput) / Math.max(1, Math.min(...tput))).toFixed(2);
    targets.push(row);
  }
}
add("Runtimes side by side (ops/s, p99 ms)", mdTable(targets));
for (const w of workloads) {
  add(
    `Workload ${w.name}: ${w.description}`,
    workloadTable(rows.filter((r) => r.workload === w.name)),
  );
}

const check = (ok: boolean | null) => (ok === null ? "n/a" : ok ? "met" : "missed");
const noDelay = rows.filter((r) => r.system.startsWith("meshkv") && !r.system.includes("+"));
const delayed = rows.filter((r) => r.system.startsWith("meshkv") && r.system.includes("+"));
const spread = targets.map((t) => Number(t["fastest/slowest"]));
/** Issue 18's goals, each over every meshkv cluster without delay (the ratio against etcd in this run). */
const timesEtcd = (workload: string) => {
  const etcd = get("etcd", "quorum", workload);
  const ours = noDelay.filter((r) => r.level === "quorum" && r.workload === workload);
  if (!etcd || ours.length === 0) return { measured: "n/a", ok: null };
  const ratios = ours.map((r) => r.result.opsPerSec / etcd.result.opsPerSec);
  return {
    measured: ours.map((r, i) => `${r.system.replace("meshkv ", "")} ${ratios[i]!.toFixed(2)}x`).join(", "),
    ok: ratios.every((x) => x >= 3),
  };
};
const aQ = noDelay.filter((r) => r.level === "quorum" && r.workload === "A");
const worst = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
const oneVsQuorum = noDelay.filter((r) => r.level === "one").map((r) => {
  const q = get(r.system, "quorum", r.workload);
  return q ? { r, ratio: r.result.opsPerSec / q.result.opsPerSec } : null;
}).filter((x) => x !== null);
const nodeA = get("meshkv node", "quorum", "A");
const localQ = delayed.filter((r) => r.level === "local_quorum");
const delayQ = delayed.filter((r) => r.level === "quorum");
const delayOneWayMs = Number(/=(\d+)/.exec(delay)?.[1] ?? NaN);
const targetRows = [
  { target: "A at quorum: at least 3x etcd on every runtime and mixed", ...timesEtcd("A") },
  {
    target: "A at quorum: p50 <= 3 ms and p99 <= 10 ms",
    measured: `worst p50 ${worst(aQ.map((r) => r.result.all.p50)).toFixed(1)} ms, p99 ${
      worst(aQ.map((r) => r.result.all.p99)).toFixed(1)
    } ms`,
    ok: aQ.length ? aQ.every((r) => r.result.all.p50 <= 3 && r.result.all.p99 <= 10) : null,
  },
  { target: "C at quorum: at least 3x etcd", ...timesEtcd("C") },
  {
    target: "one at least as fast as quorum on every workload",
    measured: oneVsQuorum.length
      ? `lowest one/quorum ${Math.min(...oneVsQuorum.map((x) => x!.ratio)).toFixed(2)} (${
        oneVsQuorum.reduce((a, b) => (b!.ratio < a!.ratio ? b : a))!.r.system
      } ${oneVsQuorum.reduce((a, b) => (b!.ratio < a!.ratio ? b : a))!.r.workload})`
      : "n/a",
    ok: oneVsQuorum.length ? oneVsQuorum.every((x) => x!.ratio >= 1) : null,
  },
  {
    target: "server CPU per op, A at quorum on Node: <= 250 µs",
    measured: nodeA?.result.serverCpuUsPerOp == null ? "n/a" : `${Math.round(nodeA.result.serverCpuUsPerOp)} µs`,
    ok: nodeA?.result.serverCpuUsPerOp == null ? null : nodeA.result.serverCpuUsPerOp <= 250,
  },
  {
    target: `${delayOneWayMs} ms between regions: local_quorum p99 <= 10 ms`,
    measured: localQ.length ? `worst p99 ${worst(localQ.map((r) => r.result.all.p99)).toFixed(1)} ms` : "n/a",
    ok: localQ.length ? localQ.every((r) => r.result.all.p99 <= 10) : null,
  },
  {
    target: `${delayOneWayMs} ms between regions: quorum pays one WAN round trip, no more (p50 < 2 round trips)`,
    measured: delayQ.length ? `worst p50 ${worst(delayQ.map((r) => r.result.all.p50)).toFixed(1)} ms` : "n/a",
    ok: delayQ.length ? delayQ.every((r) => r.result.all.p50 < 4 * delayOneWayMs) : null,
  },
  {
    target: "no runtime more than 2x slower than the fastest",
    measured: `worst ratio ${Math.max(0, ...spread).toFixed(2)}`,
    ok: spread.length ? Math.max(...spread) <= 2 : null,
  },
];
add(
  "Targets (issue 18; reported, not asserted)",
  mdTable(targetRows.map((t) => ({ target: t.target, measured: t.measured, verdict: check(t.ok) }))),
);
if (profileText) add("CPU profile", profileText);
const svgName = basename(out).replace(/\.md$/, "") + ".svg";
add("Chart", `![throughput and p99 per system](${svgName})\n`);
add(
  "Notes",
  [
    "- `gen CPU` is the CPU the load generator itself used during the measured window, in cores: the rest of the machine's 2 cores was left to the system under test (and to whatever else ran).",
    "- `server CPU µs/op` is the CPU (user + system, from /proc) of all the system's processes over the measured window, divided by the operations completed in it: steadier than throughput on a shared machine.",
    "- `±` is the coefficient of variation of throughput over 500 ms windows within the run. The machine is small and shared, and the generator, all three nodes and the peers share its cores, so differences under about 20% are noise; compare medians of several runs (`--repeat`).",
    "- meshkv: one SDK client per node (the SDK's compiled build, as npm installs it), workers pinned round-robin; updates send the last context the client saw for the key (a blind write would keep the old value as a sibling); F is the SDK's `update()` (read, then strict write, retried after a lost race).",
    "- etcd: through the v3 JSON gateway with the same fetch; `one` = serializable reads, `quorum` = linearizable reads; writes always go through Raft with fsync. F is a txn comparing mod_revision, retried after a lost race.",
    "- Redis: one server, no replication, no persistence (upper bound), RESP over node:net, one connection per worker; F is WATCH/GET/MULTI/SET/EXEC.",
    ...notes.map((n) => `- ${n}`),
  ].join("\n") + "\n",
);

const report = `# YCSB: meshkv across runtimes, beside etcd and Redis (${quick ? "quick" : "full"} run, ${date})\n\n${
  sections.join("\n")
}`;
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, report);
// The raw rows too, so later tooling can compare runs without parsing Markdown.
writeFileSync(
  out.replace(/\.md$/, "") + ".json",
  JSON.stringify({ date, quick, records, run, replicas, rows }, null, 1) + "\n",
);
writeFileSync(
  join(dirname(out), svgName),
  chart(
    rows,
    `YCSB, ${records.toLocaleString("en-US")} records, ${run.inflight} in flight (${date}${quick ? ", quick" : ""})`,
  ),
);
console.log(sections.join("\n"));
log(`wrote ${out} and ${svgName} in ${Math.round((performance.now() - started) / 1000)} s`);
process.exit(0);
