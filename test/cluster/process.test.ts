/**
 * Real processes on loopback, started from the CLI the way a user does: nodes find each other through
 * `--seeds`, converge, notice a `kill -9`, take a restarted node back, refuse a peer with the wrong secret and
 * survive garbage on the mesh port. The mixed cluster (one node each on Node, Deno and Bun) runs when the
 * suite runs on Node; every runtime runs a three-node cluster of its own.
 */
import net from "node:net";
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Mesh } from "../../src/mesh/mesh.ts";
import { isMeshkvError } from "../../src/errors.ts";
import { eventually, realRuntime, tempDir } from "../_helpers.ts";
import { type NodeProcess, type RuntimeKind, startProcess } from "../_process.ts";

const rt = await realRuntime();
const kind = rt.name as RuntimeKind;
const host = (process.env.MESHKV_TEST_RUNTIME ?? kind) as RuntimeKind;
const SECRET = "process-test-secret";

interface Member {
  id: string;
  status: string;
  incarnation: number;
  address: string;
}

async function members(url: string): Promise<Member[]> {
  const res = await fetch(`${url}/v1/admin/members`);
  assert.is(res.status, 200);
  return ((await res.json()) as { members: Member[] }).members;
}

async function statusSeenBy(url: string, id: string): Promise<string | undefined> {
  try {
    return (await members(url)).find((m) => m.id === id)?.status;
  } catch {
    return undefined;
  }
}

