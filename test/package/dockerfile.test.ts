/**
 * examples/deploy/Dockerfile, checked as far as a machine without a Docker engine can: it parses into known
 * instructions, every COPY source exists in the build context (the repository root) or names an earlier
 * stage, the build stage copies everything the package is made from, the runtime stage installs the packed
 * package without dev dependencies or TypeScript, and the image runs the command the package installs.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { repoRoot } from "../_helpers.ts";
import { PACKAGE_INPUTS } from "./_packed.ts";

/** Every instruction of the Dockerfile reference (docs.docker.com/reference/dockerfile). */
const INSTRUCTIONS = new Set([
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
]);

interface Instruction {
  line: number;
  name: string;
  args: string;
}

interface Stage {
  name: string | null;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  let pending = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) return;
    if (pending === "") start = i + 1;
    if (line.startsWith("#")) return; // a comment inside a continued instruction
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      return;
    }
    const full = pending + line;
    pending = "";
    const m = /^(\w+)\s+(.*)$/.exec(full);
    if (!m || !INSTRUCTIONS.has(m[1]!.toUpperCase())) {
      throw new SyntaxError(`Line ${start}: unknown instruction: ${full}`);
    }
    const ins = { line: start, name: m[1]!.toUpperCase(), args: m[2]!.trim() };
    if (ins.name === "FROM") stages.push({ name: /\s+AS\s+(\S+)$/i.exec(ins.args)?.[1] ?? null, instructions: [] });
    else if (!stages.length) throw new SyntaxError(`Line ${start}: ${ins.name} before the first FROM`);
    stages.at(-1)!.instructions.push(ins);
  });
  if (pending) throw new SyntaxError("The file ends inside a continued line");
  return stages;
}

/** A COPY's flags, sources and destination (exec form `["a", "b"]` or plain words). */
function copyParts(args: string): { from: string | null; sources: string[]; dest: string } {
  const words = args.startsWith("[") ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const rest = words.filter((w) => !w.startsWith("--"));
  const from = flags.map((f) => /^--from=(.+)$/.exec(f)?.[1]).find((x) => x !== undefined) ?? null;
  return { from, sources: rest.slice(0, -1), dest: rest.at(-1)! };
}

const dockerfile = readFileSync(join(repoRoot, "examples/deploy/Dockerfile"), "utf8");
const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { bin: Record<string, string> };

test("the Dockerfile parses into known instructions, in a build stage and a runtime stage", () => {
  const stages = parseDockerfile(dockerfile);
  assert.is(stages.length, 2);
  assert.is(stages[0]!.name, "build");
  assert.throws(() => parseDockerfile("FROM node:20\nCOPYY a b\n"), /Line 2: unknown instruction/);
  assert.throws(() => parseDockerfile("RUN true\n"), /before the first FROM/);
});

test("every COPY source exists in the build context or names an earlier stage, and the build stage copies all the package is made from", () => {
  const stages = parseDockerfile(dockerfile);
  const copied = new Set<string>();
  stages.forEach((stage, i) => {
    for (const ins of stage.instructions.filter((x) => x.name === "COPY" || x.name === "ADD")) {
      const { from, sources } = copyParts(ins.args);
      if (from !== null) {
        assert.ok(
          stages.slice(0, i).some((s) => s.name === from),
          `line ${ins.line}: COPY --from=${from} names no earlier stage`,
        );
        continue;
      }
      for (const s of sources) {
        assert.ok(existsSync(join(repoRoot, s)), `line ${ins.line}: COPY source ${s} does not exist in the repository`);
        copied.add(s.replace(/\/$/, ""));
      }
    }
  });
  const build = stages[0]!.instructions.filter((x) => x.name === "COPY").flatMap((x) => copyParts(x.args).sources);
  assert.equal(
    PACKAGE_INPUTS.filter((p) => !build.includes(p)),
    [],
    "the build stage lacks files the package is made from",
  );
  assert.ok(build.includes("package-lock.json"), "the build stage installs from the lock file");
});

test("the build stage packs the package and the runtime stage installs it with production dependencies only", () => {
  const [build, runtime] = parseDockerfile(dockerfile);
  const runs = (s: Stage) => s.instructions.filter((x) => x.name === "RUN").map((x) => x.args).join("\n");
  assert.match(runs(build!), /npm ci\b/);
  assert.match(runs(build!), /npm pack\b/, "npm pack builds dist/ through prepack");
  assert.match(runs(runtime!), /npm install [^\n]*--omit=dev[^\n]*\.tgz/);
  const runtimeCopies = runtime!.instructions.filter((x) => x.name === "COPY").map((x) => copyParts(x.args));
  assert.ok(
    runtimeCopies.every((c) => c.from === "build"),
    "the runtime stage copies only the packed tarball from the build stage, no sources",
  );
  assert.not.match(runtime!.instructions.map((x) => x.args).join("\n"), /tsx|\.ts\b/);
});

test("the image runs the command the package installs", () => {
  const runtime = parseDockerfile(dockerfile).at(-1)!;
  const entry = runtime.instructions.filter((x) => x.name === "ENTRYPOINT").at(-1);
  assert.ok(entry, "the runtime stage needs an ENTRYPOINT");
  const argv = JSON.parse(entry!.args) as string[];
  assert.equal(
    argv,
    [Object.keys(pkg.bin)[0]!],
    `ENTRYPOINT must be the package's bin, ${JSON.stringify(Object.keys(pkg.bin))}`,
  );
  assert.match(
    runtime.instructions.filter((x) => x.name === "RUN").map((x) => x.args).join("\n"),
    /npm install --global/,
    "a global install puts the bin on PATH",
  );
});

test.run();
