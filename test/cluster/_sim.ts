/**
 * Test support for simulation tests: run a body once per seed and name the seed when it fails, so a failure
 * replays with `MESHKV_SIM_SEED=<seed>` (VOPR style). `MESHKV_SIM_SEEDS=<n>` runs more seeds than the default.
 */
import process from "node:process";

export function seedsFor(defaultCount: number, salt: number): number[] {
  const only = process.env.MESHKV_SIM_SEED;
  if (only) return [Number(only)];
  const n = Number(process.env.MESHKV_SIM_SEEDS ?? defaultCount);
  return Array.from({ length: n }, (_, i) => salt * 1000 + i + 1);
}

export async function forEachSeed(seeds: number[], body: (seed: number) => Promise<void>): Promise<void> {
  for (const seed of seeds) {
    try {
      await body(seed);
    } catch (err) {
      const e = err as Error;
      e.message = `[seed ${seed}; replay with MESHKV_SIM_SEED=${seed}] ${e.message}`;
      throw e;
    }
  }
}
