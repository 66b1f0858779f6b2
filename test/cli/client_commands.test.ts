/**
 * `meshkv status|get|put|delete|list` as real processes against a node started with `meshkv start`, on the
 * runtime running this test file (the suite runs on all three).
 */
import { spawn } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { realRuntime, repoRoot, tempDir } from "../_helpers.ts";
import { commandFor, runCli, type RuntimeKind, startProcess } from "../_process.ts";

const rt = await realRuntime();
const kind = rt.name as RuntimeKind;

/** CLI processes run at once: a larger burst on a loaded 2-core machine starves some past their timeout. */
const CLI_PARALLEL_MAX = 3;

/** Runs the jobs at most CLI_PARALLEL_MAX at a time; results in the jobs' order. */
async function bounded<const T extends readonly (() => Promise<unknown>)[]>(
  jobs: T,
): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const out: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(CLI_PARALLEL_MAX, jobs.length) }, worker));
  return out as { -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> };
}

test(`meshkv put, get, list, delete and status on ${kind} work against a running node`, async () => {
  const data = await tempDir(rt.fs, "cli-client");
  const node = await startProcess(kind, ["start", "--port", "0", "--data", data]);
  const cli = (...args: string[]) => runCli(kind, [...args, "--endpoint", node.url]);
  try {
    const [text, json, ttl] = await Promise.all([
      cli("put", "greeting", "hello world"),
      cli("put", "user/1", '{"name":"Ada","tags":["x"]}', "--json"),
      cli("put", "user/2", "temp", "--ttl", "60000"),
    ]);
    for (const r of [text, json, ttl]) assert.is(r.code, 0, r.stderr);
    assert.match(text.stdout, /created greeting/);

    const [got, gotJson, list, keys, status] = await bounded([
      () => cli("get", "greeting"),
      () => cli("get", "user/1", "--consistency", "one"),
      () => cli("list", "--prefix", "user/"),
      () => cli("list", "--keys-only", "--limit", "2"),
      () => cli("status"),
    ]);
    assert.is(got.code, 0, got.stderr);
    assert.is(got.stdout, "hello world\n");
    assert.is(gotJson.stdout, `${JSON.stringify({ name: "Ada", tags: ["x"] }, null, 2)}\n`);
    assert.is(list.code, 0, list.stderr);
    assert.is(list.stdout, `user/1\t{"name":"Ada","tags":["x"]}\nuser/2\ttemp\n`);
    assert.is(keys.stdout, "greeting\nuser/1\n");
    assert.is(status.code, 0, status.stderr);
    const state = JSON.parse(status.stdout);
    assert.type(state.nodeId, "string");
    assert.ok(["single-node", "cluster"].includes(state.mode), `status mode ${state.mode}`);

    const [again, unmet] = await Promise.all([
      cli("put", "greeting", "bonjour", "--if-none-match"),
      cli("get", "user/1", "--consistency", "r=2"),
    ]);
    assert.is(again.code, 1);
    assert.match(again.stderr, /meshkv: KEY_EXISTS: /);

    // A blind second write keeps the first as a sibling: get prints both, with a note on stderr.
    assert.match((await cli("put", "greeting", "hallo")).stdout, /2 siblings/);
    const siblings = await cli("get", "greeting");
    assert.is(siblings.code, 0);
    assert.equal(siblings.stdout.trim().split("\n").sort(), ["hallo", "hello world"]);
    assert.match(siblings.stderr, /greeting has 2 siblings/);

    const del = await cli("delete", "greeting");
    assert.is(del.code, 0, del.stderr);
    const missing = await cli("get", "greeting");
    assert.is(missing.code, 1);
    assert.is(missing.stdout, "");
    assert.match(missing.stderr, /meshkv: KEY_NOT_FOUND: Key "greeting" has no value/);

    assert.is(unmet.code, 1);
    assert.match(unmet.stderr, /meshkv: INVALID_ARGUMENT: .*replica/);

    // remove refuses an unknown node and the node asked, changing nothing.
    const [unknown, self] = await Promise.all([cli("remove", "nobody", "--dry-run"), cli("remove", state.nodeId)]);
    assert.is(unknown.code, 1);
    assert.match(unknown.stderr, /meshkv: NODE_UNKNOWN: No member of the cluster is named "nobody"/);
    assert.is(self.code, 1);
    assert.match(self.stderr, /meshkv: INVALID_ARGUMENT: .*cannot remove itself/);
  } finally {
    await node.stop();
  }
  await rt.fs.remove(data, { recursive: true });
});

