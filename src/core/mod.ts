/**
 * The cluster core: every decision the cluster makes, as pure functions and data (DESIGN.md, conventions 1
 * and 2). No I/O, no clock, no randomness: time comes in as milliseconds and state as arguments.
 *
 * - `ring.ts`: key hash, hash tags, partitions and the capacity-weighted claim with move plans.
 * - `placement.ts`: preference lists (datacenter- and rack-aware) and sloppy-quorum stand-ins.
 * - `version.ts`: version vectors and DVVSet siblings; `context.ts`: their binary form and client tokens.
 * - `stored.ts`: what a replica stores for a key; `write_decision.ts`: a coordinating replica's write decision.
 * - `hlc.ts`: hybrid logical clock for last-writer-wins keyspaces.
 * - `quorum.ts`: consistency levels and the per-request quorum accumulator.
 * - `hash_tree.ts`: tictac hash trees and their level-by-level diff for anti-entropy.
 * - `membership.ts`: the gossiped member table and the failure decision.
 */
export * from "./ring.ts";
export * from "./placement.ts";
export * from "./version.ts";
export * from "./context.ts";
export * from "./stored.ts";
export * from "./write_decision.ts";
export * from "./hlc.ts";
export * from "./quorum.ts";
export * from "./hash_tree.ts";
export * from "./membership.ts";
