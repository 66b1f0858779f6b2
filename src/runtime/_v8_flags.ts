/**
 * V8 flags for a meshkv server process, on both runtimes built on V8. V8 sizes the old generation's headroom from
 * how fast it collects against how fast the program allocates, and for a node's heap (about 21 MB live) it left
 * 2-3 MB: a full collection every 1.2-1.6 s at light load on Node and every 1.2-5 s on Deno, each a 4-14 ms pause
 * plus 13-21 ms of marking steps on the event loop. Growing to twice the live data first halves them or better
 * (docs/bench.md, fifteenth and sixteenth rounds), for up to about 20 MB more memory per node.
 *
 * Node: `meshkv start` sets them at start-up (`nodeRuntime.tuneForServer`; V8 reads the flag when it sets the next
 * limit). Deno: only its command line sets V8 flags (its `node:v8` `setFlagsFromString` does nothing), so
 * `deno task start` (deno.json) passes them as `--v8-flags=…`, and the benchmarks start Deno nodes the same way.
 */
export const SERVER_V8_FLAGS = "--heap-growing-percent=100";

/** Deno's command-line form of `SERVER_V8_FLAGS` (comma-separated, as `--v8-flags` takes them). */
export const DENO_SERVER_V8_ARG = `--v8-flags=${SERVER_V8_FLAGS.split(" ").join(",")}`;
