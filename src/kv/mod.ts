/**
 * The client-facing contract (DESIGN.md section 1): `KvBackend` with its operation and result types, and the
 * data limits. src/http serves it, src/cluster implements it; this folder imports only `core` and `errors`.
 */
export * from "./backend.ts";
export * from "./limits.ts";
