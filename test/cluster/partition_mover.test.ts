/**
 * The partition mover's acquire loop on its own: a real replica store on a memory file system, a ring view and
 * a mesh that answers page requests, so which partitions get pulled, and when, is seen directly.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ACQUIRE_PARALLEL_MAX, PartitionMover } from "../../src/cluster/partition_mover.ts";
import { openReplicaStore } from "../../src/cluster/replica.ts";
import type { RingSnapshot } from "../../src/cluster/ring_view.ts";
import type { Mesh } from "../../src/mesh/mesh.ts";
import { ManualClock, MemoryFileSystem, SeededRandom } from "../../src/runtime/memory.ts";

test("partitions whose other replicas are all down do not starve the rest of the acquire batches", async () => {
  const clock = new ManualClock();
  const store = await openReplicaStore({
    fs: new MemoryFileSystem(),
    dir: "/me",
    clock,
    random: new SeededRandom(1),
    nodeId: "me",
    engineValueBytesMax: 16 * 1024 * 1024,
    engine: { durability: "none" },
  });
  // The first ACQUIRE_PARALLEL_MAX partitions are replicated on "me" and "gone" only; the last four on "me" and
  // "up". This node joins with an empty store, so it acquires all of them, in partition order.
  const partitions = ACQUIRE_PARALLEL_MAX + 4;
  const partner = (p: number) => (p < ACQUIRE_PARALLEL_MAX ? "gone" : "up");
  const view = (down: string[]): RingSnapshot =>
    ({
      epoch: 1,
      owners: ["gone", "me", "up"],
      down: new Set(down),
      placement: { forPartition: (p: number) => ({ replicas: [{ node: "me" }, { node: partner(p) }] }) },
    }) as unknown as RingSnapshot;
  let snap = view(["gone"]);
  const asked: string[] = [];
  const mesh = {
    request: (peer: string, kind: string, body: { p: number }) => {
      asked.push(`${peer}:${kind}:${body.p}`);
      return Promise.resolve({ items: [], next: null }); // an empty partition: one page
    },
  } as unknown as Mesh;
  const mover = new PartitionMover({ store, mesh, clock, nodeId: "me", partitions, view: () => snap });
  try {
    await mover.step();
    await mover.step();
    const acquiring = mover.stats().acquiring;
    assert.equal(acquiring, Array.from({ length: ACQUIRE_PARALLEL_MAX }, (_, p) => p), "only the stuck ones are left");
    for (let p = ACQUIRE_PARALLEL_MAX; p < partitions; p++) {
      assert.ok(asked.includes(`up:kvScan:${p}`), `partition ${p} was pulled from its live replica`);
      assert.not.ok(mover.acquiring(p));
    }
    assert.not.ok(asked.some((a) => a.startsWith("gone:")), "nothing is asked of a replica that is down");
    // The other replica comes back: the rest is pulled from it.
    snap = view([]);
    await mover.step();
    assert.equal(mover.stats().acquiring, []);
    assert.ok(mover.settled());
    for (let p = 0; p < ACQUIRE_PARALLEL_MAX; p++) assert.ok(asked.includes(`gone:kvScan:${p}`));
  } finally {
    await mover.stop();
    await store.close();
  }
});

test.run();
