/**
 * Runs test files inside one runtime (Node through tsx, Deno, Bun) with uvu.
 *
 * `test/run.mjs` starts this once per runtime. Arguments are test files or folders (default: all of `test/`);
 * files are `*.test.ts`. uvu is deferred so every file is imported first, then all suites run in order. The
 * process exits explicitly when done, so a test that leaks a timer or socket cannot hang the run.
 */
import { readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");

function collect(path: string, out: string[]): void {
  const info = statSync(path);
  if (info.isDirectory()) {
    for (const name of readdirSync(path).sort()) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      collect(join(path, name), out);
    }
  } else if (path.endsWith(".test.ts")) {
    out.push(path);
  }
}

const targets = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const files: string[] = [];
for (const target of targets.length ? targets : [join(root, "test")]) collect(resolve(target), files);

const g = globalThis as unknown as { UVU_DEFER: number; UVU_INDEX: number; UVU_QUEUE: unknown[][] };
g.UVU_DEFER = 1;
g.UVU_QUEUE = [];
const uvu = await import("uvu");
let index = 0;
for (const file of files) {
  g.UVU_INDEX = index++;
  g.UVU_QUEUE.push([relative(root, file)]);
  await import(pathToFileURL(file).href);
}
await uvu.exec(false);
const code = typeof process.exitCode === "number" ? process.exitCode : 0;
// Give stdout a moment to drain on runtimes where exit() can cut buffered output.
await new Promise((r) => setTimeout(r, 20));
process.exit(code);
