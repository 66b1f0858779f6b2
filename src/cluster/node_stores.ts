/**
 * Opening a node's two stores on its data directory: the replica store (`<data>/store`, this node's copies) and
 * the hint store (`<data>/hints`, stand-in copies for down replicas), each on its own storage engine, with the
 * limits that tie them to the client contract's data limits.
 */
import { DATA_LIMITS } from "../kv/limits.ts";
import type { Clock, FileSystem, Random } from "../runtime/types.ts";
import type { EngineOptions } from "../storage/mod.ts";
import { type HintStore, openHintStore } from "./hints.ts";
import { makeDurableDir, openReplicaStore, type ReplicaStore } from "./replica.ts";

export interface NodeStoresOptions {
  fs: FileSystem;
  /** Data directory: `store/` for replicas, `hints/` for hints. */
  dir: string;
  clock: Clock;
  random: Random;
  nodeId: string;
  engine?: Omit<EngineOptions, "clock" | "tombstonePurgeable">;
}

/** Opens both stores; `purgeable` is the tombstone purge rule compaction asks (the backend's). */
export async function openNodeStores(
  o: NodeStoresOptions,
  purgeable: (p: number, key: string, deletedAtMs: number) => boolean,
): Promise<{ store: ReplicaStore; hints: HintStore }> {
  // A replica merges what other replicas send without refusing it, so its engine takes siblingsMax values of
  // the largest size (far above the write limit `DATA_LIMITS.setBytesMax`).
  const engineValueBytesMax = DATA_LIMITS.siblingsMax * DATA_LIMITS.valueBytesMax + 1024 * 1024;
  const store = await openReplicaStore({
    fs: o.fs,
    dir: `${o.dir}/store`,
    clock: o.clock,
    random: o.random,
    nodeId: o.nodeId,
    engineValueBytesMax,
    ...(o.engine === undefined ? {} : { engine: o.engine }),
    tombstonePurgeable: purgeable,
  });
  try {
    await makeDurableDir(o.fs, `${o.dir}/hints`);
    const hints = await openHintStore({
      fs: o.fs,
      dir: `${o.dir}/hints`,
      clock: o.clock,
      ...(o.engine?.durability ? { durability: o.engine.durability } : {}),
    });
    return { store, hints };
  } catch (err) {
    await store.close();
    throw err;
  }
}
