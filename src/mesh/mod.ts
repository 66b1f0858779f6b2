/**
 * The mesh: authenticated WebSocket links between nodes (DESIGN.md section 1).
 *
 * - `kinds.ts`: protocol version, frame types, message kinds (append-only wire tables).
 * - `codec.ts`: frames to and from msgpack, hostile-input checks.
 * - `auth.ts`, `handshake.ts`: HMAC challenge-response in both directions before any other frame; the protocol
 *   is the pure state machine in `handshake_machine.ts`, which `handshake.ts` drives.
 * - `link.ts`: one peer connection with request ids, deadlines and bounds.
 * - `mesh.ts`: one link per peer, tie-break of simultaneous dials, reconnect with backoff, the handler API.
 * - `regions.ts`: emulated one-way delays between datacenters.
 * The simulated network (delay, loss, duplication, partitions) is in `src/testing/sim_net.ts`.
 */
export * from "./kinds.ts";
export * from "./codec.ts";
export * from "./auth.ts";
export * from "./handshake.ts";
export * from "./link.ts";
export * from "./mesh.ts";
export * from "./regions.ts";
export * from "./settings.ts";
