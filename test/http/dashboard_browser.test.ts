/**
 * The dashboard in a real browser: a three-node cluster of real processes (on the runtime running this test),
 * some keys with siblings, then headless Chromium loads `/ui` of the first node with a key to locate, a prefix
 * to list and a key to open in its URL. `--dump-dom` after a virtual-time budget returns the DOM once the
 * page's script has polled `/ui/data` and answered the three inputs, so the test checks what the script filled
 * in, not only what the server rendered. Then the page with `?plan=leave&node=dash-c` (what the plan form submits
 * without the script) shows that leave's plan, as `POST /v1/admin/plan` computes it, in its Membership plan panel.
 * A screenshot lands in `.tmp/test-output/` (gitignored).
 *
 * Chromium comes from the system (Debian: `apt-get install chromium`; `.ci/run` installs it). Where no binary
 * exists the test is skipped and says why.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { eventually, realRuntime, repoRoot, tempDir } from "../_helpers.ts";
import { type NodeProcess, type RuntimeKind, startProcess } from "../_process.ts";

const rt = await realRuntime();
const kind = rt.name as RuntimeKind;
const SECRET = "dashboard-browser-test-secret";
const NODES = [
  { id: "dash-a", datacenter: "dc-a", rack: "r1" },
  { id: "dash-b", datacenter: "dc-b", rack: "r2" },
  { id: "dash-c", datacenter: "dc-c", rack: "r3" },
] as const;
/** Virtual time the page gets before its DOM is dumped: several of the script's 2 s polls. */
const BUDGET_MS = 7_000;
const CHROMIUM_TIMEOUT_MS = 60_000;
const OUTPUT_DIR = join(repoRoot, ".tmp", "test-output");

/** The Chromium to use: `$MESHKV_CHROMIUM` alone when set (a path or a name), else the usual names on PATH. */
function findChromium(): string | null {
  const wanted = process.env.MESHKV_CHROMIUM;
  for (const name of wanted ? [wanted] : ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
    const r = spawnSync("sh", ["-c", `command -v "${name}"`], { encoding: "utf8" });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

/** Runs headless Chromium with `args` on `url`; resolves with its stdout. */
function chromium(bin: string, profile: string, args: string[], url: string): Promise<string> {
  const argv = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--hide-scrollbars",
    `--user-data-dir=${profile}`,
    `--virtual-time-budget=${BUDGET_MS}`,
    ...args,
    url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), CHROMIUM_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`chromium exited with ${code}:\n${err.slice(-2000)}`));
    });
  });
}

async function put(url: string, key: string, value: string): Promise<void> {
  const res = await fetch(`${url}/v1/kv/${encodeURIComponent(key)}?consistency=all`, {
    method: "PUT",
    body: value,
    headers: { "content-type": "text/plain" },
  });
  assert.ok(res.status === 201 || res.status === 204, `PUT ${key}: ${res.status} ${await res.text()}`);
}

