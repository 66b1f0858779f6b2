/**
 * Project rules that the compiler cannot enforce, as pure functions over file texts. `project.test.ts` runs
 * them over the tree and also feeds them known-bad samples, so a rule that stops catching violations fails too.
 * Every violation names its rule and the fix.
 */

export interface SourceFile {
  /** Repository-relative path with forward slashes, e.g. `src/core/ring.ts`. */
  path: string;
  text: string;
}

export interface Violation {
  rule: string;
  path: string;
  line: number;
  message: string;
}

/**
 * Blanks out comments and the contents of string literals with spaces, keeping every offset and line, so rules
 * see only code and positions still match the original text.
 */
export function codeOnly(src: string): string {
  const out = src.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== "\n") out[k] = " ";
  };
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === "/" && next === "/") {
      const start = i;
      while (i < n && src[i] !== "\n") i++;
      blank(start, i);
    } else if (c === "/" && next === "*") {
      const start = i;
      i += 2;
      while (i < n && !(src[i] === "*" && src[i + 1] === "/")) i++;
      i += 2;
      blank(start, i);
    } else if (c === '"' || c === "'" || c === "`") {
      const start = ++i;
      while (i < n && src[i] !== c) i += src[i] === "\\" ? 2 : 1;
      blank(start, i);
      i++;
    } else {
      i++;
    }
  }
  return out.join("");
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index && i < text.length; i++) if (text[i] === "\n") line++;
  return line;
}

function scan(
  file: SourceFile,
  text: string,
  pattern: RegExp,
  rule: string,
  message: (m: string) => string,
): Violation[] {
  const out: Violation[] = [];
  const re = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : pattern.flags + "g");
  for (const m of text.matchAll(re)) {
    out.push({ rule, path: file.path, line: lineOf(text, m.index ?? 0), message: message(m[0]) });
  }
  return out;
}

const isTs = (f: SourceFile) => /\.tsx?$/.test(f.path);
const inRuntime = (f: SourceFile) => f.path.startsWith("src/runtime/");
const inSrc = (f: SourceFile) => f.path.startsWith("src/") || f.path === "mod.ts";

/** Only `src/runtime/` may touch `Deno.*`, `Bun.*`, `node:*` or `process`. */
export function checkRuntimeIsolation(files: SourceFile[]): Violation[] {
  const fix = "add what you need to the Runtime interface in src/runtime/types.ts and implement it in each adapter";
  const globals = /\bDeno\.\w+|\bBun\.\w+|(?<![\w.$])process\b/;
  const imports = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']node:[\w/]+["']/;
  return files
    .filter((f) => inSrc(f) && !inRuntime(f) && /\.(ts|mjs|js)$/.test(f.path))
    .flatMap((f) => [
      ...scan(f, codeOnly(f.text), globals, "runtime-isolation", (m) => `\`${m}\` outside src/runtime/: ${fix}`),
      ...scan(f, f.text, imports, "runtime-isolation", (m) => `\`${m}\` outside src/runtime/: ${fix}`),
    ]);
}

/** Folders exempt from the time and randomness rule, with the reason. */
export const AMBIENT_TIME_EXEMPT: Record<string, string> = {
  "src/client/":
    "the SDK runs in browsers and edge workers without our runtime adapters; it only measures latency and sets request timeouts",
};

