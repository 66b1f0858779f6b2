/**
 * `meshkv dev`: the cluster layout it plans (pure), and the command as a real process on the runtime running
 * this file (the suite runs on all three): three nodes that see each other, serve the API, stop on SIGINT and
 * come back with their data and ids.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseFlags } from "../../src/cli/args.ts";
import { DEV_FLAGS, DEV_NODES, DEV_REGION_DELAYS, DEV_REPLICATION, planDevCluster } from "../../src/cli/dev.ts";
import { START_FLAGS } from "../../src/cli/start.ts";
import { isMeshkvError } from "../../src/errors.ts";
import { realRuntime, tempDir } from "../_helpers.ts";
import { HOST_MISREPORTS_SIGNAL_EXIT, runCli, type RuntimeKind, startProcess } from "../_process.ts";

const rt = await realRuntime();
const kind = rt.name as RuntimeKind;

const plan = (...argv: string[]) => planDevCluster(parseFlags(argv, DEV_FLAGS).flags);

test("planDevCluster() lays out us-east-1, eu-west-1 and ap-south-1 on consecutive ports under one data root", () => {
  const nodes = plan();
  assert.equal(nodes.map((n) => [n.id, n.datacenter, n.dir]), [
    ["us-east-1", "us-east", "./data/dev/us-east-1"],
    ["eu-west-1", "eu-west", "./data/dev/eu-west-1"],
    ["ap-south-1", "ap-south", "./data/dev/ap-south-1"],
  ]);
  const flags = nodes.map((n) => parseFlags(n.argv, START_FLAGS).flags); // every plan is valid for meshkv start
  assert.equal(flags.map((f) => f.port), [7400, 7401, 7402]);
  for (const [i, f] of flags.entries()) {
    assert.is(f.id, DEV_NODES[i]!.id);
    assert.is(f.datacenter, DEV_NODES[i]!.datacenter);
    assert.is(f["mesh-preset"], "fast");
    assert.is(f.host, "127.0.0.1");
    assert.is(f["region-delays"], DEV_REGION_DELAYS);
    assert.is(f.seeds, undefined, "seeds are added once the first node listens");
  }
  assert.equal(plan("--port", "9000", "--data", "/srv/kv/").map((n) => [n.dir, n.argv[n.argv.indexOf("--port") + 1]]), [
    ["/srv/kv/us-east-1", "9000"],
    ["/srv/kv/eu-west-1", "9001"],
    ["/srv/kv/ap-south-1", "9002"],
  ]);
  assert.ok(
    plan("--port", "0").every((n) => n.argv[n.argv.indexOf("--port") + 1] === "0"),
    "--port 0 lets each node pick a free port",
  );
});

test("planDevCluster() drops the delays with --no-delays, checks --region-delays, and asks for one replica per region when start can", () => {
  assert.ok(plan("--no-delays").every((n) => !n.argv.includes("--region-delays")));
  assert.ok(
    plan("--region-delays", "us-east|eu-west=5").every((n) =>
      n.argv.join(" ").includes("--region-delays us-east|eu-west=5")
    ),
  );
  try {
    plan("--region-delays", "us-east=5");
    assert.unreachable("a delay without from|to is refused");
  } catch (err) {
    assert.ok(isMeshkvError(err, "INVALID_ARGUMENT"));
    assert.match((err as Error).message, /from\|to/);
  }
  const withReplication = {
    ...START_FLAGS,
    replication: { type: "string" as const, description: "per-datacenter factors" },
  };
  const flags =
    parseFlags(planDevCluster(parseFlags([], DEV_FLAGS).flags, withReplication)[0]!.argv, withReplication).flags;
  assert.is(flags.replication, DEV_REPLICATION);
  const { replication: _r, ...withoutReplication } = START_FLAGS;
  assert.ok(
    planDevCluster(parseFlags([], DEV_FLAGS).flags, withoutReplication).every((n) => !n.argv.includes("--replication")),
  );
});

interface DevProcess {
  endpoints: string[];
  output(): string;
  /** Sends the signal and waits for the exit code (null where the host misreports it, see _process.ts). */
  stop(signal?: "SIGINT" | "SIGTERM"): Promise<number | null>;
}

/** Starts `meshkv dev` and waits for its endpoints line. */
async function startDev(args: string[], timeoutMs = 40_000): Promise<DevProcess> {
  const p = await startProcess(kind, ["dev", ...args], timeoutMs, /^meshkv dev: endpoints (.+)$/m);
  return { endpoints: p.url.trim().split(" "), output: p.output, stop: p.stop };
}

// deno-lint-ignore no-explicit-any
async function json(url: string): Promise<any> {
  const res = await fetch(url);
  assert.is(res.status, 200, `${url} answered ${res.status}`);
  return await res.json();
}

/**
 * GETs a key and returns its text. A 503 is retried for a few seconds, any other status fails at once: once,
 * on a machine loaded far past its two cores (load average about 20), a read right after a restart answered
 * 503 although every node had reported ready; the fast gossip preset may suspect a starved node for a moment
 * (not pinned down). The value must still come back, unchanged.
 */
