/**
 * A running node's cluster layer (DESIGN.md section 1). So far: gossip membership and failure detection
 * (`gossip.ts`, settings in `settings.ts`), a node assembling server, mesh and gossip (`node.ts`), and the
 * deterministic simulation harness (`sim.ts`).
 */
export * from "./settings.ts";
export * from "./gossip.ts";
export * from "./node.ts";
export * from "./sim.ts";
