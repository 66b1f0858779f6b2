/**
 * A running node's cluster layer (DESIGN.md section 1): gossip membership and failure detection (`gossip.ts`),
 * the node that joins server, mesh and gossip (`node.ts`), the replicated backend (`cluster_backend.ts`) over
 * its parts, and the timers (`settings.ts`, `presets.ts`). The simulation that drives many nodes lives in
 * `src/testing/`, which only tests and benchmarks import.
 */
export * from "./settings.ts";
export * from "./presets.ts";
export * from "./gossip.ts";
export * from "./node.ts";