async function readBack(url: string, retryMs = 5000): Promise<string> {
  const start = performance.now();
  for (;;) {
    const res = await fetch(url);
    if (res.status === 200) return await res.text();
    const body = await res.text();
    if (res.status !== 503 || performance.now() - start > retryMs) {
      assert.unreachable(`GET ${url} answered ${res.status}: ${body}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(`meshkv dev on ${kind} runs three regions that see each other, serves them, stops on SIGINT and restarts with its data`, async () => {
  const root = await tempDir(rt.fs, "cli-dev");
  const first = await startDev(["--port", "0", "--data", root]);
  let code: number | null;
  try {
    assert.is(first.endpoints.length, 3, first.output());
    const health = await Promise.all(first.endpoints.map((u) => json(`${u}/health`)));
    assert.equal(health.map((h) => [h.status, h.nodeId]), DEV_NODES.map((n) => ["ok", n.id]));
    const { members } = await json(`${first.endpoints[1]}/v1/admin/members`);
    assert.equal(
      members.map((m: { id: string; datacenter: string; status: string }) => [m.id, m.datacenter, m.status]).sort(),
      DEV_NODES.map((n) => [n.id, n.datacenter, "alive"]).sort(),
    );

    const out = first.output();
    assert.match(out, /import \{ createClient \} from "meshkv\/client";/);
    assert.ok(
      out.includes(`createClient({ endpoints: [${first.endpoints.map((u) => JSON.stringify(u)).join(", ")}] })`),
      "the SDK snippet names the three endpoints",
    );
    assert.ok(
      out.includes(`curl -X PUT -H 'content-type: text/plain' --data world ${first.endpoints[0]}/v1/kv/hello`),
      "a curl line writes through the first node",
    );
    assert.ok(
      out.includes(`curl ${first.endpoints[1]}/v1/kv/hello`),
      "and another reads it back through the second (replicated)",
    );
    assert.match(out, /region delays \(one-way, ms\): us-east\|eu-west=40/);
    assert.is(
      out.split("insecure development secret").length - 1,
      1,
      "the dev-secret warning is printed once, not once per node",
    );
    assert.match(out, /meshkv \[eu-west-1\]: member us-east-1 joined/, "member lines say which node logged them");

    const put = await fetch(`${first.endpoints[0]}/v1/kv/dev-key`, {
      method: "PUT",
      body: "from dev",
      headers: { "content-type": "text/plain" },
    });
    assert.is(put.status, 201);
    await put.body?.cancel();
    assert.is(await readBack(`${first.endpoints[0]}/v1/kv/dev-key`), "from dev");
    // One replica per region and quorum reads and writes: another region reads what the first one wrote.
    assert.is(await readBack(`${first.endpoints[2]}/v1/kv/dev-key`), "from dev");
  } finally {
    code = await first.stop("SIGINT");
  }
  assert.is(code, HOST_MISREPORTS_SIGNAL_EXIT ? null : 0, first.output());
  assert.match(first.output(), /meshkv dev: stopped us-east-1, eu-west-1, ap-south-1/);

  const second = await startDev(["--port", "0", "--data", root, "--no-delays"]);
  try {
    assert.is((await json(`${second.endpoints[0]}/health`)).nodeId, "us-east-1");
    assert.is(await readBack(`${second.endpoints[0]}/v1/kv/dev-key`), "from dev");
    assert.match(second.output(), /region delays \(one-way, ms\): off/);
  } finally {
    code = await second.stop("SIGTERM");
  }
  assert.is(code, HOST_MISREPORTS_SIGNAL_EXIT ? null : 0, second.output());
  assert.match(second.output(), /meshkv dev: stopped/);
  await rt.fs.remove(root, { recursive: true });
});

test(`meshkv dev on ${kind} documents its flags and refuses bad ones with exit status 2`, async () => {
  const cases: [string[], RegExp][] = [
    [["dev", "--port", "65534"], /--port must be between 0 and 65533/],
    [["dev", "--bogus"], /Unknown flag --bogus/],
    [["dev", "extra"], /meshkv dev takes no arguments: got "extra"/],
    [["dev", "--region-delays", "us-east=40"], /Region delay key must be "from\|to"/],
  ];
  const [help, usage, ...results] = await Promise.all([
    runCli(kind, ["dev", "--help"]),
    runCli(kind, ["help"]),
    ...cases.map(([args]) => runCli(kind, args)),
  ]);
  results.forEach((r, i) => {
    assert.is(r.code, 2, `${cases[i]![0].join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, cases[i]![1]);
  });
  assert.is(help.code, 0);
  for (const flag of ["--port", "--data", "--region-delays", "--no-delays"]) {
    assert.ok(help.stdout.includes(flag), `help lists ${flag}`);
  }
  assert.match(help.stdout, /us-east-1 \(us-east\), eu-west-1 \(eu-west\), ap-south-1 \(ap-south\)/);
  assert.match(usage.stdout, /^ {2}dev +Run a local three-region cluster/m);
});

test.run();
