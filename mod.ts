/**
 * meshkv: a Dynamo-style, leaderless, multi-region key-value store for Deno, Bun and Node.
 * This entry only re-exports; see DESIGN.md for the map of the parts.
 */
export { ERROR_CODES, isErrorCode, isMeshkvError, MeshkvError } from "./src/errors.ts";
export type { ErrorCode, MeshkvErrorOptions } from "./src/errors.ts";
export { VERSION } from "./src/version.ts";
export { detectRuntime, runtimeName } from "./src/runtime/detect.ts";
export type * from "./src/runtime/types.ts";
export { createApp } from "./src/http/app.ts";
export type * from "./src/kv/backend.ts";
export * as core from "./src/core/mod.ts";
export { START_FLAGS, startNode } from "./src/cli/start.ts";
export type { StartedNode, StartNodeOptions } from "./src/cli/start.ts";
export { parseFlags } from "./src/cli/args.ts";
export type { FlagSpec, FlagTable, FlagValues } from "./src/cli/args.ts";
