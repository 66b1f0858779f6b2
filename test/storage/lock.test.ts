/**
 * The store's LOCK file: one engine per directory, a clear LOCKED error for a second opener, and no manual step
 * after a crash (the memory file system's crash, or a dead owner as the runtime reports it).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MeshkvError } from "../../src/errors.ts";
import { openEngine } from "../../src/storage/mod.ts";
import { rejectsWith } from "../_helpers.ts";
import { dec, enc, memoryEnv, realEnv, SMALL } from "./_env.ts";

test("a second open of the same store in one process fails with LOCKED until the first engine closes", async () => {
  for (const make of [memoryEnv, realEnv]) {
    const env = await make();
    const opts = { ...SMALL, clock: env.clock };
    const a = await openEngine(env.fs, env.dir, opts);
    assert.ok((await env.fs.list(env.dir)).includes("LOCK"), `${env.name}: LOCK exists while open`);
    const err = await rejectsWith(() => openEngine(env.fs, env.dir, opts), "LOCKED");
    assert.match(err.message, /already open in this process/);
    await a.put(0, "k", enc("v"));
    await a.close();
    assert.not.ok((await env.fs.list(env.dir)).includes("LOCK"), `${env.name}: close removes LOCK`);
    const b = await openEngine(env.fs, env.dir, opts);
    assert.is(dec((await b.get(0, "k"))!.value), "v");
    assert.is(b.recovery.brokenLock, null);
    await b.close();
    await env.cleanup();
  }
});

test("without lockOwnerAlive, a LOCK left by another process is taken over and reported (restart never blocks)", async () => {
  const env = await memoryEnv();
  await env.fs.mkdir(env.dir, { recursive: true });
  const f = await env.fs.open(`${env.dir}/LOCK`, { create: true, exclusive: true });
  await f.write(0, enc("meshkv-lock 1\ntoken t1\nowner pid 4242\n"));
  await f.close();
  const e = await openEngine(env.fs, env.dir, { ...SMALL, clock: env.clock });
  assert.equal(e.recovery.brokenLock, { owner: "pid 4242", token: "t1", reason: "owner not checked" });
  await e.close();
  assert.not.ok((await env.fs.list(env.dir)).includes("LOCK"));
});

test("with lockOwnerAlive, a LOCK whose owner died is taken over and a live owner's is not", async () => {
  const env = await memoryEnv();
  const first = await openEngine(env.fs, env.dir, { ...SMALL, clock: env.clock, lockOwner: "pid 1" });
  await first.put(0, "k", enc("v"));
  await first.flush();
  // Pretend process 1 is another process: forget it in this one without closing (as a kill -9 would).
  env.fs.crash();
  await env.advance(10);
  const f = await env.fs.open(`${env.dir}/LOCK`, { create: true, truncate: true });
  await f.write(0, enc("meshkv-lock 1\ntoken t9\nowner pid 1\n"));
  await f.close();
  const alive = new Set<string>(["pid 1"]);
  const opts = { ...SMALL, clock: env.clock, lockOwner: "pid 2", lockOwnerAlive: (o: string) => alive.has(o) };
  // The crash already ended process 1's handle in this test process, so use a second file-system view: the
  // registry is per FileSystem object, exactly as a separate process would see it.
  const err = await rejectsWith(
    () => openEngine(otherProcess(env.fs), env.dir, opts),
    "LOCKED",
    "a live owner keeps its lock",
  );
  assert.is((err as MeshkvError).details.owner, "pid 1");
  assert.match(err.message, /breakLock/);
  const forced = await openEngine(otherProcess(env.fs), env.dir, { ...opts, breakLock: true });
  assert.is(forced.recovery.brokenLock?.reason, "breakLock");
  await forced.close();
  const again = await env.fs.open(`${env.dir}/LOCK`, { create: true, exclusive: true });
  await again.write(0, enc("meshkv-lock 1\ntoken t10\nowner pid 1\n"));
  await again.close();
  alive.clear();
  const e = await openEngine(otherProcess(env.fs), env.dir, opts);
  assert.is(e.recovery.brokenLock?.reason, "owner not alive");
  assert.is(dec((await e.get(0, "k"))!.value), "v");
  await e.close();
});

test("after a crash, the store reopens in the same process without any manual step", async () => {
  const env = await memoryEnv();
  const opts = { ...SMALL, clock: env.clock, durability: "always" as const };
  const a = await openEngine(env.fs, env.dir, opts);
  const put = a.put(0, "k", enc("v"));
  await env.advance(5);
  await put;
  await a.flush();
  env.fs.crash();
  await env.advance(10);
  const b = await openEngine(env.fs, env.dir, opts);
  assert.is(dec((await b.get(0, "k"))!.value), "v");
  await b.close();
});

/** The same files seen through a different FileSystem object (what a second process has). */
function otherProcess<T extends object>(fs: T): T {
  return new Proxy(fs, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

test.run();
