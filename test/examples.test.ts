/**
 * The examples in `examples/` run as real processes on the runtime running this test file (the suite runs
 * on all three), against a node started with `meshkv start`, so they cannot rot: each must exit 0 and print
 * the lines its README promises.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { realRuntime, repoRoot, tempDir } from "./_helpers.ts";
import { type RuntimeKind, startProcess } from "./_process.ts";

const rt = await realRuntime();
const kind = rt.name as RuntimeKind;

function runExample(name: string, endpoint: string): Promise<{ code: number | null; out: string }> {
  const file = join(repoRoot, "examples", name);
  const bin = (n: string) => join(repoRoot, "node_modules", ".bin", n);
  const [cmd, args] = kind === "node"
    ? ["node", ["--import", "tsx", file]]
    : kind === "deno"
    ? [bin("deno"), ["run", "-A", "--quiet", file]]
    : [bin("bun"), [file]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args as string[], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, MESHKV_ENDPOINT: endpoint, NO_COLOR: "1" },
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`examples/${name} on ${kind} did not finish in 15 s:\n${out}`));
    }, 15_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const expected: Record<string, RegExp[]> = {
  "quickstart.ts": [
    /get: Ada, joined 2024-01-02T03:04:05\.000Z, roles admin/,
    /get of a missing key: null/,
    /update: visits = 3/,
    /list: user:42 -> Ada\nlist: user:7 -> Grace/,
    /watch: put events\/1 = signed up\nwatch: put events\/2 = paid\nwatch: delete events\/1/,
  ],
  "siblings.ts": [
    /after two blind writes: 2 siblings/,
    /get: 2 values: /,
    /resolved with the context: 1 sibling, value \["apple","bread"\]/,
    /update\(\): 1 sibling, value \["apple","bread","cheese","dates"\]/,
    /strict write with an old context: STALE_CONTEXT/,
  ],
  "consistency.ts": [
    /get "one": dark/,
    /get "all": dark/,
    /put "one": ok, now light/,
    /get \{ r: 2 \}: INVALID_ARGUMENT \(status 400\)/,
    /put \{ w: 3 \}: INVALID_ARGUMENT \(status 400\)/,
  ],
};

test(`the examples run on ${kind} against a meshkv node and print what they promise`, async () => {
  const data = await tempDir(rt.fs, "examples");
  const node = await startProcess(kind, ["start", "--port", "0", "--data", data]);
  try {
    const names = Object.keys(expected);
    const results = await Promise.all(names.map((name) => runExample(name, node.url)));
    results.forEach(({ code, out }, i) => {
      const name = names[i]!;
      assert.is(code, 0, `examples/${name} exited with ${code}:\n${out}`);
      assert.ok(out.includes(`Talking to ${node.url}`), `examples/${name} reads MESHKV_ENDPOINT:\n${out}`);
      for (const line of expected[name]!) assert.match(out, line, `examples/${name}:\n${out}`);
      assert.match(out, /\ndone\n$/);
    });
  } finally {
    await node.stop();
  }
  await rt.fs.remove(data, { recursive: true });
});

test.run();
