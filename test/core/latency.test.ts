import { test } from "uvu";
import * as assert from "uvu/assert";
import { LatencyWindow } from "../../src/core/latency.ts";

test("LatencyWindow gives percentiles of the last samples only, and null while empty", () => {
  const w = new LatencyWindow(100);
  assert.is(w.percentile(0.99), null);
  for (let i = 1; i <= 100; i++) w.add(i);
  assert.is(w.percentile(0.5), 51);
  assert.is(w.percentile(0.99), 100);
  for (let i = 0; i < 100; i++) w.add(1000);
  assert.is(w.percentile(0.5), 1000, "the old samples left the window");
  assert.is(w.count, 100);
  assert.throws(() => new LatencyWindow(0), /positive integer/);
});

test.run();
