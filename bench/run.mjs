#!/usr/bin/env node
// Runs benchmarks on Node, Deno and Bun, one after the other, so their tables can be compared side by side.
// Usage: node bench/run.mjs [--runtime node,deno,bun] [core|storage|gossip|mesh|ycsb ...] [-- extra args, e.g. --quick]
// Drivers (ycsb) start their own nodes on every runtime and hold the load generator fixed on Node, so they run
// once, on Node; an explicit --runtime is passed on to them as the runtimes of the clusters they start.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (n) => join(root, "node_modules", ".bin", n);
const RUNTIMES = {
  node: (file) => [process.execPath, ["--import", "tsx", file]],
  deno: (file) => [bin("deno"), ["run", "-A", file]],
  bun: (file) => [bin("bun"), [file]],
};

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const extra = dash === -1 ? [] : argv.slice(dash + 1);
const own = dash === -1 ? argv : argv.slice(0, dash);
// Benchmarks that drive real clusters themselves: run once on Node (not part of the default set: minutes long).
const DRIVERS = new Set(["ycsb"]);
// Benchmarks of the load generator, which always runs on Node: run once, on Node, without --runtimes.
const NODE_ONLY = new Set(["generator"]);
let runtimes = Object.keys(RUNTIMES);
let runtimeFlag = null;
const names = [];
for (let i = 0; i < own.length; i++) {
  if (own[i] === "--runtime") runtimes = runtimeFlag = String(own[++i]).split(",");
  else names.push(own[i]);
}
const wanted = (names.length ? names : ["core", "storage", "gossip", "mesh"]).filter((n) =>
  existsSync(join(root, "bench", `${n}.ts`))
);
let failed = 0;
for (const name of wanted) {
  if (DRIVERS.has(name)) {
    console.log(`\n===== bench/${name}.ts (load generator on node; it starts the nodes on each runtime) =====`);
    const [cmd, args] = RUNTIMES.node(join(root, "bench", `${name}.ts`));
    const pass = runtimeFlag && !extra.includes("--runtimes") ? ["--runtimes", runtimeFlag.join(",")] : [];
    const r = spawnSync(cmd, [...args, ...pass, ...extra], { cwd: root, stdio: "inherit" });
    if (r.status !== 0) failed++;
    continue;
  }
  for (const rt of NODE_ONLY.has(name) ? ["node"] : runtimes) {
    console.log(`\n===== bench/${name}.ts on ${rt} =====`);
    const [cmd, args] = RUNTIMES[rt](join(root, "bench", `${name}.ts`));
    const r = spawnSync(cmd, [...args, ...extra], { cwd: root, stdio: "inherit" });
    if (r.status !== 0) failed++;
  }
}
process.exit(failed ? 1 : 0);