const addressOf = (url: string) => url.replace(/^http:\/\//, "");

interface MeshStatus {
  tcpPort: number | null;
  links: { peer: string; transport: string; open: boolean }[];
}

/** The runtime a node of these tests runs on: its id starts with it (`deno-2`). */
const runtimeOf = (id: string) => id.slice(0, id.indexOf("-"));

/**
 * Every node has its peers on open links carried by plain TCP (`--mesh-port`, on by default), except links with a
 * Bun node, whose adapter has no plain TCP: those stay WebSockets.
 */
async function linksOnTcp(procs: NodeProcess[], ids: string[]): Promise<boolean> {
  for (const [i, p] of procs.entries()) {
    const mesh = ((await (await fetch(`${p.url}/v1/admin/status`)).json()) as { mesh: MeshStatus }).mesh;
    const self = runtimeOf(ids[i]!);
    if ((typeof mesh.tcpPort === "number") !== (self !== "bun")) return false;
    const open = mesh.links.filter((l) => l.open);
    if (new Set(open.map((l) => l.peer)).size < procs.length - 1) return false;
    for (const l of open) {
      const want = self === "bun" || runtimeOf(l.peer) === "bun" ? "websocket" : "tcp";
      if (l.transport !== want) return false;
    }
  }
  return true;
}

const startArgs = (
  id: string,
  data: string,
) => ["start", "--id", id, "--port", "0", "--data", data, "--mesh-preset", "fast", "--secret", SECRET];

async function start(runtime: RuntimeKind, id: string, data: string, seeds: string[]): Promise<NodeProcess> {
  const args = startArgs(id, data);
  if (seeds.length) args.push("--seeds", seeds.join(","));
  return await startProcess(runtime, args);
}

async function clusterScenario(runtimes: [RuntimeKind, RuntimeKind, RuntimeKind]) {
  const dirs = await Promise.all(runtimes.map((_, i) => tempDir(rt.fs, `mesh-${i}`)));
  const ids = runtimes.map((r, i) => `${r}-${i + 1}`);
  const procs: NodeProcess[] = [];
  try {
    procs.push(await start(runtimes[0], ids[0]!, dirs[0]!, []));
    const seed = addressOf(procs[0]!.url);
    const rest = await Promise.all([1, 2].map((i) => start(runtimes[i]!, ids[i]!, dirs[i]!, [seed])));
    procs.push(...rest);
    const allAlive = async (urls: string[], want: string[]) => {
      for (const u of urls) {
        const ms = await members(u);
        if (!want.every((id) => ms.find((m) => m.id === id)?.status === "alive")) return false;
      }
      return true;
    };
    await eventually(() => allAlive(procs.map((p) => p.url), ids), 10_000, 50, `${ids.join(", ")} to converge`);
    await eventually(() => linksOnTcp(procs, ids), 10_000, 50, "every mesh link on plain TCP (but Bun's)");

    await procs[2]!.kill9();
    await eventually(
      async () =>
        (await statusSeenBy(procs[0]!.url, ids[2]!)) === "down" &&
        (await statusSeenBy(procs[1]!.url, ids[2]!)) === "down",
      10_000,
      50,
      `${ids[2]} declared down`,
    );
    const downInc = (await members(procs[0]!.url)).find((m) => m.id === ids[2])!.incarnation;

    procs[2] = await start(runtimes[2], ids[2]!, dirs[2]!, [seed]);
    await eventually(() => allAlive(procs.map((p) => p.url), ids), 10_000, 50, `${ids[2]} to rejoin`);
    const back = (await members(procs[0]!.url)).find((m) => m.id === ids[2])!;
    assert.ok(back.incarnation > downInc, "the restarted node refuted with a higher incarnation");
    assert.is(back.address, addressOf(procs[2]!.url), "its new address spread");
    assert.match(procs[0]!.output(), new RegExp(`member ${ids[2]} down`));
    // The restarted node listens on another plain-TCP port: its peers fall back and take up the new one.
    await eventually(() => linksOnTcp(procs, ids), 15_000, 50, `links to the restarted ${ids[2]} on plain TCP`);
  } finally {
    await Promise.all(procs.map((p) => p.kill9().catch(() => {})));
    for (const d of dirs) await rt.fs.remove(d, { recursive: true }).catch(() => {});
  }
}

if (host === "node") {
  test("a Node, a Deno and a Bun node form one cluster; kill -9 of one is noticed; restarted, it rejoins", async () => {
    await clusterScenario(["node", "deno", "bun"]);
  });
}

test(`three ${kind} nodes started with --seeds converge; kill -9 of one is noticed; restarted, it rejoins`, async () => {
  await clusterScenario([kind, kind, kind]);
});

test(`--mesh-port off: peers reach a ${kind} node over the WebSocket; a fixed --mesh-port is the one announced`, async () => {
  const dirs = await Promise.all([0, 1].map((i) => tempDir(rt.fs, `meshport-${i}`)));
  const procs: NodeProcess[] = [];
  const spare = net.createServer();
  await new Promise<void>((r) => spare.listen(0, "127.0.0.1", r));
  const fixed = (spare.address() as net.AddressInfo).port; // free once closed
  await new Promise((r) => spare.close(r));
  try {
    procs.push(await startProcess(kind, [...startArgs("off-1", dirs[0]!), "--mesh-port", "off"]));
    procs.push(
      await startProcess(kind, [
        ...startArgs("fixed-2", dirs[1]!),
        "--mesh-port",
        String(fixed),
        "--seeds",
        addressOf(procs[0]!.url),
      ]),
    );
    const meshOf = async (p: NodeProcess) =>
      ((await (await fetch(`${p.url}/v1/admin/status`)).json()) as { mesh: MeshStatus }).mesh;
    await eventually(async () => (await meshOf(procs[1]!)).links.some((l) => l.open), 10_000, 50, "a link");
    const [off, on] = [await meshOf(procs[0]!), await meshOf(procs[1]!)];
    assert.is(off.tcpPort, null);
    assert.is(on.tcpPort, kind === "bun" ? null : fixed, "Bun's adapter has no plain TCP");
    // fixed-2 dialed off-1 (its seed), which announces no port: the link stays a WebSocket.
    assert.equal(on.links.filter((l) => l.open).map((l) => l.transport), ["websocket"]);
  } finally {
    await Promise.all(procs.map((p) => p.kill9().catch(() => {})));
    for (const d of dirs) await rt.fs.remove(d, { recursive: true }).catch(() => {});
  }
});

test(`a ${kind} node refuses a peer with the wrong secret and accepts one with the right secret`, async () => {
  const data = await tempDir(rt.fs, "mesh-auth");
  const node = await start(kind, "guarded", data, []);
  const meshWith = (secret: string, id: string) =>
    new Mesh({
      nodeId: id,
      cluster: "meshkv",
      secret,
      datacenter: "dc1",
      runtime: rt,
      random: rt.random(),
      settings: { handshakeTimeoutMs: 3000 },
    });
  try {
    const intruder = meshWith("not-the-secret", "intruder");
    const err = await intruder.connect(addressOf(node.url)).then(() => null, (e: unknown) => e);
    assert.ok(isMeshkvError(err), `refused: ${String(err)}`);
    intruder.close();
    await eventually(
      () => /wrong cluster secret from intruder/.test(node.output()),
      3000,
      20,
      "the refusal to be logged",
    );
    const friend = meshWith(SECRET, "friend");
    assert.is(await friend.connect(addressOf(node.url)), "guarded");
    friend.close();
    assert.equal((await members(node.url)).map((m) => m.id), ["guarded"], "neither test mesh joined the member table");
  } finally {
    await node.kill9();
    await rt.fs.remove(data, { recursive: true });
  }
});

test(`random bytes and oversized frames close that mesh connection and leave the ${kind} node serving`, async () => {
  const data = await tempDir(rt.fs, "mesh-garbage");
  const node = await start(kind, "sturdy", data, []);
  const url = `ws://${addressOf(node.url)}/mesh`;
  const closes: number[] = [];
  try {
    for (
      const payload of [rt.random(1).bytes(300), new Uint8Array([0xc1, 0xc1, 0xc1]), new Uint8Array(5 * 1024 * 1024)]
    ) {
      const s = await rt.dial(url, { maxMessageBytes: 8 * 1024 * 1024, timeoutMs: 3000 });
      let code = -1;
      s.setHandlers({ message: () => {}, close: (c) => (code = c) });
      s.send(payload);
      await eventually(() => code !== -1, 5000, 10, `the node to close a connection that sent ${payload.length} bytes`);
      closes.push(code);
    }
    assert.ok(closes[0] !== 1000 && closes[1] !== 1000, `closed as errors: ${closes}`);
    const health = await fetch(`${node.url}/health`);
    assert.is(health.status, 200);
    await health.body?.cancel();
    assert.equal((await members(node.url)).map((m) => m.status), ["alive"]);
    assert.match(node.output(), /Malformed mesh frame|not msgpack/);
  } finally {
    await node.kill9();
    await rt.fs.remove(data, { recursive: true });
  }
});

test.run();
