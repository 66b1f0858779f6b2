/**
 * Two real `meshkv start` processes on the host runtime with `--tls-cert`, `--tls-key` and `--tls-ca` (the
 * test-only material in test/fixtures/tls) serve HTTPS, dial each other over wss:// and form a cluster. Deno
 * children trust the CA through `DENO_CERT`, which test/run.mjs sets and the children inherit.
 */
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { eventually, realRuntime, tempDir } from "../_helpers.ts";
import { type NodeProcess, type RuntimeKind, startProcess } from "../_process.ts";
import { httpsGet, tlsFixture } from "../runtime/_tls.ts";

const rt = await realRuntime();
const host = (process.env.MESHKV_TEST_RUNTIME ?? rt.name) as RuntimeKind;
const tls = await tlsFixture(rt);

async function aliveIds(url: string): Promise<string[]> {
  try {
    const res = await httpsGet(rt, `${url}/v1/admin/members`, tls.ca);
    if (res.status !== 200) return [];
    const body = JSON.parse(res.body) as { members: { id: string; status: string }[] };
    return body.members.filter((m) => m.status === "alive").map((m) => m.id).sort();
  } catch {
    return [];
  }
}

test(`two ${host} nodes started with --tls-cert, --tls-key and --tls-ca serve HTTPS and form a cluster over wss://`, async () => {
  const dirs = await Promise.all([0, 1].map((i) => tempDir(rt.fs, `tls-${i}`)));
  const procs: NodeProcess[] = [];
  const start = async (id: string, data: string, seeds: string[]) =>
    await startProcess(host, [
      "start",
      "--id",
      id,
      "--port",
      "0",
      "--data",
      data,
      "--mesh-preset",
      "fast",
      "--secret",
      "tls-test-secret",
      "--tls-cert",
      tls.certPath,
      "--tls-key",
      tls.keyPath,
      "--tls-ca",
      tls.caPath,
      ...(seeds.length ? ["--seeds", seeds.join(",")] : []),
    ]);
  try {
    procs.push(await start("tls-1", dirs[0]!, []));
    assert.match(procs[0]!.url, /^https:\/\//);
    procs.push(await start("tls-2", dirs[1]!, [procs[0]!.url.replace(/^https:\/\//, "")]));
    const want = ["tls-1", "tls-2"];
    await eventually(
      async () =>
        (await aliveIds(procs[0]!.url)).join() === want.join() &&
        (await aliveIds(procs[1]!.url)).join() === want.join(),
      8000,
      50,
      "both TLS nodes alive on both",
    );
    // No plain-TCP mesh port with TLS: the link stays on wss://.
    for (const p of procs) {
      const res = await httpsGet(rt, `${p.url}/v1/admin/status`, tls.ca);
      const mesh = (JSON.parse(res.body) as { mesh: { tcpPort: number | null; links: { transport: string }[] } }).mesh;
      assert.is(mesh.tcpPort, null);
      assert.ok(mesh.links.length > 0 && mesh.links.every((l) => l.transport === "websocket"), JSON.stringify(mesh));
    }
  } finally {
    await Promise.all(procs.map((p) => p.kill9().catch(() => {})));
    for (const d of dirs) await rt.fs.remove(d, { recursive: true }).catch(() => {});
  }
});

test.run();
