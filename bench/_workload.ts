/**
 * The YCSB core workloads and the closed-loop runner for bench/ycsb.ts (Cooper et al., "Benchmarking Cloud
 * Serving Systems with YCSB", SoCC 2010). A fixed number of workers each keep one request in flight; keys
 * come from YCSB's scrambled zipfian (constant 0.99) over the loaded records; values are 1 KB (YCSB's ten
 * fields of 100 bytes, as one blob). Latency is measured around each whole operation, from the moment the
 * worker issues it until its answer is read, after a warm-up whose operations are not counted.
 *
 * Every system is reached through a `Target`, so the generator stays the same whichever system it measures.
 */
import { ScrambledZipfian, SeededRandom } from "./_zipf.ts";

export type OpKind = "read" | "update" | "rmw";

export interface Workload {
  name: string;
  description: string;
  read: number;
  update: number;
  rmw: number;
}

/** YCSB's core workloads A, B, C and F (D and E need inserts and scans, which this benchmark leaves out). */
export const WORKLOADS: Record<string, Workload> = {
  A: { name: "A", description: "update heavy: 50% read, 50% update", read: 0.5, update: 0.5, rmw: 0 },
  B: { name: "B", description: "read mostly: 95% read, 5% update", read: 0.95, update: 0.05, rmw: 0 },
  C: { name: "C", description: "read only: 100% read", read: 1, update: 0, rmw: 0 },
  F: { name: "F", description: "read-modify-write: 50% read, 50% read-modify-write", read: 0.5, update: 0, rmw: 0.5 },
};

export const VALUE_BYTES = 1024;
export const FIELD_BYTES = 100;

/** One system under test at one consistency level. `worker` lets a target pin a worker to a node or socket. */
export interface Target {
  /** Writes records 0..n-1 (`key(i)`, `value(i)`), as fast as the system allows; not measured. */
  load(records: number, key: (i: number) => string, value: (i: number) => Uint8Array): Promise<void>;
  /** True when the key was found. */
  read(worker: number, key: string): Promise<{ found: boolean; siblings?: number }>;
  update(worker: number, key: string, value: Uint8Array): Promise<void>;
  /** Reads the key, writes `modify(old)`, and retries when another writer won the race. */
  readModifyWrite(worker: number, key: string, modify: (old: Uint8Array | null) => Uint8Array): Promise<void>;
}

export interface RunOptions {
  records: number;
  inflight: number;
  warmupMs: number;
  durationMs: number;
  seed: number;
  /** Stop early when more than this many operations failed (and most did): the system is down. */
  errorsMax?: number;
  /** CPU seconds the system under test has used so far (all its processes), sampled around the measured window. */
  serverCpu?: () => number;
  /** Told when the measured window starts and ends (bench/ycsb.ts --perf records the nodes in it). */
  onWindow?: (edge: "start" | "end") => void;
}

