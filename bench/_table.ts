/** Markdown tables for benchmark output, shared by every bench file so runtimes print comparable tables. */

export function fmt(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString("en-US");
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(n >= 10 ? 1 : 3);
}

/** Prints `rows` as a Markdown table headed with `title` and the runtime it ran on. */
export function printTable(title: string, runtime: string, rows: Record<string, string | number>[]): void {
  console.log(`\n## ${title} (${runtime})\n`);
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const cell = (v: string | number) => (typeof v === "number" ? fmt(v) : v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]!).length)));
  const line = (vals: string[]) => `| ${vals.map((v, i) => v.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(cols));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]!))));
}
