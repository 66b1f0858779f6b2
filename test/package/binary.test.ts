/**
 * The single-file binary: `npm run build:binary` (bun build --compile, with the Bun that npm installed)
 * makes dist/meshkv, and that one file, copied alone to a directory outside the repository as a team copies
 * it to a VM, runs a node that serves requests. Building takes a few seconds, so it runs in the Node pass of
 * the suite only: the binary carries its own runtime, so the runtime running the test changes nothing.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { realRuntime, repoRoot } from "../_helpers.ts";
import { run } from "./_packed.ts";

const rt = await realRuntime();

if (rt.name === "node") {
  test("npm run build:binary makes one executable that, copied alone elsewhere, starts a node and serves a PUT and a GET", async () => {
    await run("npm", ["run", "build:binary"], repoRoot, 120_000);
    const built = join(repoRoot, "dist", "meshkv");
    assert.ok(existsSync(built) && statSync(built).isFile(), "npm run build:binary must write dist/meshkv");
    const vm = mkdtempSync(join(tmpdir(), "meshkv-binary-"));
    try {
      const exe = join(vm, "meshkv");
      copyFileSync(built, exe);
      const version = (await run(exe, ["version"], vm, 30_000, { PATH: "/usr/bin:/bin" })).trim();
      assert.is(version, (await import("../../src/version.ts")).VERSION);
      // A PATH without node, deno or bun: the binary must need nothing installed.
      const child = spawn(exe, ["start", "--port", "0", "--data", "./data"], {
        cwd: vm,
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: "/usr/bin:/bin", NO_COLOR: "1" },
      });
      let out = "";
      const exited = new Promise<void>((r) => child.on("exit", () => r()));
      try {
        const url = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`the binary did not start in 20 s:\n${out}`)), 20_000);
          const onData = (d: Buffer) => {
            out += d;
            const m = /listening on (http:\/\/[\d.:]+)/.exec(out);
            if (m) {
              clearTimeout(timer);
              resolve(m[1]!);
            }
          };
          child.stdout!.on("data", onData);
          child.stderr!.on("data", onData);
          child.on("exit", (code) => reject(new Error(`the binary exited with ${code}:\n${out}`)));
        });
        const health = (await (await fetch(`${url}/health`)).json()) as { runtime: string };
        assert.is(health.runtime, "bun", "the binary carries Bun");
        const put = await fetch(`${url}/v1/kv/region`, {
          method: "PUT",
          headers: { "content-type": "text/plain" },
          body: "eu-west",
        });
        assert.ok(put.ok, `PUT answered ${put.status}`);
        assert.is(await (await fetch(`${url}/v1/kv/region`)).text(), "eu-west");
      } finally {
        child.kill("SIGINT");
        await exited;
      }
      assert.match(out, /meshkv node \S+ stopped/);
      assert.ok(
        existsSync(join(vm, "data", "NODE_ID")),
        "the node keeps its data beside the binary, where --data said",
      );
    } finally {
      rmSync(vm, { recursive: true, force: true });
    }
  });
} else {
  test.skip(`(Node pass only: the binary carries its own Bun, so ${rt.name} running the test would test nothing more) npm run build:binary makes one executable that serves requests`, () => {});
}

test.run();
