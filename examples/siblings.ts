/**
 * Conflicts and siblings. Two writers that write without a causal context (neither read first) both keep
 * their value: the node cannot tell which should win, so it keeps both as siblings, and a read returns all
 * of them (HTTP 300, `values` in the SDK). A write that carries the read's context supersedes everything that
 * read saw, which is how an application resolves them. `update()` does the read-resolve-write loop for you.
 *
 *   npx meshkv start --data ./data/demo
 *   node --import tsx examples/siblings.ts   # or: deno run -A examples/siblings.ts, bun examples/siblings.ts
 */
import { createClient } from "../src/client/mod.ts";
import { clientOptions, endpoint, run } from "./_env.ts";

const kv = createClient(clientOptions());
const key = `siblings/${run}/cart`;
console.log(`Talking to ${endpoint}`);

// Two writers, e.g. two browser tabs, each adding to the cart without reading it first.
await kv.put(key, ["apple"]);
const second = await kv.put(key, ["bread"]);
console.log(`after two blind writes: ${second.siblings} siblings`);

// A read returns every sibling and one context that covers all of them.
const entry = await kv.get<string[]>(key);
if (!entry) throw new Error("the cart should exist");
console.log(`get: ${entry.values.length} values: ${entry.values.map((v) => JSON.stringify(v)).join(" and ")}`);

// Resolve: merge the siblings (here a set union) and write with the read's context.
const merged = [...new Set(entry.values.flat())].sort();
const resolved = await kv.put(key, merged, { context: entry.context });
console.log(
  `resolved with the context: ${resolved.siblings} sibling, value ${JSON.stringify((await kv.get(key))?.value)}`,
);

// The same again, but let update() read, merge the siblings with our function and write back (strict,
// retried if another writer wins a race in between).
await kv.put(key, ["cheese"]); // a blind write: a sibling again
const updated = await kv.update<string[]>(key, (values) => [...new Set([...values.flat(), "dates"])].sort());
console.log(`update(): ${updated.siblings} sibling, value ${JSON.stringify(updated.value)}`);

// A strict write with a stale context fails with STALE_CONTEXT instead of making a sibling.
try {
  await kv.put(key, ["eggs"], { context: entry.context, strict: true });
} catch (e) {
  console.log(`strict write with an old context: ${(e as { code?: string }).code}`);
}
kv.close();
console.log("done");
