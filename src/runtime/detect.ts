/**
 * Picks the adapter for the runtime we are running on. The only place that asks "which runtime is this?";
 * everything else receives a `Runtime`. Adapters are imported lazily so Node never loads Deno code and so on.
 */
import type { Runtime, RuntimeName } from "./types.ts";

/** The name of the runtime executing this code. */
export function runtimeName(): Exclude<RuntimeName, "memory"> {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Bun !== undefined) return "bun";
  if (g.Deno !== undefined) return "deno";
  return "node";
}

/** The adapter for the current runtime. */
export async function detectRuntime(): Promise<Runtime> {
  switch (runtimeName()) {
    case "bun":
      return (await import("./bun.ts")).bunRuntime;
    case "deno":
      return (await import("./deno.ts")).denoRuntime;
    case "node":
      return (await import("./node.ts")).nodeRuntime;
  }
}
