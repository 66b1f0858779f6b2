#!/usr/bin/env node
// Runs benchmarks on Node, Deno and Bun, one after the other, so their tables can be compared side by side.
// Usage: node bench/run.mjs [--runtime node,deno,bun] [core|storage|gossip ...] [-- extra args, e.g. --quick]
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
let runtimes = Object.keys(RUNTIMES);
const names = [];
for (let i = 0; i < own.length; i++) {
  if (own[i] === "--runtime") runtimes = String(own[++i]).split(",");
  else names.push(own[i]);
}
const wanted = (names.length ? names : ["core", "storage", "gossip"]).filter((n) => existsSync(join(root, "bench", `${n}.ts`)));
let failed = 0;
for (const name of wanted) {
  for (const rt of runtimes) {
    console.log(`\n===== bench/${name}.ts on ${rt} =====`);
    const [cmd, args] = RUNTIMES[rt](join(root, "bench", `${name}.ts`));
    const r = spawnSync(cmd, [...args, ...extra], { cwd: root, stdio: "inherit" });
    if (r.status !== 0) failed++;
  }
}
process.exit(failed ? 1 : 0);
