/**
 * Project checks: the tree obeys the rules in test/_checks.ts, and each rule still catches a known violation.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  allChecks,
  checkAmbientTime,
  checkClientIsolation,
  checkErasableSyntax,
  checkExportMaps,
  checkImportExtensions,
  checkLayering,
  checkRuntimeIsolation,
  checkTestsRun,
  compiledExport,
  type SourceFile,
  type Violation,
} from "./_checks.ts";
import { repoRoot } from "./_helpers.ts";

function walk(dir: string, out: SourceFile[]): SourceFile[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (name === "node_modules" || name.startsWith(".")) continue;
    if (statSync(full).isDirectory()) walk(full, out);
    else if (/\.(tsx?|mjs)$/.test(name)) out.push({ path: relative(repoRoot, full), text: readFileSync(full, "utf8") });
  }
  return out;
}

const files = ["src", "test", "bench", "examples"].flatMap((d) => walk(join(repoRoot, d), []));
if (existsSync(join(repoRoot, "mod.ts"))) {
  files.push({ path: "mod.ts", text: readFileSync(join(repoRoot, "mod.ts"), "utf8") });
}
const read = (p: string) => readFileSync(join(repoRoot, p), "utf8");

const show = (v: Violation[]) => v.map((x) => `[${x.rule}] ${x.path}:${x.line}: ${x.message}`).join("\n");
const rules = (v: Violation[]) => [...new Set(v.map((x) => x.rule))];

test("the tree obeys every project rule", () => {
  const v = allChecks(files, read("deno.json"), read("package.json"), (p) => existsSync(join(repoRoot, p)));
  assert.is(v.length, 0, `\n${show(v)}\n`);
  assert.ok(files.length > 10, "the checks must actually see the source files");
});

test("src/version.ts, package.json and deno.json state the same version", () => {
  const version = /VERSION = "([^"]+)"/.exec(read("src/version.ts"))?.[1];
  assert.is(
    JSON.parse(read("package.json")).version,
    version,
    "package.json version differs from src/version.ts: make them the same",
  );
  assert.is(
    JSON.parse(read("deno.json")).version,
    version,
    "deno.json version differs from src/version.ts: make them the same",
  );
});

test("runtime-isolation catches Deno, Bun, node: imports and process outside src/runtime", () => {
  const bad: SourceFile[] = [
    { path: "src/core/a.ts", text: 'import { readFile } from "node:fs/promises";\n' },
    { path: "src/cluster/b.ts", text: "const x = Deno.env.get('X');\nconst y = Bun.version;\n" },
    { path: "src/http/c.ts", text: "if (process.env.DEBUG) {}\n" },
  ];
  const v = checkRuntimeIsolation(bad);
  assert.is(v.length, 4, show(v));
  assert.ok(v.every((x) => x.rule === "runtime-isolation" && x.message.includes("Runtime interface")));
  assert.is(
    checkRuntimeIsolation([{ path: "src/runtime/node.ts", text: 'import process from "node:process";' }]).length,
    0,
  );
  assert.is(
    checkRuntimeIsolation([{
      path: "src/core/d.ts",
      text: "// process the batch\nconst s = 'Deno.x';\nprocessBatch();",
    }]).length,
    0,
  );
});

test("no-ambient-time catches Date.now, Math.random and bare timers, and names the Clock", () => {
  const v = checkAmbientTime([
    {
      path: "src/storage/x.ts",
      text:
        "const t = Date.now();\nconst r = Math.random();\nsetTimeout(() => {}, 1);\nconst d = new Date();\nperformance.now();\nglobalThis.setInterval(f, 1);",
    },
  ]);
  assert.is(v.length, 6, show(v));
  assert.ok(v.every((x) => x.rule === "no-ambient-time" && x.message.includes("Clock")));
  assert.is(
    checkAmbientTime([{ path: "src/storage/y.ts", text: "clock.setTimeout(f, 1); this.#clock.now(); new Date(ms);" }])
      .length,
    0,
  );
  assert.is(checkAmbientTime([{ path: "src/client/z.ts", text: "performance.now();" }]).length, 0);
});

test("ts-import-extension catches relative imports without .ts", () => {
  const v = checkImportExtensions([{
    path: "src/a.ts",
    text: 'import { x } from "./x";\nexport * from "../y.js";\nconst m = await import("./z");\nimport "./ok.ts";',
  }]);
  assert.equal(v.map((x) => x.line), [1, 2, 3]);
  assert.equal(rules(v), ["ts-import-extension"]);
  // JSX files (the dashboard) are checked too, and may be imported by their .tsx name.
  const jsx = checkImportExtensions([{
    path: "src/http/ui/a.tsx",
    text: 'import { p } from "./parts.tsx";\nimport { q } from "./q";',
  }]);
  assert.equal(jsx.map((x) => `${x.path}:${x.line}`), ["src/http/ui/a.tsx:2"]);
});

test("erasable-syntax catches enum, namespace and parameter properties", () => {
  const v = checkErasableSyntax([
    {
      path: "src/a.ts",
      text:
        "enum Color { Red }\nnamespace N { }\nclass A { constructor(private x: number) {} }\nconst o = { enum: 1 };",
    },
  ]);
  assert.is(v.length, 3, show(v));
  assert.equal(rules(v), ["erasable-syntax"]);
});

test("export-maps-agree catches maps that differ or point nowhere", () => {
  const deno = JSON.stringify({ exports: { ".": "./mod.ts", "./client": "./src/client/mod.ts" } });
  const pkg = JSON.stringify({
    exports: { ".": compiledExport("./mod.ts"), "./client": compiledExport("./src/client/mod.ts") },
  });
  const exists = () => true;
  assert.is(checkExportMaps(deno, pkg, exists).length, 0);
  assert.equal(compiledExport("./src/client/mod.ts"), {
    types: "./dist/src/client/mod.d.ts",
    default: "./dist/src/client/mod.js",
  });
  const other = JSON.stringify({
    exports: { ".": compiledExport("./mod.ts"), "./client": compiledExport("./src/client/index.ts") },
  });
  const v = checkExportMaps(deno, other, exists);
  assert.is(v.length, 1);
  assert.ok(v[0]!.message.includes("./client"));
  const source = JSON.stringify({ exports: { ".": "./mod.ts", "./client": "./src/client/mod.ts" } });
  assert.is(
    checkExportMaps(deno, source, exists).length,
    2,
    "package.json must export compiled JavaScript, not the source",
  );
  assert.is(checkExportMaps(deno, pkg, () => false).length, 2);
});

test("client-isolation catches server imports reached from the client entry", () => {
  const v = checkClientIsolation([
    { path: "src/client/mod.ts", text: 'export * from "./client.ts";' },
    {
      path: "src/client/client.ts",
      text: 'import { x } from "../core/ring.ts";\nimport { y } from "ws";\nimport superjson from "superjson";',
    },
  ]);
  assert.is(v.length, 2, show(v));
  assert.equal(rules(v), ["client-isolation"]);
});

test("layering catches imports that break DESIGN.md's may-import table, and names the rule", () => {
  const v = checkLayering([
    {
      path: "src/cluster/x.ts",
      text:
        'import type { KvBackend } from "../http/app.ts";\nimport { MemoryFileSystem } from "../runtime/memory.ts";',
    },
    { path: "src/core/ring.ts", text: 'import { Mesh } from "../mesh/mesh.ts";' },
    { path: "src/kv/backend.ts", text: 'export type { Stored } from "../cluster/replica.ts";' },
    {
      path: "src/http/app.ts",
      text: 'import { systemClock } from "../runtime/_system_clock.ts";\nconst m = await import("../cluster/sim.ts");',
    },
    { path: "src/storage/engine.ts", text: 'import { x } from "../mesh/codec.ts";' },
    { path: "src/client/client.ts", text: 'import { MeshkvError } from "../errors.ts";' },
    { path: "src/runtime/node.ts", text: 'import { Engine } from "../storage/engine.ts";' },
    { path: "src/cli/start.ts", text: 'import { SimCluster } from "../testing/sim.ts";' },
    { path: "examples/demo.ts", text: 'import { SimCluster } from "../src/testing/sim.ts";' },
    { path: "src/wire/x.ts", text: 'import { y } from "../core/ring.ts";' },
  ]);
  assert.equal(rules(v), ["layering"]);
  assert.equal(v.map((x) => `${x.path}:${x.line}`), [
    "src/cluster/x.ts:1",
    "src/cluster/x.ts:2",
    "src/core/ring.ts:1",
    "src/kv/backend.ts:1",
    "src/http/app.ts:1",
    "src/http/app.ts:2",
    "src/storage/engine.ts:1",
    "src/client/client.ts:1",
    "src/runtime/node.ts:1",
    "src/cli/start.ts:1",
    "examples/demo.ts:1",
    "src/wire/x.ts:1",
  ], show(v));
  assert.is(
    v[0]!.message,
    "src/cluster/x.ts imports src/http/app.ts: cluster may import core, storage, mesh, kv, runtime/types.ts (and errors.ts, _assert.ts, version.ts)",
  );
  assert.match(v[2]!.message, "core may import only its own folder");
  assert.match(v[9]!.message, "only test/ and bench/ may import src/testing/");
  assert.match(v[11]!.message, "not in DESIGN.md's");
  const good = checkLayering([
    {
      path: "src/cluster/y.ts",
      text:
        'import type { KvBackend } from "../kv/backend.ts";\nimport type { Clock } from "../runtime/types.ts";\nimport { MeshkvError } from "../errors.ts";\n// import { x } from "../http/app.ts";\nconst s = \'from "../http/app.ts"\';',
    },
    {
      path: "src/http/app.ts",
      text:
        'import { Hono } from "hono";\nimport type { Clock } from "../runtime/types.ts";\nimport { DATA_LIMITS } from "../kv/limits.ts";',
    },
    {
      path: "src/cli/start.ts",
      text: 'import { createApp } from "../http/app.ts";\nimport { x } from "../runtime/node.ts";',
    },
    { path: "test/http/_setup.ts", text: 'import { SimCluster } from "../../src/testing/sim.ts";' },
    { path: "bench/gossip.ts", text: 'import { SimCluster } from "../src/testing/sim.ts";' },
    {
      path: "src/testing/sim.ts",
      text: 'import { MemoryFileSystem } from "../runtime/memory.ts";\nimport { http } from "../http/app.ts";',
    },
  ]);
  assert.equal(good, [], show(good));
});

test("tests-run catches a test file that never runs its tests", () => {
  const v = checkTestsRun([{ path: "test/a.test.ts", text: 'test("x", () => {});\n// test.run()' }, {
    path: "test/b.test.ts",
    text: "test.run();",
  }]);
  assert.equal(v.map((x) => x.path), ["test/a.test.ts"]);
});

test.run();
