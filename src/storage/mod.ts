/**
 * meshkv's storage engine: a file-backed LSM tree (see `engine.ts` and docs/storage.md).
 */
export { Engine, openEngine } from "./engine.ts";
export type { Compression, Durability, EngineOptions, TombstoneInfo } from "./options.ts";
export { DEFAULTS as ENGINE_DEFAULTS } from "./options.ts";
export type { RecoveryReport } from "./_recover.ts";
export type { BrokenLock } from "./_lock.ts";
export type {
  BatchOp,
  DeleteOptions,
  EngineStats,
  Entry,
  GetOptions,
  IterateOptions,
  Key,
  LevelStats,
  PutOptions,
} from "./types.ts";
export { fromUtf8 as decodeKey } from "./_bytes.ts";
