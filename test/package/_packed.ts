/**
 * The package as a user gets it: `npm pack` of this repository (which builds dist/ through `prepack`), then
 * `npm install <tarball>` into an empty project, with real npm. The project lives in the system's temporary
 * directory, outside the repository, so Node, Deno and Bun resolve only what the install put there (a
 * dependency missing from package.json cannot be found in the repository's node_modules by walking up).
 *
 * Packing and installing take several seconds, and the suite runs every test file on three runtimes, so the
 * result is cached by a hash of everything that goes into the package: the first runtime packs and installs,
 * the others (and later runs with the same sources) reuse it.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../_helpers.ts";

export interface PackedFile {
  path: string;
  size: number;
}

export interface Installed {
  /** The empty project the tarball was installed into (has node_modules/meshkv). */
  project: string;
  tarball: string;
  /** `npm pack`'s own account of the tarball: packed size in bytes and the files in it. */
  packedBytes: number;
  files: PackedFile[];
}

/** Files and folders whose contents decide what the package holds. */
export const PACKAGE_INPUTS: readonly string[] = [
  "package.json",
  "tsconfig.json",
  "tsconfig.build.json",
  "mod.ts",
  "README.md",
  "LICENSE",
  "src",
];

function contentKey(): string {
  const hash = createHash("sha256");
  const add = (path: string) => {
    const full = join(repoRoot, path);
    if (!existsSync(full)) return;
    if (statSync(full).isDirectory()) {
      for (const name of readdirSync(full).sort()) add(join(path, name));
      return;
    }
    hash.update(`${path}\0`);
    hash.update(readFileSync(full));
  };
  for (const p of PACKAGE_INPUTS) add(p);
  return hash.digest("hex").slice(0, 16);
}

/** Runs a command to completion; rejects with its output when it fails or outlives `timeoutMs`. */
export function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeoutMs = 120_000,
  env: Record<string, string> = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", ...env },
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} failed (${code ?? signal}) in ${cwd}:\n${out}\n${err}`));
    });
  });
}

async function packAndInstall(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const packed = JSON.parse(await run("npm", ["pack", "--json", "--pack-destination", dir], repoRoot)) as {
    filename: string;
    size: number;
    files: PackedFile[];
  }[];
  const info = packed[0]!;
  const project = join(dir, "project");
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "meshkv-install-test", private: true, type: "module" }, null, 2),
  );
  await run("npm", ["install", join(dir, info.filename), "--prefer-offline", "--no-audit", "--no-fund"], project);
  const installed: Installed = {
    project,
    tarball: join(dir, info.filename),
    packedBytes: info.size,
    files: info.files.map((f) => ({ path: f.path, size: f.size })),
  };
  writeFileSync(join(dir, "installed.json"), JSON.stringify(installed, null, 2));
}

/** Caches of other contents older than this are removed when a new one is made, so they cannot pile up. */
const STALE_CACHE_MS = 24 * 60 * 60 * 1000;

function pruneStaleCaches(keep: string): void {
  for (const name of readdirSync(tmpdir())) {
    const path = join(tmpdir(), name);
    if (!name.startsWith("meshkv-pack-") || path === keep) continue;
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_CACHE_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Removed by another run meanwhile, or not ours to remove: leave it.
    }
  }
}

let pending: Promise<Installed> | null = null;

/** Packs and installs the package once per content (see the module doc); later calls return the same. */
export function installedPackage(): Promise<Installed> {
  pending ??= (async () => {
    const final = join(tmpdir(), `meshkv-pack-${contentKey()}`);
    if (!existsSync(join(final, "installed.json"))) {
      pruneStaleCaches(final);
      // Built beside the final place and renamed into it, so a run that dies halfway leaves no half-made cache.
      const work = `${final}.${process.pid}.tmp`;
      rmSync(work, { recursive: true, force: true });
      await packAndInstall(work);
      const text = readFileSync(join(work, "installed.json"), "utf8").replaceAll(work, final);
      writeFileSync(join(work, "installed.json"), text);
      try {
        renameSync(work, final);
      } catch (err) {
        // Another run made the same cache first: use theirs.
        rmSync(work, { recursive: true, force: true });
        if (!existsSync(join(final, "installed.json"))) throw err;
      }
    }
    return JSON.parse(readFileSync(join(final, "installed.json"), "utf8")) as Installed;
  })();
  return pending;
}

let scratch = 0;
/**
 * A fresh directory inside the installed project (outside the repository), for a user's scripts and data:
 * scripts there import `meshkv` from the project's node_modules, as a user's would.
 */
export function scratchDir(installed: Installed, label: string): string {
  const dir = join(installed.project, `${label}-${process.pid}-${scratch++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
