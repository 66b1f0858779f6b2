/**
 * Per-key locks (`src/cluster/key_locks.ts`): runs of one key never overlap and go in arrival order, other keys
 * do not wait, a failing run frees its key, and `idle` waits for every run, queued ones included.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KeyLocks } from "../../src/cluster/key_locks.ts";

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

test("runs of one key never overlap and run in the order they asked", async () => {
  const locks = new KeyLocks();
  const log: string[] = [];
  let inside = 0;
  const runs = [3, 0, 2, 1, 0].map((waits, i) =>
    locks.run("k", async () => {
      inside++;
      assert.is(inside, 1, `run ${i} overlapped another`);
      log.push(`in ${i}`);
      for (let t = 0; t < waits; t++) await tick();
      log.push(`out ${i}`);
      inside--;
      return i;
    })
  );
  assert.equal(await Promise.all(runs), [0, 1, 2, 3, 4]);
  assert.equal(log, ["in 0", "out 0", "in 1", "out 1", "in 2", "out 2", "in 3", "out 3", "in 4", "out 4"]);
});

test("a free key's run starts at once; another key does not wait for a held one", async () => {
  const locks = new KeyLocks();
  let release!: () => void;
  let aStarted = false;
  const a = locks.run("a", async () => {
    aStarted = true;
    await new Promise<void>((r) => (release = r));
    return "a";
  });
  assert.ok(aStarted, "the run of a free key started before run() returned");
  let bDone = false;
  const b = locks.run("b", async () => {
    bDone = true;
    return "b";
  });
  assert.is(await b, "b");
  assert.ok(bDone);
  let a2Started = false;
  const a2 = locks.run("a", async () => {
    a2Started = true;
    return "a2";
  });
  await tick();
  assert.not.ok(a2Started, "a second run of a held key waits");
  release();
  assert.equal(await Promise.all([a, a2]), ["a", "a2"]);
  assert.ok(a2Started);
});

test("a run that fails frees its key, and its error reaches the caller", async () => {
  const locks = new KeyLocks();
  const failing = locks.run("k", async () => {
    await tick();
    throw new Error("boom");
  });
  const next = locks.run("k", async () => "next");
  try {
    await failing;
    assert.unreachable("the run's error is thrown");
  } catch (e) {
    assert.is((e as Error).message, "boom");
  }
  assert.is(await next, "next");
  // A run that throws before its first await frees the key too.
  const sync = locks.run(
    "k",
    (() => {
      throw new Error("at once");
    }) as () => Promise<never>,
  );
  await sync.then(() => assert.unreachable(), (e: Error) => assert.is(e.message, "at once"));
  assert.is(await locks.run("k", async () => 1), 1);
});

test("idle waits for every run, queued ones included, and resolves at once when nothing is held", async () => {
  const locks = new KeyLocks();
  await locks.idle();
  const done: number[] = [];
  for (let i = 0; i < 3; i++) {
    void locks.run(i === 2 ? "other" : "k", async () => {
      for (let t = 0; t <= i; t++) await tick();
      done.push(i);
    });
  }
  await locks.idle();
  assert.equal(done.sort(), [0, 1, 2]);
});

test.run();
