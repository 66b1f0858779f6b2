/**
 * bench/_perf.ts's reading of `perf script` output (what bench/ycsb.ts --perf reports): every sample lands in
 * exactly one area, kernel samples are named by the system call they came from, and V8's builtins count for the
 * JavaScript that called them. The input is `perf script`'s own format, as perf 6 prints it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PerfMaps, summarizePerf } from "../../bench/_perf.ts";

const sample = (frames: string[]) =>
  `node 4242 58445.556003:     500250 cpu-clock: \n${frames.map((f) => `\t    7f00aa ${f}`).join("\n")}\n\n`;

const SCRIPT = [
  sample([
    "pvm_irq_enable+0x10 ([kernel.kallsyms])",
    "tcp_sendmsg+0x20 ([kernel.kallsyms])",
    "__GI___writev+0x1f (/usr/lib/x86_64-linux-gnu/libc.so.6)",
    "uv__write+0x100 (/usr/bin/node)",
  ]),
  sample(["pvm_irq_enable+0x10 ([kernel.kallsyms])", "fdatasync+0x1 (/usr/lib/x86_64-linux-gnu/libc.so.6)"]),
  sample([
    "v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot>+0x10 (/usr/bin/node)",
    "JS:*encodeSet file:///srv/dist/src/core/context.js:14:26+0x55 (/tmp/perf-4242.map)",
  ]),
  sample(["v8::internal::compiler::GraphReducer::ReduceTop+0x1 (/usr/bin/node)"]),
  sample([
    "__memmove_avx512_unaligned_erms+0x1 (/lib/libc.so.6)",
    "v8::internal::Parser::ParseProgram+0x10 (/usr/bin/node)",
  ]),
  sample([
    "Builtins_LoadIC+0x1 (/usr/bin/node)",
    "JS:*#lowerBound file:///srv/dist/src/storage/memtable.js:159:16+0x20 (/tmp/perf-4242.map)",
    "JS:*add file:///srv/dist/src/storage/memtable.js:97:8+0x20 (/tmp/perf-4242.map)",
  ]),
  sample([
    "JS:*#lowerBound file:///srv/dist/src/storage/memtable.js:159:16+0x20 (/tmp/perf-4242.map)",
    "Builtins_CompileLazy+0x1b3 (/usr/bin/node)",
    "Builtins_RunMicrotasks+0x274 (/usr/bin/node)",
  ]),
  sample(["JS:*doEncode /srv/node_modules/@msgpack/msgpack/dist.cjs/Encoder.cjs:95:13+0x1 (/tmp/perf-4242.map)"]),
  sample([
    "JS:*emit node:events:471:44+0x3 (/tmp/perf-4242.map)",
    "node::(anonymous namespace)::Parser::OnStreamRead+0x60 (/usr/bin/node)",
  ]),
  sample(["uv__io_poll+0x1 (/usr/bin/node)", "uv_run+0x187 (/usr/bin/node)"]),
  sample(["[unknown] (/tmp/perf-4242.map)"]),
].join("");

test("every sample lands in one area: kernel, GC, JIT, else the nearest JavaScript frame's folder", () => {
  const s = summarizePerf(SCRIPT);
  assert.is(s.samples, 11);
  const area = Object.fromEntries(s.areas.map((a) => [a.name, a.samples]));
  assert.equal(area, {
    "kernel (system calls)": 2,
    "garbage collection": 1,
    "JIT compilation": 2, // the compiler's own calls (a copy) included
    "src/storage": 2, // one under a closure's first call (CompileLazy on the stack is not compilation)
    "@msgpack/msgpack": 1,
    "node: internals": 1, // under Node's HTTP parser, which is not V8's
    "runtime native (no JavaScript on the stack)": 1,
    "JIT code without symbols": 1,
  });
  const shares = s.areas.reduce((sum, a) => sum + a.share, 0);
  assert.ok(Math.abs(shares - 1) < 1e-9, "the shares add up to the whole");
  assert.is(s.areas[0]!.name, "kernel (system calls)", "largest first");
});

test("kernel samples are named by the user-space call they came from; top functions are self time", () => {
  const s = summarizePerf(SCRIPT);
  assert.equal(s.syscalls.map((c) => [c.name, c.samples]).sort(), [["__GI___writev", 1], ["fdatasync", 1]]);
  const top = Object.fromEntries(s.top.map((t) => [t.name, t.samples]));
  assert.is(top["[kernel] pvm_irq_enable"], 2);
  assert.is(top["JS:*#lowerBound file:///srv/dist/src/storage/memtable.js:159:16"], 1, "offsets are dropped");
  assert.is(top["Builtins_LoadIC"], 1, "a builtin is its own function in the top list");
});

test("no samples, no areas; a sample without frames is not counted", () => {
  assert.equal(summarizePerf(""), { samples: 0, areas: [], syscalls: [], top: [] });
  const s = summarizePerf("node 1 1.0: 1 cpu-clock: \n\n" + sample(["fdatasync+0x1 (/lib/libc.so.6)"]));
  assert.is(s.samples, 1);
  assert.is(s.areas[0]!.name, "runtime native (no JavaScript on the stack)", "a call without a kernel frame");
});

// A perf map as a runtime writes it: decideWrite compiled first (0x1000-0x1400), freed, and its space reused by
// the WebSocket receiver's handler (0x1200-0x1280), whose line comes later.
const MAP = [
  "1000 400 JS:*decideWrite file:///srv/dist/src/core/write_decision.js:5:28",
  "2000 100 JS:*emit node:events:471:44",
  "1200 80 JS:*dataMessage /srv/node_modules/ws/lib/receiver.js:585:14",
  "",
].join("\n");

test("PerfMaps names an address by the newest map entry that covers it", () => {
  const read: string[] = [];
  const maps = new PerfMaps((path) => {
    read.push(path);
    return path === "/tmp/perf-7.map" ? MAP : null;
  });
  assert.is(maps.lookup("/tmp/perf-7.map", 0x1234n), "JS:*dataMessage /srv/node_modules/ws/lib/receiver.js:585:14");
  assert.is(
    maps.lookup("/tmp/perf-7.map", 0x1100n),
    "JS:*decideWrite file:///srv/dist/src/core/write_decision.js:5:28",
  );
  assert.is(
    maps.lookup("/tmp/perf-7.map", 0x1280n),
    "JS:*decideWrite file:///srv/dist/src/core/write_decision.js:5:28",
  );
  assert.is(maps.lookup("/tmp/perf-7.map", 0x1400n), null, "the end is outside");
  assert.is(maps.lookup("/tmp/perf-7.map", 0x20ffn), "JS:*emit node:events:471:44");
  assert.is(maps.lookup("/tmp/perf-7.map", 0xfffn), null);
  assert.is(maps.lookup("/tmp/perf-8.map", 0x1234n), null, "a map that is gone names nothing");
  assert.equal(read, ["/tmp/perf-7.map", "/tmp/perf-8.map"], "each map is read once");
});

test("PerfMaps.rename fixes perf's name for reused code, and the area follows", () => {
  const script = "node 7 1.0: 1 cpu-clock: \n" +
    "\t    1234 JS:*decideWrite file:///srv/dist/src/core/write_decision.js:5:28+0x234 (/tmp/perf-7.map)\n" +
    "\t    9999 uv_run+0x187 (/usr/bin/node)\n" +
    "\t    5555 JS:*old file:///srv/dist/src/core/x.js:1:1+0x5 (/tmp/perf-7.map)\n\n";
  const renamed = new PerfMaps(() => MAP).rename(script);
  assert.ok(
    renamed.includes("\t    1234 JS:*dataMessage /srv/node_modules/ws/lib/receiver.js:585:14 (/tmp/perf-7.map)"),
  );
  assert.ok(renamed.includes("\t    9999 uv_run+0x187 (/usr/bin/node)"), "native frames stay as they are");
  assert.ok(renamed.includes("5555 JS:*old file:///srv/dist/src/core/x.js:1:1+0x5"), "no entry: perf's name stays");
  assert.is(summarizePerf(script).areas[0]!.name, "src/core");
  assert.is(summarizePerf(renamed).areas[0]!.name, "ws");
});
test.run();