const bin = findChromium();
if (bin === null) {
  console.log(
    `dashboard_browser: skipped: no Chromium binary (${
      process.env.MESHKV_CHROMIUM ? `MESHKV_CHROMIUM=${process.env.MESHKV_CHROMIUM} not found` : "none on PATH"
    }; install Debian's chromium package, or set MESHKV_CHROMIUM)`,
  );
  test.skip(`the dashboard in Chromium (${kind} nodes): no Chromium binary`, () => {});
} else {
  test(`Chromium shows a three-node ${kind} cluster's dashboard, filled in live by its script`, async () => {
    const dirs = await Promise.all(NODES.map((n) => tempDir(rt.fs, n.id)));
    const profile = mkdtempSync(join(tmpdir(), "meshkv-chromium-"));
    const procs: NodeProcess[] = [];
    try {
      const start = (i: number, seeds: string[]) => {
        const n = NODES[i]!;
        const args = [
          "start",
          "--id",
          n.id,
          "--datacenter",
          n.datacenter,
          "--rack",
          n.rack,
          "--port",
          "0",
          "--data",
          dirs[i]!,
          "--mesh-preset",
          "fast",
          "--secret",
          SECRET,
          // Two replicas of three nodes: a leave hands partitions to the node that did not hold them yet.
          "--replicas",
          "2",
        ];
        if (seeds.length) args.push("--seeds", seeds.join(","));
        return startProcess(kind, args);
      };
      procs.push(await start(0, []));
      const seed = procs[0]!.url.replace(/^https?:\/\//, "");
      procs.push(...(await Promise.all([start(1, [seed]), start(2, [seed])])));
      const url = procs[0]!.url;
      await eventually(
        async () => {
          for (const p of procs) {
            const res = await fetch(`${p.url}/v1/admin/members`).catch(() => null);
            const ms = res?.ok ? ((await res.json()) as { members: { id: string; status: string }[] }).members : [];
            if (!NODES.every((n) => ms.some((m) => m.id === n.id && m.status === "alive"))) return false;
            if ((await fetch(`${p.url}/health`)).status !== 200) return false;
            // A node still pulling partitions it just gained does not count toward a read's level (by design:
            // docs/cluster.md), and with two replicas of each key a `quorum` read needs both: wait until none is.
            const metrics = await (await fetch(`${p.url}/metrics`)).text();
            if (!/^meshkv_partitions_acquiring 0$/m.test(metrics)) return false;
          }
          return true;
        },
        20_000,
        100,
        "the three nodes to see each other alive, acquiring no partitions",
      );
      for (let i = 1; i <= 3; i++) await put(url, `user:${i}`, `hello ${i}`);
      await put(procs[1]!.url, "user:1", "concurrent"); // a blind write: a sibling of "hello 1"
      const placement = (await (await fetch(`${url}/ui/placement?key=user%3A1`)).json()) as {
        partition: number;
        replicas: string[];
      };

      const page = `${url}/ui?key=user%3A1&prefix=user%3A&open=user%3A1`;
      const dom = await chromium(bin, profile, ["--dump-dom"], page);
      // Server-rendered: the node, every member with its datacenter and rack, the ring picture.
      assert.match(dom, '<dd id="node-id">dash-a</dd>');
      for (const n of NODES) {
        assert.match(
          dom,
          new RegExp(
            `<tr data-node="${n.id}"[^>]*>.*?<td>${n.datacenter}</td><td>${n.rack}</td><td class="st-alive">alive</td>`,
          ),
          `member ${n.id}`,
        );
      }
      assert.match(dom, 'id="ring-svg"');
      // Every node's traffic is charted on the first node's page (it asks the others at /ui/traffic).
      for (const n of NODES) {
        assert.match(
          dom,
          new RegExp(`<div class="node-traffic" data-node="${n.id}"><h3>${n.id}[^<]*</h3><div class="charts">`),
          `${n.id}'s charts`,
        );
      }
      // Filled in by the script: polls answered, the key located with its replicas highlighted, keys listed, siblings shown.
      const polls = Number(/<body data-polls="(\d+)"/.exec(dom)?.[1] ?? "0");
      assert.ok(polls >= 1, `the script polled /ui/data (${polls} polls)`);
      assert.match(dom, '<span id="live" class="live ok">live, updated ');
      assert.match(dom, `<p id="placement" class="muted" data-replicas="${placement.replicas.join(" ")}">`);
      assert.match(
        dom,
        new RegExp(
          `<path [^>]*class="hit"[^>]*data-p="${placement.partition}"|<path [^>]*data-p="${placement.partition}"[^>]*class="hit"`,
        ),
        "the key's partition is highlighted on the ring",
      );
      for (const r of placement.replicas) {
        assert.match(
          dom,
          new RegExp(`<li data-node="${r}" class="replica">`),
          `replica ${r} highlighted in the legend`,
        );
      }
      for (let i = 1; i <= 3; i++) assert.match(dom, `<button type="button" data-key="user:${i}">user:${i}</button>`);
      assert.match(dom, "2 siblings");
      assert.match(dom, "<pre>concurrent</pre>");
      assert.match(dom, "<pre>hello 1</pre>");

      // The membership plan of the third node's leave, rendered in the page (no script needed).
      const leaver = NODES[2].id;
      const planned = await fetch(`${url}/v1/admin/plan`, {
        method: "POST",
        body: JSON.stringify({ change: "leave", node: leaver }),
      });
      assert.is(planned.status, 200, await planned.clone().text());
      const plan = (await planned.json()) as {
        keys: number;
        moves: { partition: number; from: string[]; to: string[] }[];
      };
      assert.ok(plan.moves.length > 0, "the leaver holds partitions");
      const planDom = await chromium(bin, profile, ["--dump-dom"], `${url}/ui?plan=leave&node=${leaver}`);
      assert.match(planDom, `<div class="plan" data-change="leave" data-node="${leaver}">`);
      assert.match(planDom, '<option value="leave" selected="">leave</option>');
      const rows = [...planDom.matchAll(/<tr data-p="(\d+)"><td>\d+<\/td><td>([^<]*)<\/td>/g)];
      assert.ok(rows.length >= 1, "at least one move row");
      assert.equal(rows.map((r) => Number(r[1])), plan.moves.map((m) => m.partition), "a row per planned move");
      for (const [i, m] of plan.moves.entries()) {
        assert.is(rows[i]![2], `${m.from.join(", ")} → ${m.to.join(", ")}`, `partition ${m.partition}`);
        assert.ok(!m.to.includes(leaver) && m.to.length === 1, `partition ${m.partition} gains a copy elsewhere`);
      }
      assert.match(planDom, `<p class="plan-total">${plan.moves.length} partitions move, ${plan.keys} keys`);
      for (const n of NODES) assert.match(planDom, `<option value="${n.id}">`);

      mkdirSync(OUTPUT_DIR, { recursive: true });
      const shot = join(OUTPUT_DIR, `dashboard-${kind}.png`);
      rmSync(shot, { force: true });
      await chromium(bin, profile, ["--window-size=1400,1500", `--screenshot=${shot}`], page);
      const png = readFileSync(shot);
      assert.equal([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "a PNG screenshot was saved");
      console.log(`dashboard_browser: screenshot saved to ${shot} (${png.length} bytes)`);
    } finally {
      await Promise.all(procs.map((p) => p.kill9().catch(() => {})));
      rmSync(profile, { recursive: true, force: true });
      for (const d of dirs) await rt.fs.remove(d, { recursive: true }).catch(() => {});
    }
  });
}

test.run();
