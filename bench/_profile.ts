/**
 * Reads V8 CPU profiles (`.cpuprofile`, written by `node --cpu-prof`, `deno run --cpu-prof-dir` and
 * `bun --cpu-prof`) and sums self time per function, so bench/ycsb.ts can name where a node spends its CPU.
 * Self time is the sampling interval attributed to the frame on top of the stack when the sample was taken;
 * idle samples are left out of the total, so the shares are of busy time.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime?: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface AreaTime {
  area: string;
  selfMs: number;
  share: number;
}

export interface SelfTime {
  fn: string;
  where: string;
  selfMs: number;
  share: number;
}

/**
 * Self time per function over every `.cpuprofile` in `dir`, largest first, with busy time in ms. With `window`
 * (ms since the process started, which is where its profile starts), only samples inside it count, so start-up
 * and loading are left out.
 */
export function topSelfTime(
  dir: string,
  root: string,
  limit = 15,
  window?: [number, number],
): { rows: SelfTime[]; areas: AreaTime[]; busyMs: number; files: number } {
  const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  const totals = new Map<string, { fn: string; where: string; us: number }>();
  let busyUs = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(join(dir, f), "utf8")) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const selfUs = new Map<number, number>();
    if (p.samples && p.timeDeltas && p.samples.length === p.timeDeltas.length) {
      // timeDeltas[i] is the time before sample i; the time until the next sample belongs to sample i.
      let atUs = 0;
      for (let i = 0; i < p.samples.length; i++) {
        atUs += p.timeDeltas[i]!;
        if (window && (atUs / 1000 < window[0] || atUs / 1000 > window[1])) continue;
        const us = p.timeDeltas[i + 1] ?? 0;
        selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + Math.max(0, us));
      }
    } else {
      for (const n of p.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * 1000);
    }
    for (const [id, us] of selfUs) {
      const n = byId.get(id);
      if (n === undefined) continue;
      const fn = n.callFrame.functionName || "(anonymous)";
      if (fn === "(idle)") continue;
      busyUs += us;
      const where = shortUrl(n.callFrame.url, root, n.callFrame.lineNumber);
      const key = `${fn}@${where}`;
      const t = totals.get(key) ?? { fn, where, us: 0 };
      t.us += us;
      totals.set(key, t);
    }
  }
  const sorted = [...totals.values()].sort((a, b) => b.us - a.us);
  const rows = sorted.slice(0, limit)
    .map((t) => ({ fn: t.fn, where: t.where, selfMs: t.us / 1000, share: busyUs === 0 ? 0 : t.us / busyUs }));
  const byArea = new Map<string, number>();
  for (const t of sorted) byArea.set(areaOf(t.fn, t.where), (byArea.get(areaOf(t.fn, t.where)) ?? 0) + t.us);
  const areas = [...byArea].sort((a, b) => b[1] - a[1])
    .map(([area, us]) => ({ area, selfMs: us / 1000, share: busyUs === 0 ? 0 : us / busyUs }));
  return { rows, areas, busyMs: busyUs / 1000, files: files.length };
}

/**
 * Where a function belongs, for the per-area table: a folder of `src/` (`src/cluster`), a dependency
 * (`hono`, `ws`), Node's own JavaScript (`node: internals`), garbage collection, or the runtime's native code.
 * Self time per area is flat (a dependency called by the coordinator counts as the dependency), which is what
 * "where does a request's CPU go" needs: the areas add up to the busy time.
 */
function areaOf(fn: string, where: string): string {
  if (fn === "(garbage collector)") return "garbage collection";
  if (fn === "(program)" || where.startsWith("(native)")) return "native (runtime, system calls)";
  const dep = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where);
  if (dep) return dep[1]!;
  const src = /^src\/([^/:]+)\//.exec(where);
  if (src) return `src/${src[1]}`;
  if (/^src\/[^/]+:/.test(where)) return "src";
  if (where.startsWith("node:")) return "node: internals";
  if (where.startsWith("ext:") || where.includes("deno:")) return "deno: internals";
  return where.split(":")[0] || "other";
}

/** `src/http/app.ts:42` for project files, the package and file for dependencies, the builtin name otherwise. */
function shortUrl(url: string, root: string, line: number): string {
  if (url === "") return "(native)";
  let path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("node_modules/");
  if (nm >= 0) path = path.slice(nm);
  else if (path.startsWith(root)) path = relative(root, path);
  return `${path}:${line + 1}`;
}