export interface Latency {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface RunResult {
  opsPerSec: number;
  /** Coefficient of variation of throughput over 500 ms windows: how steady the run was. */
  cv: number;
  all: Latency;
  byOp: Partial<Record<OpKind, Latency>>;
  misses: number;
  siblingReads: number;
  errors: number;
  errorSamples: string[];
  /** CPU the generator itself used during the measured window, in cores (1 = one core busy). */
  generatorCpu: number;
  /** CPU the system under test used per completed operation in the measured window (all its processes), µs; null unknown. */
  serverCpuUsPerOp: number | null;
  /** The measured window, in this process's performance.now() ms. */
  window: [number, number];
}

export const recordKey = (i: number) => `user${i}`;

/** Values for loading and updating: a few seeded 1 KB blobs, reused so the generator does not cost CPU. */
export function valuePool(seed: number, n = 16): Uint8Array[] {
  const rng = new SeededRandom(seed);
  return Array.from({ length: n }, () => rng.bytes(VALUE_BYTES));
}

/** Percentiles of latencies in ms (sorts the array in place). */
export function latency(ms: Float64Array | number[]): Latency {
  const xs = ms instanceof Float64Array ? ms.sort() : Float64Array.from(ms).sort();
  const at = (p: number) => (xs.length === 0 ? 0 : xs[Math.min(xs.length - 1, Math.ceil(xs.length * p) - 1)]!);
  return {
    count: xs.length,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    max: xs.length === 0 ? 0 : xs[xs.length - 1]!,
  };
}

const BUCKET_MS = 500;

/** Runs one workload against a loaded target and measures it. */
export async function runWorkload(target: Target, w: Workload, o: RunOptions): Promise<RunResult> {
  const rng = new SeededRandom(o.seed);
  const keys = new ScrambledZipfian(o.records, rng);
  const pool = valuePool(o.seed ^ 0x5eed);
  const samples: Record<OpKind, number[]> = { read: [], update: [], rmw: [] };
  const buckets = new Array<number>(Math.ceil(o.durationMs / BUCKET_MS)).fill(0);
  const errorSamples = new Set<string>();
  let misses = 0;
  let siblingReads = 0;
  let errors = 0;
  let attempted = 0;
  const errorsMax = o.errorsMax ?? 1000;
  const started = performance.now();
  const measureFrom = started + o.warmupMs;
  const end = measureFrom + o.durationMs;

  const modify = (old: Uint8Array | null): Uint8Array => {
    // YCSB's read-modify-write rewrites one field of the record it read.
    const out = old === null || old.byteLength !== VALUE_BYTES ? new Uint8Array(VALUE_BYTES) : old.slice();
    const field = rng.int(Math.floor(VALUE_BYTES / FIELD_BYTES));
    out.set(pool[rng.int(pool.length)]!.subarray(0, FIELD_BYTES), field * FIELD_BYTES);
    return out;
  };

  // Timers rather than checks in the workers, so the samples are taken on time even when workers wait.
  const cpu: {
    start?: NodeJS.CpuUsage;
    end?: NodeJS.CpuUsage;
    serverStart?: number | undefined;
    serverEnd?: number | undefined;
  } = {};
  const cpuTimers = [
    setTimeout(() => {
      cpu.start = process.cpuUsage();
      cpu.serverStart = o.serverCpu?.();
      o.onWindow?.("start");
    }, o.warmupMs),
    setTimeout(() => {
      cpu.end = process.cpuUsage();
      cpu.serverEnd = o.serverCpu?.();
      o.onWindow?.("end");
    }, o.warmupMs + o.durationMs),
  ];
  const worker = async (id: number) => {
    while (performance.now() < end && !(errors > errorsMax && errors * 2 > attempted)) {
      const key = recordKey(keys.next());
      const u = rng.next();
      const kind: OpKind = u < w.read ? "read" : u < w.read + w.update ? "update" : "rmw";
      const t0 = performance.now();
      attempted++;
      try {
        if (kind === "read") {
          const r = await target.read(id, key);
          if (!r.found && t0 >= measureFrom) misses++;
          if ((r.siblings ?? 1) > 1 && t0 >= measureFrom) siblingReads++;
        } else if (kind === "update") {
          await target.update(id, key, pool[rng.int(pool.length)]!);
        } else {
          await target.readModifyWrite(id, key, modify);
        }
      } catch (e) {
        errors++;
        if (errorSamples.size < 5) {
          errorSamples.add(`${(e as { code?: string }).code ?? ""} ${(e as Error).message ?? e}`.trim().slice(0, 160));
        }
        continue;
      }
      const t1 = performance.now();
      if (t1 >= measureFrom && t1 < end) {
        samples[kind].push(t1 - t0);
        buckets[Math.floor((t1 - measureFrom) / BUCKET_MS)]!++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.inflight }, (_, i) => worker(i)));
  for (const t of cpuTimers) clearTimeout(t);
  const generatorCpu = cpu.start && cpu.end
    ? (cpu.end.user - cpu.start.user + cpu.end.system - cpu.start.system) / 1000 / o.durationMs
    : 0;

  const done = buckets.reduce((a, b) => a + b, 0);
  const rates = buckets.map((b) => b / (BUCKET_MS / 1000));
  const mean = rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length);
  const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / Math.max(1, rates.length));
  const byOp: Partial<Record<OpKind, Latency>> = {};
  for (const k of ["read", "update", "rmw"] as const) if (samples[k].length > 0) byOp[k] = latency(samples[k]);
  return {
    opsPerSec: done / (o.durationMs / 1000),
    cv: mean === 0 ? 0 : sd / mean,
    all: latency([...samples.read, ...samples.update, ...samples.rmw]),
    byOp,
    misses,
    siblingReads,
    errors,
    errorSamples: [...errorSamples],
    generatorCpu,
    window: [measureFrom, end],
    serverCpuUsPerOp: cpu.serverStart === undefined || cpu.serverEnd === undefined || done === 0
      ? null
      : ((cpu.serverEnd - cpu.serverStart) * 1e6) / done,
  };
}

/** Runs `jobs` producers of work items with at most `concurrency` running at once (for loading). */
export async function parallel<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, lane: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async (_, lane) => {
    while (next < items.length) await fn(items[next++]!, lane);
  }));
}

/** `[start, end)` chunks of `0..n-1`. */
export function chunks(n: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < n; i += size) out.push([i, Math.min(n, i + size)]);
  return out;
}
