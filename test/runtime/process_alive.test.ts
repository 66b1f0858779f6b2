/**
 * `Runtime.pid` and `Runtime.processAlive`, on the real runtime under test and on the memory runtime. The
 * server writes its pid into the storage engine's LOCK file and checks it with `processAlive` on the next
 * start, so a crashed owner's lock is taken over and a live owner's is not.
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createMemoryRuntime } from "../../src/runtime/memory.ts";
import { realRuntime } from "../_helpers.ts";

const rt = await realRuntime();

test(`${rt.name}: pid is this process's id, and this process is alive`, () => {
  assert.is(rt.pid, process.pid);
  assert.ok(rt.processAlive(rt.pid));
});

test(`${rt.name}: processAlive() is true while a child runs and false once it has exited`, async () => {
  const child = spawn("node", ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
  const pid = child.pid;
  if (pid === undefined) throw new Error("The child did not start");
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    assert.ok(rt.processAlive(pid), "running child");
    assert.ok(rt.processAlive(pid), "checking twice does not disturb it");
  } finally {
    child.kill("SIGKILL");
  }
  await exited;
  assert.not.ok(rt.processAlive(pid), "exited child");
});

test(`${rt.name}: processAlive() refuses ids that are not positive integers (they name process groups)`, () => {
  for (const pid of [0, -1, 1.5, Number.NaN]) assert.throws(() => rt.processAlive(pid), RangeError, String(pid));
});

test("memory: pid 1 is alive, other ids only when the test says so", () => {
  const m = createMemoryRuntime({ alivePids: [4242] });
  assert.is(m.pid, 1);
  assert.ok(m.processAlive(1));
  assert.ok(m.processAlive(4242));
  assert.not.ok(m.processAlive(4243));
  m.alivePids.delete(4242);
  assert.not.ok(m.processAlive(4242), "a process the test ended");
  assert.throws(() => m.processAlive(0), RangeError);
});

test.run();
