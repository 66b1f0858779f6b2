/**
 * The simulated network: delay with order kept, loss, duplication, partitions both ways and one way, crashes.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SimNetwork } from "../../src/testing/sim_net.ts";
import { ManualClock, SeededRandom } from "../../src/runtime/memory.ts";
import type { PeerSocket } from "../../src/runtime/types.ts";
import { bytes, text } from "../_helpers.ts";

async function connected(net: SimNetwork, clock: ManualClock) {
  let server: PeerSocket | null = null;
  const got: { at: number; m: string }[] = [];
  await net.serve("b", {
    hostname: "b",
    port: 1,
    fetch: () => new Response(""),
    websocket: {
      path: "/mesh",
      maxMessageBytes: 100,
      onOpen: (s) => {
        server = s;
        s.setHandlers({
          message: (m) => got.push({ at: clock.monotonic(), m: text(m) }),
          close: () => got.push({ at: clock.monotonic(), m: "<closed>" }),
        });
      },
    },
  });
  const dialing = net.dial("a", "ws://b:1/mesh", { maxMessageBytes: 100, timeoutMs: 500 });
  await clock.advance(100);
  const client = await dialing;
  return { client, server: server!, got };
}

test("messages arrive after the link's delay and in the order sent, even with jitter", async () => {
  const clock = new ManualClock();
  const net = new SimNetwork({ clock, random: new SeededRandom(1), defaults: { delayMs: 10, jitterMs: 30 } });
  const { client, got } = await connected(net, clock);
  const start = clock.monotonic();
  for (let i = 0; i < 50; i++) client.send(bytes(String(i)));
  await clock.advance(5);
  assert.is(got.length, 0);
  assert.ok(client.bufferedAmount > 0, "bytes in flight count as buffered");
  await clock.advance(100);
  assert.equal(got.map((g) => g.m), Array.from({ length: 50 }, (_, i) => String(i)));
  assert.ok(got.every((g) => g.at - start >= 10));
  assert.is(client.bufferedAmount, 0);
});

test("loss and duplication happen at about the configured rates", async () => {
  const clock = new ManualClock();
  const net = new SimNetwork({ clock, random: new SeededRandom(2), defaults: { loss: 0.2, duplicate: 0.1 } });
  const { client, got } = await connected(net, clock);
  for (let i = 0; i < 2000; i++) client.send(bytes("x"));
  await clock.advance(50);
  assert.ok(got.length > 1700 && got.length < 1900, `delivered ${got.length}`);
  assert.ok(net.stats.dropped > 330 && net.stats.dropped < 470, `dropped ${net.stats.dropped}`);
  assert.ok(net.stats.duplicated > 100, `duplicated ${net.stats.duplicated}`);
});

test("a one-way partition drops one direction only; a symmetric one blocks dials; heal restores both", async () => {
  const clock = new ManualClock();
  const net = new SimNetwork({ clock, random: new SeededRandom(3) });
  const { client, server, got } = await connected(net, clock);
  const back: string[] = [];
  client.setHandlers({ message: (m) => back.push(text(m)), close: () => {} });
  net.partition(["a"], ["b"], { oneWay: true });
  client.send(bytes("lost"));
  server.send(bytes("arrives"));
  await clock.advance(10);
  assert.equal(got.map((g) => g.m), []);
  assert.equal(back, ["arrives"]);
  net.partition(["a"], ["b"]);
  const dialing = net.dial("a", "ws://b:1/mesh", { maxMessageBytes: 100, timeoutMs: 500 }).catch((e) => e);
  await clock.advance(600);
  assert.is((await dialing).code, "CONNECT_FAILED");
  net.heal();
  client.send(bytes("after heal"));
  await clock.advance(10);
  assert.equal(got.map((g) => g.m), ["after heal"]);
});

test("oversized messages close the connection (1009, sent as 4009); a crashed host's peers see 1006 and dials are refused", async () => {
  const clock = new ManualClock();
  const net = new SimNetwork({ clock, random: new SeededRandom(4) });
  const first = await connected(net, clock);
  first.client.send(new Uint8Array(101));
  await clock.advance(10);
  assert.is(first.client.isOpen, false);
  const second = net.dial("a", "ws://b:1/mesh", { maxMessageBytes: 100, timeoutMs: 500 });
  await clock.advance(10);
  const s2 = await second;
  let code = 0;
  s2.setHandlers({ message: () => {}, close: (c) => (code = c) });
  net.crash("b");
  await clock.advance(10);
  assert.is(code, 1006);
  const third = net.dial("a", "ws://b:1/mesh", { maxMessageBytes: 100, timeoutMs: 500 }).catch((e) => e);
  await clock.advance(10);
  assert.is((await third).code, "CONNECT_FAILED");
});

test.run();
