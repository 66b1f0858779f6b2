/**
 * A running node's cluster layer (DESIGN.md section 1). This entry re-exports gossip membership and failure
 * detection (`gossip.ts`, settings in `settings.ts`), the node assembling server, mesh and gossip (`node.ts`)
 * and the deterministic simulation harness (`sim.ts`). The replicated backend that serves the client contract
 * (`cluster_backend.ts`, with the coordinator, replicas, hints, anti-entropy and partition moves beside it) is
 * imported from its own file.
 */
export * from "./settings.ts";
export * from "./gossip.ts";
export * from "./node.ts";
export * from "./sim.ts";
