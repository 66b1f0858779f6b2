/**
 * Point reads that miss the block cache read synchronously (`readIntoSync`) where the file system offers it,
 * and every so often asynchronously, so that a loop of reads still lets the event loop run. Counted through a
 * file system that wraps the real one and records which read each block took.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { FileHandle, FileSystem } from "../../src/runtime/types.ts";
import { openEngine } from "../../src/storage/mod.ts";
import { dec, enc, realEnv, SMALL } from "./_env.ts";

interface Counts {
  sync: number;
  async: number;
  declined: number;
}

/** `fs` with every handle's reads counted; `decline` makes `readIntoSync` say null (as Deno's does when busy). */
function counting(fs: FileSystem, counts: Counts, decline: () => boolean): FileSystem {
  const wrap = (h: FileHandle): FileHandle => ({
    path: h.path,
    read: (offset, length) => h.read(offset, length),
    readInto: (offset, into) => {
      counts.async++;
      return h.readInto!(offset, into);
    },
    readIntoSync: (offset, into) => {
      if (decline()) {
        counts.declined++;
        return null;
      }
      counts.sync++;
      return h.readIntoSync!(offset, into);
    },
    write: (offset, data) => h.write(offset, data),
    append: (data) => h.append(data),
    sync: () => h.sync(),
    size: () => h.size(),
    truncate: (size) => h.truncate(size),
    close: () => h.close(),
  });
  return { ...fs, open: async (path, options) => wrap(await fs.open(path, options)) };
}

const KEYS = 3000;
const key = (i: number) => `key-${String((i * 7919) % KEYS).padStart(5, "0")}`;

async function readAll(decline: () => boolean): Promise<Counts> {
  const env = await realEnv();
  const counts: Counts = { sync: 0, async: 0, declined: 0 };
  const e = await openEngine(counting(env.fs, counts, decline), env.dir, { ...SMALL, clock: env.clock, cacheBytes: 0 });
  try {
    for (let i = 0; i < KEYS; i += 100) {
      await e.batch(
        Array.from(
          { length: 100 },
          (_, j) => ({ type: "put" as const, partition: 1, key: key(i + j), value: enc(`v${i + j}`) }),
        ),
      );
    }
    await e.flush();
    await e.idle();
    counts.sync = counts.async = counts.declined = 0;
    for (let i = 0; i < KEYS; i++) {
      const got = await e.get(1, key(i));
      assert.is(got && dec(got.value), `v${i}`, `key ${key(i)}`);
    }
    assert.is(await e.get(1, "absent"), undefined);
  } finally {
    await e.close();
    await env.cleanup();
  }
  return counts;
}

test("point reads that miss the cache read synchronously, and one in every 65 or fewer goes through the event loop", async () => {
  const c = await readAll(() => false);
  // With no cache every read reads at least one block; the engine is idle, so 64 synchronous reads per yield.
  assert.ok(c.sync + c.async >= KEYS, `reads ${JSON.stringify(c)}`);
  assert.ok(c.sync > c.async * 8, `mostly synchronous: ${JSON.stringify(c)}`);
  assert.ok(c.async >= Math.floor((c.sync + c.async) / 65), `yields often enough: ${JSON.stringify(c)}`);
});

test("a handle that declines a synchronous read gets the read done asynchronously", async () => {
  let n = 0;
  const c = await readAll(() => ++n % 2 === 0);
  assert.ok(c.declined > 0 && c.sync > 0, `both: ${JSON.stringify(c)}`);
  assert.ok(c.async >= c.declined, `every declined read was done asynchronously: ${JSON.stringify(c)}`);
});

test.run();
