/**
 * Gossip membership in the deterministic simulation: convergence, crash detection within the bound, no false
 * positives under loss and delay spikes, partition healing, restart, graceful leave. Each scenario runs over
 * several seeds; a failure names its seed (replay with MESHKV_SIM_SEED=<seed>, widen with MESHKV_SIM_SEEDS=<n>).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GOSSIP_FAST } from "../../src/cluster/presets.ts";
import { failureDetectionBoundMs } from "../../src/cluster/settings.ts";
import { SimCluster } from "../../src/testing/sim_cluster.ts";
import { SeededRandom } from "../../src/runtime/memory.ts";
import { forEachSeed, seedsFor } from "./_sim.ts";

const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => SimCluster.nodeId(from + i));

async function converged(
  size: number,
  seed: number,
  extra: Partial<Parameters<typeof SimCluster.create>[0]> = {},
): Promise<SimCluster> {
  const c = await SimCluster.create({ seed, size, gossip: GOSSIP_FAST, ...extra });
  const t = await c.runUntil(() => c.allSee("alive") && c.converged(), 10_000);
  assert.ok(t !== null, `${size} nodes did not converge in 10 s`);
  return c;
}

for (const size of [5, 20]) {
  test(`${size} nodes joining through one seed converge to the same member table`, async () => {
    await forEachSeed(seedsFor(size === 5 ? 8 : 3, size), async (seed) => {
      const c = await converged(size, seed);
      for (const n of c.nodes.values()) assert.is(n.gossip.table.size, size);
      const joined = c.events.filter((e) => e.type === "joined");
      assert.is(joined.length, size * (size - 1), "every node reports every other node joining, once");
      assert.ok(c.events.every((e) => e.type === "joined"), "nobody is suspected while the cluster forms");
      await c.stopAll();
    });
  });

  test(`in ${size} nodes, a crashed node is declared down by every live node within failureDetectionBoundMs`, async () => {
    await forEachSeed(seedsFor(size === 5 ? 6 : 2, 100 + size), async (seed) => {
      const c = await converged(size, seed);
      const r = new SeededRandom(seed);
      await c.run(r.int(1000));
      const victim = SimCluster.nodeId(1 + r.int(size));
      await c.crash(victim);
      const bound = failureDetectionBoundMs(c.settings, size);
      const t = await c.runUntil(
        () => [...c.nodes.keys()].every((o) => c.statusOf(o, victim) === "down"),
        bound + 1000,
        10,
      );
      assert.ok(t !== null && t <= bound, `${victim} declared down everywhere after ${t} ms, bound ${bound}`);
      const wrong = c.events.filter((e) => e.type === "down" && e.member.id !== victim);
      assert.equal(wrong.map((e) => `${e.observer}:${e.member.id}`), [], "only the victim is declared down");
      await c.stopAll();
    });
  });
}

test("a live node cut off by a partition (no connection drop, just silence) is declared down within the bound", async () => {
  await forEachSeed(seedsFor(4, 7), async (seed) => {
    const c = await converged(8, seed);
    c.net.partition(["n04"], ids(1, 8).filter((x) => x !== "n04"));
    const bound = failureDetectionBoundMs(c.settings, 8);
    const others = ids(1, 8).filter((x) => x !== "n04");
    const t = await c.runUntil(() => others.every((o) => c.statusOf(o, "n04") === "down"), bound + 1000, 10);
    assert.ok(t !== null && t <= bound, `down after ${t} ms, bound ${bound}`);
    await c.stopAll();
  });
});

test("no live node is declared down under 20% message loss", async () => {
  await forEachSeed(seedsFor(4, 20), async (seed) => {
    const c = await converged(10, seed);
    c.net.setDefaults({ loss: 0.2, duplicate: 0.05 });
    await c.run(20_000);
    assert.ok(c.net.stats.dropped > 1000, "the network really dropped messages");
    const down = c.events.filter((e) => e.type === "down");
    assert.equal(down.map((e) => `${e.observer}:${e.member.id}`), []);
    assert.ok(c.allSee("alive"), "every node still sees every node alive");
    await c.stopAll();
  });
});

test("no live node is declared down when one-way delays spike on random links", async () => {
  await forEachSeed(seedsFor(4, 30), async (seed) => {
    const c = await converged(10, seed);
    const r = new SeededRandom(seed);
    const all = ids(1, 10);
    for (let second = 0; second < 20; second++) {
      const spiked: [string, string][] = [];
      for (const from of all) {
        for (const to of all) {
          if (from !== to && r.next() < 0.2) {
            c.net.setLink(from, to, { delayMs: 100 + r.int(400) });
            spiked.push([from, to]);
          }
        }
      }
      await c.run(1000);
      for (const [from, to] of spiked) c.net.setLink(from, to, null);
    }
    const down = c.events.filter((e) => e.type === "down");
    assert.equal(down.map((e) => `${e.observer}:${e.member.id}`), []);
    await c.stopAll();
  });
});

test("after a partition heals, member tables converge again with everyone alive", async () => {
  await forEachSeed(seedsFor(4, 40), async (seed) => {
    const c = await converged(10, seed);
    c.net.partition(ids(1, 5), ids(6, 10));
    await c.run(5000);
    assert.is(c.statusOf("n01", "n07"), "down", "each side declared the other down");
    assert.is(c.statusOf("n08", "n02"), "down");
    c.net.heal();
    const t = await c.runUntil(() => c.allSee("alive") && c.converged(), 15_000);
    assert.ok(t !== null, "converged after the heal");
    await c.stopAll();
  });
});

test("after a one-way partition heals, member tables converge again", async () => {
  await forEachSeed(seedsFor(3, 45), async (seed) => {
    const c = await converged(8, seed);
    c.net.partition(["n01", "n02"], ids(3, 8), { oneWay: true });
    await c.run(4000);
    c.net.heal();
    const t = await c.runUntil(() => c.allSee("alive") && c.converged(), 15_000);
    assert.ok(t !== null, "converged after the heal");
    await c.stopAll();
  });
});

test("a restarted node rejoins with a higher incarnation and everyone sees it alive", async () => {
  await forEachSeed(seedsFor(5, 50), async (seed) => {
    const c = await converged(6, seed);
    await c.crash("n03");
    const t = await c.runUntil(() => c.allSee("down", ["n03"]), 10_000);
    assert.ok(t !== null, "declared down");
    const before = c.nodes.get("n01")!.gossip.table.get("n03")!.incarnation;
    await c.restart("n03");
    const back = await c.runUntil(() => c.allSee("alive") && c.converged(), 5000);
    assert.ok(back !== null, "rejoined");
    assert.ok(c.nodes.get("n01")!.gossip.table.get("n03")!.incarnation > before);
    const seen = c.events.filter((e) => e.observer === "n01" && e.member.id === "n03").map((e) => e.type);
    assert.equal(seen, ["joined", "suspect", "down", "alive"]);
    await c.stopAll();
  });
});

test("a seed restarting does not stop the others, and a node restarted before detection also rejoins", async () => {
  await forEachSeed(seedsFor(3, 55), async (seed) => {
    const c = await converged(5, seed);
    await c.crash("n01");
    await c.run(200);
    await c.restart("n01");
    const back = await c.runUntil(() => c.allSee("alive") && c.converged(), 5000);
    assert.ok(back !== null, "rejoined");
    await c.stopAll();
  });
});

test("a node that leaves gracefully is marked left everywhere, never down", async () => {
  await forEachSeed(seedsFor(4, 60), async (seed) => {
    const c = await converged(6, seed);
    const node = c.nodes.get("n05")!;
    const stopping = node.stop();
    await c.run(500);
    await stopping;
    c.nodes.delete("n05");
    const t = await c.runUntil(() => c.allSee("left", ["n05"]), 3000);
    assert.ok(t !== null, "left everywhere");
    await c.run(5000);
    assert.ok(c.allSee("left", ["n05"]));
    assert.equal(c.events.filter((e) => e.type === "down" || e.type === "suspect").map((e) => e.member.id), []);
    await c.stopAll();
  });
});

test("members() lists every member with status, address and ages; the same seed replays the same events", async () => {
  const run = async () => {
    const c = await converged(5, 77);
    await c.crash("n02");
    await c.run(3000);
    const view = c.nodes.get("n01")!.gossip.members();
    await c.stopAll();
    return { view, events: c.events.map((e) => `${e.at}:${e.observer}:${e.type}:${e.member.id}`) };
  };
  const a = await run();
  const b = await run();
  assert.equal(a.events, b.events, "deterministic");
  assert.equal(a.view.map((m) => [m.id, m.status, m.self, m.address]), [
    ["n01", "alive", true, "n01:7000"],
    ["n02", "down", false, "n02:7000"],
    ["n03", "alive", false, "n03:7000"],
    ["n04", "alive", false, "n04:7000"],
    ["n05", "alive", false, "n05:7000"],
  ]);
  assert.ok(a.view[1]!.lastHeartbeatAgoMs >= 2000);
});

test("nodes seeded with one DNS name that resolves to every pod (a headless Service) form one cluster: the first alone, the rest through it", async () => {
  const pods: string[] = [];
  const asked: string[] = [];
  const c = new SimCluster({
    seed: 41,
    size: 0,
    gossip: GOSSIP_FAST,
    resolveHost: async (host) => (asked.push(host), host === "meshkv.svc" ? [...pods] : []),
  });
  for (const id of ids(1, 4)) {
    pods.push(id);
    await c.start(id, { seeds: ["meshkv.svc:7000"] });
    await c.run(300);
  }
  assert.ok(c.nodes.get("n01")!.gossip.joined, "the first pod, resolving to itself alone, is a cluster of its own");
  assert.ok(
    await c.runUntil(() => c.allSee("alive") && c.converged(), 10_000) !== null,
    "four pods converge through the name",
  );
  for (const n of c.nodes.values()) assert.is(n.gossip.table.size, 4);
  assert.ok(asked.includes("meshkv.svc"), "the seed's host name is resolved");
  await c.stopAll();
});

test("a pod that advertises a DNS name of its own skips the addresses that name has when it resolves the Service name", async () => {
  // The Service lists addresses; each pod advertises its own name (n01:7000), which the DNS maps to its address.
  const addressOf: Record<string, string> = { n01: "10.0.0.1", n02: "10.0.0.2" };
  const c = new SimCluster({
    seed: 43,
    size: 0,
    gossip: GOSSIP_FAST,
    resolveHost: async (host) => (host === "meshkv.svc" ? ["10.0.0.1"] : addressOf[host] ? [addressOf[host]!] : []),
  });
  await c.start("n01", { seeds: ["meshkv.svc:7000"] });
  await c.run(300);
  assert.ok(
    c.nodes.get("n01")!.gossip.joined,
    "n01 sees its own address behind the Service name: a cluster of its own",
  );
  await c.stopAll();
});

test("two pods that started together, each resolving the name to itself alone, find each other once it lists both, and merge", async () => {
  let both = false;
  const c = new SimCluster({
    seed: 42,
    size: 0,
    gossip: GOSSIP_FAST,
    resolveHost: async (host, asker) => (host !== "meshkv.svc" ? [] : both ? ["n01", "n02"] : [asker]),
  });
  await c.start("n01", { seeds: ["meshkv.svc:7000"] });
  await c.start("n02", { seeds: ["meshkv.svc:7000"] });
  await c.run(500);
  assert.is(c.nodes.get("n01")!.gossip.table.size, 1, "n01 saw only itself");
  assert.is(c.nodes.get("n02")!.gossip.table.size, 1, "n02 saw only itself");
  assert.ok(
    c.nodes.get("n01")!.gossip.joined && c.nodes.get("n02")!.gossip.joined,
    "each serves as a cluster of its own meanwhile",
  );
  both = true;
  assert.ok(
    await c.runUntil(
      () => c.allSee("alive") && c.converged() && c.nodes.get("n01")!.gossip.table.size === 2,
      10_000,
    ) !== null,
    "one table of two",
  );
  await c.stopAll();
});

test.run();
