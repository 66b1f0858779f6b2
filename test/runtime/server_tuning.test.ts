/**
 * `Runtime.tuneForServer`: `meshkv start` tunes the runtime for a long-running server before the node opens, and
 * on Node the V8 flag it sets is one this Node's V8 knows (`v8.setFlagsFromString` ignores an unknown flag without
 * a word, so a Node that dropped it would quietly lose the tuning). Deno takes the same flag on its command line,
 * from `deno task start`. Why the flag: docs/bench.md, fifteenth and sixteenth rounds.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyDefaults } from "../../src/cli/args.ts";
import { START_FLAGS, startNode } from "../../src/cli/start.ts";
import { DENO_SERVER_V8_ARG, SERVER_V8_FLAGS } from "../../src/runtime/_v8_flags.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import { realRuntime, repoRoot, tempDir } from "../_helpers.ts";

const rt = await realRuntime();

test(`${rt.name}: startNode tunes the runtime once, and the tuned node serves`, async () => {
  const dir = await tempDir(rt.fs, "tune");
  let calls = 0;
  // The real runtime with only the hook replaced (its own methods stay on the prototype).
  const tuned: Runtime = Object.assign(Object.create(rt) as Runtime, {
    tuneForServer() {
      calls++;
    },
  });
  const flags = applyDefaults({
    id: "t1",
    host: "127.0.0.1",
    port: 0,
    data: `${dir}/t1`,
    "mesh-preset": "fast",
    replicas: 1,
    partitions: 16,
    secret: "tune-test-secret",
  }, START_FLAGS);
  const node = await startNode(tuned, flags, { label: "t1", warn: false });
  try {
    assert.is(calls, 1, "tuned once");
    const res = await fetch(`${node.url}/health`);
    await res.body?.cancel();
    assert.is(res.status, 200, "the tuned node serves");
  } finally {
    await node.stop();
  }
});

test(`${rt.name}: the runtime's tuning hook is what its adapter offers`, () => {
  // Node sets a V8 flag; Deno takes V8 flags only on its command line (deno.json) and Bun has no such setting.
  assert.is(typeof rt.tuneForServer, rt.name === "node" ? "function" : "undefined");
});

test(`${rt.name}: deno task start passes the server's V8 flags, and Deno knows them`, () => {
  const deno = join(repoRoot, "node_modules", ".bin", "deno");
  const task: string = JSON.parse(readFileSync(join(repoRoot, "deno.json"), "utf8")).tasks.start;
  assert.ok(task.includes(` ${DENO_SERVER_V8_ARG} src/cli/main.ts start`), `deno.json's start task: ${task}`);
  // The task as a user runs it: Deno exits with an error before running anything when V8 refuses a flag.
  const help = spawnSync(deno, ["task", "start", "--help"], { cwd: repoRoot, encoding: "utf8" });
  assert.is(help.status, 0, `deno task start --help: ${help.stderr}`);
  assert.match(help.stdout, /Usage: meshkv start/);
  const unknown = spawnSync(deno, ["eval", "--v8-flags=--no-such-v8-flag-for-meshkv", "0"], { encoding: "utf8" });
  assert.is.not(unknown.status, 0, "Deno refuses an unknown V8 flag, so the check above can fail");
});

if (rt.name === "node") {
  // Imported here: the Node adapter's dependencies are not for Deno and Bun to load.
  const { nodeRuntime } = await import("../../src/runtime/node.ts");
  test("node: V8 knows the flag meshkv start sets, and setting it twice is harmless", () => {
    const known = spawnSync(process.execPath, [...SERVER_V8_FLAGS.split(" "), "-e", "0"], { encoding: "utf8" });
    assert.is(known.status, 0, `node ${SERVER_V8_FLAGS}: ${known.stderr}`);
    const unknown = spawnSync(process.execPath, ["--no-such-v8-flag-for-meshkv", "-e", "0"], { encoding: "utf8" });
    assert.is.not(unknown.status, 0, "an unknown flag is refused on the command line, so the check above can fail");
    nodeRuntime.tuneForServer!();
    nodeRuntime.tuneForServer!();
  });
}

test.run();
