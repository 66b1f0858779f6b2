/**
 * Starts meshkv as a real process on a chosen runtime, the way a user does (`npx meshkv`, `deno task start`,
 * `bun run start`), and waits for its "listening on" line. Used by every test that needs real processes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { DENO_SERVER_V8_ARG } from "../src/runtime/_v8_flags.ts";
import { eventually, repoRoot } from "./_helpers.ts";

/**
 * Deno's `node:child_process` reports every child it sent a signal to as killed by that signal, even when the
 * child handled it and exited with 0 (seen on Deno 2.9). There the exit status is unknown (`null`) and tests
 * check the child's own "stopped" line instead.
 */
export const HOST_MISREPORTS_SIGNAL_EXIT = (globalThis as { Deno?: unknown }).Deno !== undefined;

export type RuntimeKind = "node" | "deno" | "bun";

export function commandFor(runtime: RuntimeKind, args: string[]): [string, string[]] {
  const bin = (n: string) => join(repoRoot, "node_modules", ".bin", n);
  switch (runtime) {
    case "node":
      return ["node", [join(repoRoot, "src/cli/bin.mjs"), ...args]];
    case "deno":
      // As `deno task start` runs it (deno.json), with the server's V8 flags.
      return [bin("deno"), ["run", "-A", "--quiet", DENO_SERVER_V8_ARG, join(repoRoot, "src/cli/main.ts"), ...args]];
    case "bun":
      return [bin("bun"), [join(repoRoot, "src/cli/main.ts"), ...args]];
  }
}

export interface NodeProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** SIGINT and wait for exit; returns the exit code. */
  stop(signal?: "SIGINT" | "SIGTERM"): Promise<number | null>;
  kill9(): Promise<void>;
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runCli(
  runtime: RuntimeKind,
  args: string[],
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, argv] = commandFor(runtime, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`meshkv ${args.join(" ")} on ${runtime} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Starts the CLI and resolves once its output matches `ready` (default: the node's "listening on URL" line);
 * `url` is the pattern's first group.
 */
export function startProcess(
  runtime: RuntimeKind,
  args: string[],
  timeoutMs = 20_000,
  ready = /listening on (https?:\/\/[\w.:[\]-]+)/,
): Promise<NodeProcess> {
  const [cmd, argv] = commandFor(runtime, args);
  const child = spawn(cmd, argv, {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  const exited = new Promise<number | null>((r) =>
    child.on("exit", (code, sig) => r(code ?? (sig && !HOST_MISREPORTS_SIGNAL_EXIT ? 128 : null)))
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`meshkv on ${runtime} did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d;
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          child,
          url: m[1]!,
          output: () => out,
          async stop(signal = "SIGINT") {
            child.kill(signal);
            return await exited;
          },
          async kill9() {
            child.kill("SIGKILL");
            await exited;
          },
        });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d) => (out += d));
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`meshkv on ${runtime} exited with ${code} before listening:\n${out}`));
    });
  });
}

/** A running node's `/v1/admin/status` as JSON. */
export async function nodeStatus(url: string): Promise<Record<string, any>> {
  return (await (await fetch(`${url}/v1/admin/status`)).json()) as Record<string, any>;
}

/** Whether the node at `url` answers `/health` with 200 (joined and serving). */
export async function serving(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`);
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Waits until every node at `urls` serves and they share one settled ring of `owners` members. */
export async function waitFormed(urls: readonly string[], owners: number, timeoutMs = 20_000): Promise<void> {
  await eventually(
    async () => (await Promise.all(urls.map(serving))).every(Boolean),
    timeoutMs,
    50,
    `${urls.length} nodes serving`,
  );
  await eventually(
    async () =>
      (await Promise.all(urls.map(nodeStatus))).every((s) =>
        s.rebalance.acquiring.length === 0 && s.ring.owners.length === owners
      ),
    timeoutMs,
    50,
    `the ring to settle with ${owners} owners`,
  );
}

/**
 * Writes keys `${prefix}${i}` at `quorum` through the nodes (in turn), `workers` at a time, until `stop()`;
 * returns the acknowledged keys with their values. A write that fails or is refused is not acknowledged.
 */
export async function quorumWriteLoad(
  urls: () => readonly string[],
  stop: () => boolean,
  o: { prefix?: string; workers?: number } = {},
): Promise<Map<string, string>> {
  const acked = new Map<string, string>();
  const prefix = o.prefix ?? "k";
  let n = 0;
  const worker = async () => {
    while (!stop()) {
      const i = n++;
      const list = urls();
      try {
        const res = await fetch(`${list[i % list.length]}/v1/kv/${prefix}${i}?consistency=quorum`, {
          method: "PUT",
          body: `value-${i}`,
          headers: { "content-type": "text/plain" },
        });
        if (res.status === 201 || res.status === 204) acked.set(`${prefix}${i}`, `value-${i}`);
        else await res.body?.cancel();
      } catch {
        // a node that just died: the write is not acknowledged
      }
    }
  };
  await Promise.all(Array.from({ length: o.workers ?? 4 }, worker));
  return acked;
}