test(`meshkv client commands on ${kind} reject bad flags with exit 2 and report an unreachable node with exit 1`, async () => {
  const cases: [string[], RegExp][] = [
    [["get", "k", "--bogus"], /Unknown flag --bogus/],
    [["get"], /get takes KEY: got 0 arguments/],
    [["put", "k", "{nope", "--json"], /VALUE is not JSON/],
    [["list", "--limit", "0"], /--limit must be between 1/],
    [["get", "k", "--consistency", "most"], /--consistency takes one, quorum/],
    [["get", "k", "--endpoint", "ftp://x"], /--endpoint takes http\(s\) URLs/],
    [["remove"], /remove takes NODE: got 0 arguments/],
  ];
  const [down, help, usage, ...results] = await bounded([
    () => runCli(kind, ["get", "k", "--endpoint", "http://127.0.0.1:9"]),
    () => runCli(kind, ["put", "--help"]),
    () => runCli(kind, ["help"]),
    ...cases.map(([args]) => () => runCli(kind, args)),
  ]);
  results.forEach((r, i) => {
    assert.is(r.code, 2, `${cases[i]![0].join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, cases[i]![1]);
  });
  assert.is(down.code, 1, down.stderr);
  assert.match(
    down.stderr,
    /meshkv: CONNECT_FAILED: Request to http:\/\/127\.0\.0\.1:9 failed.*is a node running there/,
  );
  assert.is(help.code, 0);
  for (const flag of ["--endpoint", "--token", "--consistency", "--json", "--ttl", "--if-none-match"]) {
    assert.ok(help.stdout.includes(flag), `help lists ${flag}`);
  }
  for (const cmd of ["status", "get KEY", "put KEY VALUE", "delete KEY", "list", "remove NODE"]) {
    assert.ok(usage.stdout.includes(cmd), `usage lists ${cmd}`);
  }
});

/** Runs the CLI to completion with extra environment variables (`MESHKV_TOKEN` unset unless given). */
function runWithEnv(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, argv] = commandFor(kind, args);
  const base: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  delete base.MESHKV_TOKEN;
  const child = spawn(cmd, argv, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: { ...base, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`meshkv ${args.join(" ")} on ${kind} did not finish in time`));
    }, 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test(`meshkv client commands on ${kind} authenticate with --token or MESHKV_TOKEN, and a missing, wrong or weak token exits 1 with a clear error`, async () => {
  const data = await tempDir(rt.fs, "cli-client");
  const reader = `read-${"r".repeat(20)}`;
  const writer = `write-${"w".repeat(20)}`;
  const wrong = `wrong-${"x".repeat(20)}`;
  const node = await startProcess(kind, [
    "start",
    "--port",
    "0",
    "--data",
    data,
    "--tokens",
    `write:${writer},read:${reader}`,
  ]);
  const cli = (env: Record<string, string>, ...args: string[]) => runWithEnv([...args, "--endpoint", node.url], env);
  try {
    const put = await cli({}, "put", "secret-key", "guarded", "--token", writer);
    assert.is(put.code, 0, put.stderr);
    assert.match(put.stdout, /created secret-key/);

    const [byEnv, writerReads, flagWins, listed, anonymous, wrongFlag, wrongEnv, readerWrites, writerStatus] =
      await bounded([
        () => cli({ MESHKV_TOKEN: reader }, "get", "secret-key"),
        () => cli({}, "get", "secret-key", "--token", writer),
        () => cli({ MESHKV_TOKEN: wrong }, "get", "secret-key", "--token", reader),
        () => cli({ MESHKV_TOKEN: reader }, "list", "--keys-only"),
        () => cli({}, "get", "secret-key"),
        () => cli({}, "get", "secret-key", "--token", wrong),
        () => cli({ MESHKV_TOKEN: wrong }, "delete", "secret-key"),
        () => cli({ MESHKV_TOKEN: reader }, "put", "secret-key", "overwritten"),
        () => cli({}, "status", "--token", writer),
      ]);
    for (const r of [byEnv, writerReads, flagWins]) {
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stdout, "guarded\n");
    }
    assert.is(listed.code, 0, listed.stderr);
    assert.is(listed.stdout, "secret-key\n");
    for (const r of [anonymous, wrongFlag, wrongEnv]) {
      assert.is(r.code, 1, r.stdout + r.stderr);
      assert.is(r.stdout, "");
      assert.match(r.stderr, /^meshkv: UNAUTHORIZED: /);
    }
    for (const r of [readerWrites, writerStatus]) {
      assert.is(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /^meshkv: FORBIDDEN: /);
    }
    const all = [put, byEnv, writerReads, flagWins, listed, anonymous, wrongFlag, wrongEnv, readerWrites, writerStatus]
      .map((r) => r.stdout + r.stderr).join("");
    for (const token of [reader, writer, wrong]) assert.ok(!all.includes(token), "the CLI never prints a token");
    const still = await cli({ MESHKV_TOKEN: reader }, "get", "secret-key");
    assert.is(still.stdout, "guarded\n", "refused writes and deletes changed nothing");
  } finally {
    await node.stop();
  }
  await rt.fs.remove(data, { recursive: true });
});

test.run();