/** No direct time or randomness outside `src/runtime/`: take a `Clock` or `Random` instead. */
export function checkAmbientTime(files: SourceFile[]): Violation[] {
  const pattern =
    /\bDate\.now\s*\(|\bperformance\.now\s*\(|\bMath\.random\s*\(|(?<![\w.$])set(?:Timeout|Interval)\s*\(|\bglobalThis\.set(?:Timeout|Interval)\b|\bnew\s+Date\s*\(\s*\)/;
  return files
    .filter((f) =>
      inSrc(f) && !inRuntime(f) && isTs(f) && !Object.keys(AMBIENT_TIME_EXEMPT).some((p) => f.path.startsWith(p))
    )
    .flatMap((f) =>
      scan(
        f,
        codeOnly(f.text),
        pattern,
        "no-ambient-time",
        (m) =>
          `\`${m.trim()}\` outside src/runtime/: use the injected Clock (clock.now(), clock.monotonic(), clock.setTimeout) or Random (random.next()) so the simulation can control it`,
      )
    );
}

/** Relative imports end in `.ts` or `.tsx` (so Deno and type stripping resolve them). */
export function checkImportExtensions(files: SourceFile[]): Violation[] {
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']*)["']/g;
  const out: Violation[] = [];
  for (const f of files.filter(isTs)) {
    const code = codeOnly(f.text);
    for (const m of f.text.matchAll(pattern)) {
      const spec = m[1]!;
      const at = m.index ?? 0;
      if (code[at] === " ") continue; // inside a string or comment
      if (!/\.tsx?$/.test(spec)) {
        out.push({
          rule: "ts-import-extension",
          path: f.path,
          line: lineOf(f.text, at),
          message: `Relative import "${spec}" must name the file with its .ts extension`,
        });
      }
    }
  }
  return out;
}

/** No `enum`, `namespace` or constructor parameter properties: the source must run by type stripping. */
export function checkErasableSyntax(files: SourceFile[]): Violation[] {
  return files.filter(isTs).flatMap((f) => {
    const code = codeOnly(f.text);
    return [
      ...scan(
        f,
        code,
        /\b(?:const\s+)?enum\s+\w+\s*\{/,
        "erasable-syntax",
        () => "`enum` is not erasable: use an `as const` object and a union type",
      ),
      ...scan(
        f,
        code,
        /\b(?:namespace|module)\s+[\w.]+\s*\{/,
        "erasable-syntax",
        () => "`namespace` is not erasable: use a module",
      ),
      ...scan(
        f,
        code,
        /\bconstructor\s*\((?:[^)]*,)?\s*(?:public|private|protected|readonly)\s+\w+\s*[:?,)=]/,
        "erasable-syntax",
        () => "Constructor parameter properties are not erasable: declare the field and assign it in the constructor",
      ),
    ];
  });
}

/**
 * What `package.json` must export for a TypeScript source that `deno.json` exports: npm users get the
 * compiled JavaScript and its declarations in dist/ (`npm run build`); JSR and the clone get the source.
 */
export function compiledExport(source: string): { types: string; default: string } {
  const base = source.replace(/^\.\//, "").replace(/\.ts$/, "");
  return { types: `./dist/${base}.d.ts`, default: `./dist/${base}.js` };
}

/**
 * `deno.json` and `package.json` declare the same entry points: each package.json entry is the compiled form
 * of the deno.json source (`compiledExport`), and every source exists.
 */
export function checkExportMaps(denoJson: string, packageJson: string, exists: (path: string) => boolean): Violation[] {
  const deno = (JSON.parse(denoJson).exports ?? {}) as Record<string, string>;
  const pkg = (JSON.parse(packageJson).exports ?? {}) as Record<string, unknown>;
  const out: Violation[] = [];
  const keys = new Set([...Object.keys(deno), ...Object.keys(pkg)]);
  for (const k of keys) {
    const want = deno[k] === undefined ? undefined : compiledExport(deno[k]!);
    if (JSON.stringify(pkg[k]) !== JSON.stringify(want)) {
      out.push({
        rule: "export-maps-agree",
        path: "package.json",
        line: 1,
        message: `Export "${k}" is ${JSON.stringify(pkg[k])} in package.json but deno.json's ${
          JSON.stringify(deno[k])
        } compiles to ${JSON.stringify(want)}: make them agree`,
      });
    } else if (deno[k] && !exists(deno[k]!.replace(/^\.\//, ""))) {
      out.push({
        rule: "export-maps-agree",
        path: "deno.json",
        line: 1,
        message: `Export "${k}" points at ${deno[k]}, which does not exist`,
      });
    }
  }
  for (const must of [".", "./client"]) {
    if (!keys.has(must)) {
      out.push({ rule: "export-maps-agree", path: "deno.json", line: 1, message: `Export map lacks "${must}"` });
    }
  }
  return out;
}

/** Bare imports the client entry may use: it runs anywhere fetch does. */
export const CLIENT_ALLOWED_PACKAGES = new Set(["superjson"]);

function resolveRelative(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

/** The client entry imports nothing from the server: every file it reaches is in `src/client/`. */
export function checkClientIsolation(files: SourceFile[], entry = "src/client/mod.ts"): Violation[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const out: Violation[] = [];
  const seen = new Set<string>();
  const queue = [entry];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;
  while (queue.length) {
    const path = queue.pop()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const f = byPath.get(path);
    if (!f) continue;
    for (const m of f.text.matchAll(pattern)) {
      const spec = m[1]!;
      const line = lineOf(f.text, m.index ?? 0);
      if (spec.startsWith(".")) {
        const target = resolveRelative(path, spec);
        if (!target.startsWith("src/client/")) {
          out.push({
            rule: "client-isolation",
            path,
            line,
            message:
              `The client imports ${target}, outside src/client/: the SDK must not pull in server code; copy the small piece it needs into src/client/`,
          });
        } else queue.push(target);
      } else {
        const pkg = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
        if (!CLIENT_ALLOWED_PACKAGES.has(pkg)) {
          out.push({
            rule: "client-isolation",
            path,
            line,
            message: `The client imports "${spec}": only web globals and ${
              [...CLIENT_ALLOWED_PACKAGES].join(", ")
            } are allowed`,
          });
        }
      }
    }
  }
  return out;
}

/** Files at the top of src/ that every layer may import: the error type, assertions and the version. */
export const SHARED_ROOT_FILES = ["src/errors.ts", "src/_assert.ts", "src/version.ts"] as const;

/**
 * DESIGN.md section 1, the "may import" column: for each folder of src/, the other folders (or single files)
 * its files may import, besides their own folder and `SHARED_ROOT_FILES`; null: everything. `http` may import
 * `runtime/types.ts` for the `Clock` interface it is given (as storage and mesh do), never a runtime adapter.
 * `client` imports nothing of the server, not even the shared root files (see `checkClientIsolation`).
 */
export const LAYER_RULES: Record<string, readonly string[] | null> = {
  core: [],
  storage: ["core", "runtime/types.ts"],
  mesh: ["core", "runtime/types.ts"],
  kv: ["core"],
  cluster: ["core", "storage", "mesh", "kv", "runtime/types.ts"],
  http: ["kv", "core", "runtime/types.ts"],
  client: [],
  runtime: [],
  cli: null,
  testing: null,
};

/** Files exempt from the layering rule by name, with the reason (none: keep it that way). */
export const LAYERING_EXEMPT: Record<string, string> = {};

/** Where files may import the simulation harness from: only tests and benchmarks (and the harness itself). */
const TESTING_IMPORTERS = ["test/", "bench/", "src/testing/"];

const IMPORT_PATTERN = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;

/** The relative imports of a file that are code (not in comments or strings), resolved to repository paths. */
function relativeImports(f: SourceFile): { target: string; line: number }[] {
  const code = codeOnly(f.text);
  const out: { target: string; line: number }[] = [];
  for (const m of f.text.matchAll(IMPORT_PATTERN)) {
    const at = m.index ?? 0;
    if (code[at] === " " || !m[1]!.startsWith(".")) continue;
    out.push({ target: resolveRelative(f.path, m[1]!), line: lineOf(f.text, at) });
  }
  return out;
}

function describeRule(layer: string, may: readonly string[]): string {
  if (layer === "client") return "client may import nothing of the server";
  const shared = SHARED_ROOT_FILES.map((p) => p.slice(4)).join(", ");
  return may.length === 0
    ? `${layer} may import only its own folder and ${shared}`
    : `${layer} may import ${may.join(", ")} (and ${shared})`;
}

/**
 * Imports between the folders of src/ follow DESIGN.md's "may import" table (`LAYER_RULES`), and only test/ and
 * bench/ import src/testing/. Each violation names the rule it breaks.
 */
export function checkLayering(files: SourceFile[]): Violation[] {
  const out: Violation[] = [];
  for (const f of files.filter((x) => /\.(ts|mjs)$/.test(x.path))) {
    for (const { target, line } of relativeImports(f)) {
      if (target.startsWith("src/testing/") && !TESTING_IMPORTERS.some((p) => f.path.startsWith(p))) {
        out.push({
          rule: "layering",
          path: f.path,
          line,
          message: `${f.path} imports ${target}: only test/ and bench/ may import src/testing/`,
        });
      }
    }
    const layer = /^src\/([^/]+)\//.exec(f.path)?.[1];
    if (layer === undefined || Object.hasOwn(LAYERING_EXEMPT, f.path)) continue;
    if (!Object.hasOwn(LAYER_RULES, layer)) {
      out.push({
        rule: "layering",
        path: f.path,
        line: 1,
        message:
          `src/${layer}/ is not in DESIGN.md's "may import" table: add it there and to LAYER_RULES in test/_checks.ts`,
      });
      continue;
    }
    const may = LAYER_RULES[layer]!;
    if (may === null) continue;
    for (const { target, line } of relativeImports(f)) {
      if (!target.startsWith("src/") || target.startsWith(`src/${layer}/`)) continue;
      if (layer !== "client" && (SHARED_ROOT_FILES as readonly string[]).includes(target)) continue;
      const rest = target.slice(4);
      if (may.some((m) => (m.endsWith(".ts") ? rest === m : rest.startsWith(`${m}/`)))) continue;
      out.push({
        rule: "layering",
        path: f.path,
        line,
        message: `${f.path} imports ${target}: ${describeRule(layer, may)}`,
      });
    }
  }
  return out;
}

/** Every test file runs its suites; a file that never calls `.run()` silently tests nothing. */
export function checkTestsRun(files: SourceFile[]): Violation[] {
  return files
    .filter((f) => f.path.endsWith(".test.ts") && !/\.run\(\s*\)/.test(codeOnly(f.text)))
    .map((f) => ({
      rule: "tests-run",
      path: f.path,
      line: 1,
      message: "Test file never calls test.run() or suite.run(): its tests would not execute",
    }));
}

export function allChecks(
  files: SourceFile[],
  denoJson: string,
  packageJson: string,
  exists: (p: string) => boolean,
): Violation[] {
  return [
    ...checkRuntimeIsolation(files),
    ...checkAmbientTime(files),
    ...checkImportExtensions(files),
    ...checkErasableSyntax(files),
    ...checkExportMaps(denoJson, packageJson, exists),
    ...checkClientIsolation(files),
    ...checkLayering(files),
    ...checkTestsRun(files),
  ];
}
