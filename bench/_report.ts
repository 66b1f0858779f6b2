/**
 * Output of bench/ycsb.ts: Markdown tables (printed and written to bench/results/<date>.md), the machine the
 * run was on, and a hand-written SVG chart of throughput and p99 latency per system and workload. The chart
 * has no dependency: bars are rects, the p99 axis is logarithmic so sub-millisecond and emulated-WAN
 * latencies fit on one chart.
 */
import { spawnSync } from "node:child_process";
import { cpus, loadavg, release, totalmem, type as osType } from "node:os";
import { fmt } from "./_table.ts";
import type { RunResult } from "./_workload.ts";

export interface Row {
  /** `meshkv node`, `meshkv mixed`, `meshkv node +40ms`, `etcd`, `redis`. */
  system: string;
  level: string;
  workload: string;
  result: RunResult;
  /** Throughput of every repeat (the row shows the median one). */
  repeats: number[];
}

/** A Markdown table as text. */
export function mdTable(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return "(no rows)\n";
  const cols = Object.keys(rows[0]!);
  const cell = (v: string | number | undefined) => (v === undefined ? "" : typeof v === "number" ? fmt(v) : v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => `| ${vals.map((v, i) => v.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    line(cols),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map((r) => line(cols.map((c) => cell(r[c])))),
  ].join("\n") + "\n";
}

const ms = (x: number) => (x >= 100 ? Math.round(x).toString() : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const pct = (part: number, whole: number) => (whole === 0 ? "0" : ((100 * part) / whole).toFixed(part === 0 ? 0 : 1));

/** The detailed table of one workload: one row per system and level. */
export function workloadTable(rows: Row[]): string {
  return mdTable(rows.map((r) => {
    const x = r.result;
    const reads = x.byOp.read?.count ?? 0;
    const write = x.byOp.update ?? x.byOp.rmw;
    return {
      system: r.system,
      level: r.level,
      "ops/s": Math.round(x.opsPerSec),
      "±": `${Math.round(x.cv * 100)}%`,
      "p50 ms": ms(x.all.p50),
      "p95 ms": ms(x.all.p95),
      "p99 ms": ms(x.all.p99),
      "max ms": ms(x.all.max),
      "read p99": x.byOp.read ? ms(x.byOp.read.p99) : "-",
      [x.byOp.rmw ? "rmw p99" : "write p99"]: write ? ms(write.p99) : "-",
      "miss %": pct(x.misses, reads),
      "sibling reads %": pct(x.siblingReads, reads),
      errors: x.errors,
      "server CPU µs/op": x.serverCpuUsPerOp === null ? "-" : Math.round(x.serverCpuUsPerOp),
      "gen CPU": x.generatorCpu.toFixed(2),
      ...(r.repeats.length > 1 ? { "runs ops/s": r.repeats.map((t) => Math.round(t)).join(" / ") } : {}),
    };
  }));
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 15_000 });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n").find((l) => l.trim() !== "")?.trim() ?? "not found";
}

/** CPU, memory, OS and runtime versions, as a table. */
export function machineTable(root: string, peers: Record<string, string>): string {
  const c = cpus();
  const bin = (n: string) => `${root}/node_modules/.bin/${n}`;
  return mdTable([
    {
      what: "cpu",
      value: `${c[0]?.model ?? "unknown"} (${c.length} logical cores, ${
        c[0]?.speed ? `${c[0].speed} MHz` : "clock not reported"
      })`,
    },
    { what: "memory", value: `${(totalmem() / 2 ** 30).toFixed(1)} GiB` },
    { what: "os", value: `${osType()} ${release()}` },
    { what: "load average at start (1/5/15 min)", value: loadavg().map((l) => l.toFixed(2)).join(" / ") },
    { what: "node (load generator and Node nodes)", value: process.version },
    { what: "deno", value: sh(bin("deno"), ["--version"]) },
    { what: "bun", value: sh(bin("bun"), ["--version"]) },
    ...Object.entries(peers).map(([what, value]) => ({ what, value })),
  ]);
}

// ---------------------------------------------------------------------------------------------------------
// SVG chart

const COLORS: Record<string, string> = { A: "#4e79a7", B: "#59a14f", C: "#f28e2b", F: "#b07aa1" };
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Throughput (left, linear) and p99 (right, log) per system and level, one bar per workload. */
export function chart(rows: Row[], title: string): string {
  const groups: string[] = [];
  for (const r of rows) if (!groups.includes(`${r.system} · ${r.level}`)) groups.push(`${r.system} · ${r.level}`);
  const workloads = [...new Set(rows.map((r) => r.workload))];
  const barH = 7, gap = 10, labelW = 190, panelW = 330, top = 56, panelGap = 40;
  const groupH = workloads.length * barH + gap;
  const height = top + groups.length * groupH + 40;
  const width = labelW + 2 * panelW + panelGap + 20;
  const find = (g: string, w: string) => rows.find((r) => `${r.system} · ${r.level}` === g && r.workload === w);
  // An unreplicated in-memory upper bound (Redis) would flatten every other bar: its bars are cut at the
  // axis and labelled with their value when it is more than three times the rest.
  const allMax = Math.max(1, ...rows.map((r) => r.result.opsPerSec));
  const restMax = Math.max(1, ...rows.filter((r) => !r.system.startsWith("redis")).map((r) => r.result.opsPerSec));
  const maxOps = allMax > 3 * restMax ? restMax * 1.15 : allMax;
  const opsStep = niceStep(maxOps / 4);
  const opsMax = Math.ceil(maxOps / opsStep) * opsStep;
  const p99s = rows.map((r) => r.result.all.p99).filter((x) => x > 0);
  const logMin = Math.floor(Math.log10(Math.max(0.01, Math.min(1, ...p99s)))),
    logMax = Math.ceil(Math.log10(Math.max(10, ...p99s)));
  const x1 = labelW, x2 = labelW + panelW + panelGap;
  const ox = (v: number) => x1 + (v / opsMax) * panelW;
  const lx = (v: number) => x2 + ((Math.log10(Math.max(v, 10 ** logMin)) - logMin) / (logMax - logMin)) * panelW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="10" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${x1}" y="40" font-weight="bold">throughput, ops/s (more is better)</text>`);
  out.push(`<text x="${x2}" y="40" font-weight="bold">p99 latency, ms, log scale (less is better)</text>`);
  const bottom = top + groups.length * groupH;
  for (let v = 0; v <= opsMax; v += opsStep) {
    out.push(`<line x1="${ox(v)}" y1="${top - 4}" x2="${ox(v)}" y2="${bottom}" stroke="#ddd"/>`);
    out.push(`<text x="${ox(v)}" y="${bottom + 14}" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (let e = logMin; e <= logMax; e++) {
    out.push(`<line x1="${lx(10 ** e)}" y1="${top - 4}" x2="${lx(10 ** e)}" y2="${bottom}" stroke="#ddd"/>`);
    out.push(
      `<text x="${lx(10 ** e)}" y="${bottom + 14}" text-anchor="middle">${
        10 ** e >= 1 ? fmt(10 ** e) : (10 ** e).toFixed(-e)
      }</text>`,
    );
  }
  groups.forEach((g, gi) => {
    const y0 = top + gi * groupH;
    out.push(
      `<text x="${labelW - 8}" y="${y0 + (workloads.length * barH) / 2 + 4}" text-anchor="end">${esc(g)}</text>`,
    );
    workloads.forEach((w, wi) => {
      const r = find(g, w);
      if (r === undefined) return;
      const y = y0 + wi * barH;
      const color = COLORS[w] ?? "#999";
      const cut = r.result.opsPerSec > opsMax;
      out.push(
        `<rect x="${x1}" y="${y}" width="${(ox(Math.min(r.result.opsPerSec, opsMax)) - x1).toFixed(1)}" height="${
          barH - 1
        }" fill="${color}"><title>${esc(`${g} ${w}: ${Math.round(r.result.opsPerSec)} ops/s`)}</title></rect>`,
      );
      if (cut) {
        out.push(
          `<text x="${ox(opsMax) + 3}" y="${y + barH - 1}" font-size="8">${
            fmt(Math.round(r.result.opsPerSec))
          } →</text>`,
        );
      }
      out.push(
        `<rect x="${x2}" y="${y}" width="${Math.max(1, lx(r.result.all.p99) - x2).toFixed(1)}" height="${
          barH - 1
        }" fill="${color}"><title>${esc(`${g} ${w}: p99 ${ms(r.result.all.p99)} ms`)}</title></rect>`,
      );
    });
  });
  workloads.forEach((w, i) => {
    const x = x1 + i * 90;
    out.push(
      `<rect x="${x}" y="${height - 16}" width="10" height="10" fill="${COLORS[w] ?? "#999"}"/><text x="${x + 14}" y="${
        height - 7
      }">workload ${esc(w)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
