/**
 * Where a Node meshkv node allocates: a preload (`NODE_OPTIONS="--require ./bench/heap_sample.cjs"`) that runs
 * V8's sampling heap profiler in every process started with `start` in its arguments (the nodes, not the
 * generator), from HEAP_SAMPLE_FROM to HEAP_SAMPLE_TO seconds after the process started (defaults 28 and 40:
 * the middle of a quick run's measured window with `--warmup 20`), counting objects the garbage collector has
 * already freed too (so it measures allocation, not what stays alive). Each node then writes
 * `heap-<pid>.txt` into HEAP_SAMPLE_DIR (default: the system's temporary directory): the megabytes allocated
 * in the window and the functions that allocated the most themselves. Divide by the operations of the window
 * (or compare with a function whose allocation per request does not change, as docs/bench.md does) to get bytes
 * per operation. Example (docs/bench.md, eleventh round):
 *
 *   NODE_OPTIONS="--require ./bench/heap_sample.cjs" node --import tsx bench/ycsb.ts --quick --warmup 20 \
 *     --duration 15 --runtimes node --workloads A --levels quorum --peers none --delay-runtimes none
 */
"use strict";
if (process.argv.includes("start")) {
  const inspector = require("node:inspector");
  const fs = require("node:fs");
  const os = require("node:os");
  const path = require("node:path");
  const from = Number(process.env.HEAP_SAMPLE_FROM ?? 28);
  const to = Number(process.env.HEAP_SAMPLE_TO ?? 40);
  const dir = process.env.HEAP_SAMPLE_DIR ?? os.tmpdir();
  const session = new inspector.Session();
  session.connect();
  const started = {
    samplingInterval: 8192,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  };
  setTimeout(() => {
    session.post("HeapProfiler.enable", () => session.post("HeapProfiler.startSampling", started));
  }, from * 1000).unref();
  setTimeout(() => {
    session.post("HeapProfiler.stopSampling", (err, result) => {
      if (err) return console.error("heap_sample:", err);
      fs.writeFileSync(path.join(dir, `heap-${process.pid}.txt`), summary(result.profile, to - from));
    });
  }, to * 1000).unref();
}

/** Total megabytes and the top 40 functions by the bytes they allocated themselves. */
function summary(profile, seconds) {
  const self = new Map();
  let total = 0;
  const walk = (node) => {
    const f = node.callFrame;
    const name = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/(dist|node_modules)\//, "")}:${
      f.lineNumber + 1
    }`;
    self.set(name, (self.get(name) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const c of node.children) walk(c);
  };
  walk(profile.head);
  const lines = [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)
    .map(([name, bytes]) => `${(bytes / 1e6).toFixed(1).padStart(8)} MB ${name}`);
  return `total ${(total / 1e6).toFixed(1)} MB allocated in ${seconds} s\n${lines.join("\n")}\n`;
}
