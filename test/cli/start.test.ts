/**
 * `meshkv start` as a real process on the runtime running this test file (the suite runs on all three).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { realRuntime, tempDir } from "../_helpers.ts";
import { HOST_MISREPORTS_SIGNAL_EXIT, runCli, type RuntimeKind, startProcess } from "../_process.ts";

const rt = await realRuntime();
const kind = rt.name as RuntimeKind;

test(`meshkv start on ${kind} serves /health with node id, runtime and version, and stops on SIGINT`, async () => {
  const data = await tempDir(rt.fs, "cli");
  const node = await startProcess(kind, ["start", "--port", "0", "--data", data, "--id", "alpha"]);
  try {
    const res = await fetch(`${node.url}/health`);
    assert.is(res.status, 200);
    const body = await res.json();
    assert.is(body.status, "ok");
    assert.is(body.nodeId, "alpha");
    assert.is(body.runtime, kind);
    assert.type(body.runtimeVersion, "string");
    assert.is(body.version, "0.1.0");
    const missing = await fetch(`${node.url}/nope`);
    assert.is(missing.status, 404);
    assert.is((await missing.json()).error.code, "NOT_FOUND");
  } finally {
    const code = await node.stop();
    assert.is(code, HOST_MISREPORTS_SIGNAL_EXIT ? null : 0, node.output());
  }
  assert.match(node.output(), /node alpha stopped/);
  await rt.fs.remove(data, { recursive: true });
});

test(`meshkv start on ${kind} keeps its node id and creation time (its place in the ring's join order) in the data directory across restarts`, async () => {
  const data = await tempDir(rt.fs, "cli");
  const startedAt = Date.now();
  const first = await startProcess(kind, ["start", "--port", "0", "--data", data]);
  const id1 = (await (await fetch(`${first.url}/health`)).json()).nodeId;
  const since = async () => Number(new TextDecoder().decode(await rt.fs.readFile(`${data}/SINCE`)));
  const since1 = await since();
  await first.stop();
  const second = await startProcess(kind, ["start", "--port", "0", "--data", data]);
  const id2 = (await (await fetch(`${second.url}/health`)).json()).nodeId;
  const members = (await (await fetch(`${second.url}/v1/admin/members`)).json()).members as {
    id: string;
    since?: number;
  }[];
  await second.stop();
  assert.match(id1, /^n-[0-9a-f]{8}$/);
  assert.is(id2, id1);
  assert.ok(since1 >= startedAt - 1000 && since1 <= Date.now(), `SINCE ${since1}`);
  assert.is(await since(), since1, "a restart keeps the creation time");
  assert.is(members.find((m) => m.id === id1)?.since, since1, "and gossips it");
  const clash = await runCli(kind, ["start", "--port", "0", "--data", data, "--id", "other"]);
  assert.is(clash.code, 2);
  assert.match(clash.stderr, /belongs to node/);
  await rt.fs.remove(data, { recursive: true });
});

test(`meshkv on ${kind} rejects bad flags with a clear message and exit status 2`, async () => {
  const cases: [string[], RegExp][] = [
    [["start", "--port", "abc"], /--port takes a whole number/],
    [["start", "--port", "70000"], /--port must be between 0 and 65535/],
    [["start", "--bogus"], /Unknown flag --bogus/],
    [["start", "--id", "bad id!"], /Node id must be/],
    [["start", "--compression", "zstd"], /--compression takes none or deflate: got "zstd"/],
    [["start", "--cache-bytes", "-1"], /--cache-bytes must be between 0 and/],
    [["start", "--sync-interval-ms", "1001"], /--sync-interval-ms must be between 0 and 1000/],
    [["start", "--sync-interval-ms", "2.5"], /--sync-interval-ms takes a whole number/],
    [["start", "--cache-bytes", "8MiB"], /--cache-bytes takes a whole number/],
    [["frobnicate"], /Unknown command: frobnicate/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(kind, args);
    assert.is(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const help = await runCli(kind, ["start", "--help"]);
  assert.is(help.code, 0);
  for (const flag of ["--id", "--host", "--port", "--data"]) {
    assert.ok(help.stdout.includes(flag), `help lists ${flag}`);
  }
});

test(`meshkv start on ${kind} stores data on disk: a value written over HTTP is read back after a restart with other storage knobs`, async () => {
  const data = await tempDir(rt.fs, "cli");
  const first = await startProcess(kind, ["start", "--port", "0", "--data", data, "--durability", "always"]);
  try {
    const put = await fetch(`${first.url}/v1/kv/greeting`, {
      method: "PUT",
      body: "hello",
      headers: { "content-type": "text/plain" },
    });
    assert.ok(put.status === 201 || put.status === 204, `PUT answered ${put.status}`);
    await put.body?.cancel();
  } finally {
    await first.stop();
  }
  // Restarted with the storage knobs: new tables are deflated, old ones still read, the cache has its size.
  const second = await startProcess(kind, [
    "start",
    "--port",
    "0",
    "--data",
    data,
    "--compression",
    "deflate",
    "--cache-bytes",
    "1048576",
    "--sync-interval-ms",
    "12",
  ]);
  try {
    const storage = (await (await fetch(`${second.url}/v1/admin/status`)).json()).storage;
    assert.is(storage.compression, "deflate");
    assert.is(storage.cacheBytesMax, 1048576);
    assert.is(storage.durability, "batch");
    assert.is(storage.syncIntervalMs, 12);
    const got = await fetch(`${second.url}/v1/kv/greeting`);
    assert.is(got.status, 200);
    assert.is(await got.text(), "hello");
    assert.ok(got.headers.get("x-meshkv-context"), "a read carries its causal context");
    const missing = await fetch(`${second.url}/v1/kv/absent`);
    assert.is(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await second.stop();
  }
  await rt.fs.remove(data, { recursive: true });
});

test(`meshkv start on ${kind} checks bearer tokens when given, and refuses a non-loopback address without them`, async () => {
  const data = await tempDir(rt.fs, "cli");
  const refused = await runCli(kind, ["start", "--port", "0", "--data", data, "--host", "0.0.0.0"]);
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /without --tokens/);
  const short = await runCli(kind, ["start", "--port", "0", "--data", data, "--tokens", "admin:short"]);
  assert.is(short.code, 2);
  assert.match(short.stderr, /16 to 512 characters/);
  const reader = "r".repeat(20);
  const writer = "w".repeat(20);
  const node = await startProcess(kind, [
    "start",
    "--port",
    "0",
    "--data",
    data,
    "--tokens",
    `read:${reader},write:${writer}`,
  ]);
  try {
    const anon = await fetch(`${node.url}/v1/kv/k`);
    assert.is(anon.status, 401);
    assert.is((await anon.json()).error.code, "UNAUTHORIZED");
    const denied = await fetch(`${node.url}/v1/kv/k`, {
      method: "PUT",
      body: "x",
      headers: { authorization: `Bearer ${reader}` },
    });
    assert.is(denied.status, 403);
    await denied.body?.cancel();
    const ok = await fetch(`${node.url}/v1/kv/k`, {
      method: "PUT",
      body: "x",
      headers: { authorization: `Bearer ${writer}` },
    });
    assert.ok(ok.status < 300, `write with a write token answered ${ok.status}`);
    await ok.body?.cancel();
    assert.ok(!node.output().includes(writer), "tokens never appear in the log");
  } finally {
    await node.stop();
  }
  await rt.fs.remove(data, { recursive: true });
});

test.run();
