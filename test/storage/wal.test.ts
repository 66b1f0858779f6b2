/**
 * The log writer's group commit under `batch`: frames wait in memory for the flush, one flush appends all of
 * them in one write and then syncs, nothing is appended while the log's own sync is in flight, and close writes
 * and syncs what is still queued. On the memory file system and on the runtime's real one (whose handles append
 * with `appendSync`), both driven by a manual clock.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ManualClock, MemoryFileSystem } from "../../src/runtime/memory.ts";
import type { FileHandle, FileSystem } from "../../src/runtime/types.ts";
import type { Durability } from "../../src/storage/options.ts";
import { replayWal, sealFrame, WalWriter } from "../../src/storage/wal.ts";
import { realRuntime, tempDir } from "../_helpers.ts";

interface Io {
  appends: number;
  syncs: number;
  /** Appends made while a sync of the same file was in flight. */
  appendsDuringSync: number;
  /** When set, syncs wait for it before they start. */
  hold: Promise<void> | null;
}

/** Wraps a file system so the test sees every append and sync of the files it opens. */
function watched(fs: FileSystem, io: Io): FileSystem {
  const wrap = (h: FileHandle): FileHandle => {
    let syncing = 0;
    const count = () => {
      io.appends++;
      if (syncing > 0) io.appendsDuringSync++;
    };
    return new Proxy(h, {
      get(target, prop) {
        if (prop === "append") return (d: Uint8Array) => (count(), target.append(d));
        if (prop === "appendSync") {
          if (target.appendSync === undefined) return undefined;
          return (d: Uint8Array) => {
            const at = target.appendSync!(d);
            if (at !== null) count();
            return at;
          };
        }
        if (prop === "sync") {
          return async () => {
            syncing++;
            try {
              await io.hold;
              await target.sync();
              io.syncs++;
            } finally {
              syncing--;
            }
          };
        }
        const v = (target as unknown as Record<PropertyKey, unknown>)[prop];
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  };
  return new Proxy(fs, {
    get(target, prop) {
      if (prop === "open") return async (...a: Parameters<FileSystem["open"]>) => wrap(await target.open(...a));
      const v = (target as unknown as Record<PropertyKey, unknown>)[prop];
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

const frame = (i: number) => {
  const f = new Uint8Array(8 + 100);
  f.fill(i & 0xff, 8);
  return sealFrame(f);
};

async function setup(kind: "memory" | "real", durability: Durability, syncIntervalMs = 5) {
  let fs: FileSystem;
  let dir: string;
  if (kind === "memory") {
    fs = new MemoryFileSystem();
    dir = "/wal";
  } else {
    const rt = await realRuntime();
    fs = rt.fs;
    dir = await tempDir(rt.fs, "wal");
  }
  await fs.mkdir(dir, { recursive: true });
  const io: Io = { appends: 0, syncs: 0, appendsDuringSync: 0, hold: null };
  const clock = new ManualClock();
  let n = 1;
  const wal = new WalWriter({
    fs: watched(fs, io),
    dir,
    clock,
    durability,
    syncIntervalMs,
    segmentBytes: 1 << 20,
    newNumber: () => n++,
    segments: [],
  });
  await wal.open();
  const base = { appends: io.appends, syncs: io.syncs }; // the segment header's
  const records = async (segments = [1]) => {
    const seen: number[] = [];
    await replayWal(fs, dir, segments, (payload) => (seen.push(payload[0]!), seen.length));
    return seen;
  };
  const cleanup = async () => {
    if (kind === "real") await fs.remove(dir, { recursive: true });
  };
  return { wal, io, clock, base, records, cleanup };
}

/** Lets promise callbacks and the adapters' I/O finish without moving the manual clock. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
};

for (const kind of ["memory", "real"] as const) {
  test(`${kind}: batch frames wait in memory, and one flush appends them in one write and syncs once`, async () => {
    const t = await setup(kind, "batch", 5);
    let acked = 0;
    const done = Array.from({ length: 20 }, (_, i) => t.wal.submit(frame(i), i + 1).then(() => acked++));
    await settle();
    assert.is(t.io.appends, t.base.appends, "nothing is written before the flush");
    assert.is(acked, 0, "nobody is acknowledged before the sync");
    await t.clock.advance(0); // an idle log flushes at once
    await Promise.all(done);
    assert.is(acked, 20);
    assert.is(t.io.appends - t.base.appends, 1, "20 frames, one append");
    assert.is(t.io.syncs - t.base.syncs, 1, "and one sync");
    assert.equal(await t.records(), Array.from({ length: 20 }, (_, i) => i));
    await t.wal.close();
    await t.cleanup();
  });

  test(`${kind}: batch appends nothing while its sync is in flight; the next flush writes what came meanwhile`, async () => {
    const t = await setup(kind, "batch", 5);
    let release!: () => void;
    t.io.hold = new Promise((r) => (release = r));
    const first = t.wal.submit(frame(1), 1);
    await t.clock.advance(0);
    await settle();
    assert.is(t.io.appends - t.base.appends, 1, "the first flush wrote its frame and is syncing");
    const later = [t.wal.submit(frame(2), 2), t.wal.submit(frame(3), 3)];
    await t.clock.advance(50);
    await settle();
    assert.is(t.io.appends - t.base.appends, 1, "no append while the sync is in flight");
    release();
    t.io.hold = null;
    await first;
    await settle();
    await t.clock.advance(5); // the next flush, syncIntervalMs after the last sync
    await Promise.all(later);
    assert.is(t.io.appends - t.base.appends, 2, "the two later frames left in one append");
    assert.is(t.io.appendsDuringSync, 0);
    assert.equal(await t.records(), [1, 2, 3]);
    await t.wal.close();
    await t.cleanup();
  });

  test(`${kind}: batch rolls to a new segment inside a flush; each segment holds its frames`, async () => {
    const t = await setup(kind, "batch", 5);
    const a = t.wal.submit(frame(1), 1);
    await t.clock.advance(0);
    await a;
    t.wal.requestRoll(); // the memtable froze: the next frame goes to segment 2
    const b = [t.wal.submit(frame(2), 2), t.wal.submit(frame(3), 3)];
    await settle();
    await t.clock.advance(5);
    await Promise.all(b);
    assert.equal(await t.records([1]), [1]);
    assert.equal(await t.records([2]), [2, 3]);
    assert.is(t.io.appendsDuringSync, 0);
    await t.wal.close();
    await t.cleanup();
  });

  test(`${kind}: close writes and syncs what batch still holds`, async () => {
    const t = await setup(kind, "batch", 1000);
    const a = t.wal.submit(frame(7), 1);
    const b = t.wal.submit(frame(8), 2);
    await t.wal.close(); // no clock time has passed: the flush timer never fired
    await Promise.all([a, b]);
    assert.equal(await t.records(), [7, 8]);
    await t.cleanup();
  });

  test(`${kind}: under always a frame is written and synced at once`, async () => {
    const t = await setup(kind, "always");
    await t.wal.submit(frame(4), 1);
    assert.is(t.io.appends - t.base.appends, 1);
    assert.is(t.io.syncs - t.base.syncs, 1);
    assert.equal(await t.records(), [4]);
    await t.wal.close();
    await t.cleanup();
  });
}

test.run();
