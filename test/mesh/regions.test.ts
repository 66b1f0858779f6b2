/**
 * Emulated regions: delay tables parse from flags, and a link between datacenters pays the configured
 * one-way delay in each direction.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseRegionDelays, regionDelayMs } from "../../src/mesh/regions.ts";
import { rejectsWith } from "../_helpers.ts";
import { world } from "./_pair.ts";

test("parseRegionDelays reads the flag form and JSON, and names bad entries", async () => {
  assert.equal(parseRegionDelays("us-east|eu-west=40, us-east|ap-south=90"), {
    "us-east|eu-west": 40,
    "us-east|ap-south": 90,
  });
  assert.equal(parseRegionDelays('{"a|b": 5}'), { "a|b": 5 });
  assert.equal(parseRegionDelays(""), {});
  await rejectsWith(() => parseRegionDelays("a-b=4"), "INVALID_ARGUMENT");
  await rejectsWith(() => parseRegionDelays("a|b=-1"), "INVALID_ARGUMENT");
  await rejectsWith(() => parseRegionDelays("a|b=lots"), "INVALID_ARGUMENT");
  await rejectsWith(() => parseRegionDelays("{nope"), "INVALID_ARGUMENT");
});

test("regionDelayMs is zero inside a datacenter and symmetric unless both directions are given", () => {
  const d = { "us|eu": 40, "eu|ap": 70, "ap|eu": 90 };
  assert.is(regionDelayMs(d, "us", "us"), 0);
  assert.is(regionDelayMs(d, "us", "eu"), 40);
  assert.is(regionDelayMs(d, "eu", "us"), 40);
  assert.is(regionDelayMs(d, "eu", "ap"), 70);
  assert.is(regionDelayMs(d, "ap", "eu"), 90);
  assert.is(regionDelayMs(d, "us", "ap"), 0);
});

test("a request between emulated regions takes the two one-way delays; inside one region it does not", async () => {
  const w = world(11);
  const delays = { "us-east|eu-west": 40 };
  const us = (await w.add("us1", { datacenter: "us-east", regionDelays: delays })).mesh;
  const eu = (await w.add("eu1", { datacenter: "eu-west", regionDelays: delays })).mesh;
  const us2 = (await w.add("us2", { datacenter: "us-east", regionDelays: delays })).mesh;
  for (const m of [eu, us2]) m.onRequest("echo", (x) => x);
  us.setAddress("eu1", "eu1:7000");
  us.setAddress("us2", "us2:7000");
  for (const peer of ["eu1", "us2"]) {
    const warm = us.request(peer, "echo", 0);
    await w.clock.advance(200);
    await warm;
  }
  const time = async (peer: string) => {
    const start = w.clock.monotonic();
    let end = -1;
    us.request(peer, "echo", 1).then(() => (end = w.clock.monotonic()));
    for (let i = 0; i < 300 && end < 0; i++) await w.clock.advance(1);
    return end - start;
  };
  const far = await time("eu1");
  const near = await time("us2");
  assert.ok(far >= 80 && far < 90, `cross-region round trip ${far} ms`);
  assert.ok(near < 10, `same-region round trip ${near} ms`);
});

test.run();
