/**
 * Helpers shared by tests: the runtime under test, temporary directories, error expectations.
 */
import * as assert from "uvu/assert";
import { type ErrorCode, isMeshkvError } from "../src/errors.ts";
import { detectRuntime } from "../src/runtime/detect.ts";
import type { FileSystem, Runtime } from "../src/runtime/types.ts";

export const repoRoot = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

let cached: Runtime | null = null;
/** The real adapter for the runtime this test process runs on. */
export async function realRuntime(): Promise<Runtime> {
  cached ??= await detectRuntime();
  return cached;
}

let counter = 0;
/** A fresh directory under `.tmp/` in the repository (never outside it). */
export async function tempDir(fs: FileSystem, label: string): Promise<string> {
  const rt = await realRuntime();
  const dir = `${repoRoot}/.tmp/${label}-${rt.name}-${rt.random().int(1e9)}-${counter++}`;
  await fs.mkdir(dir, { recursive: true });
  return dir;
}

/** Asserts that `fn` rejects (or throws) a MeshkvError with `code`; returns it for further checks. */
export async function rejectsWith(fn: () => unknown, code: ErrorCode, message?: string): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    if (!isMeshkvError(err, code)) {
      assert.unreachable(
        `${message ?? "expected"} ${code}, got ${(err as Error)?.name}: ${(err as { code?: string })?.code} ${
          (err as Error)?.message
        }`,
      );
    }
    return err as Error;
  }
  assert.unreachable(`${message ?? "expected"} ${code}, but it succeeded`);
  throw new Error("unreachable");
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Waits until `check()` is true, polling every `everyMs`, or fails after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  everyMs = 10,
  what = "condition",
): Promise<void> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  assert.unreachable(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}
