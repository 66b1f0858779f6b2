/**
 * Quick start: the SDK against one node. Writes and reads values (superjson keeps Dates and Sets intact),
 * increments a counter with update(), lists a prefix in key order, and watches a few changes arrive.
 *
 *   npx meshkv start --data ./data/demo      # in another terminal
 *   node --import tsx examples/quickstart.ts # or: deno run -A examples/quickstart.ts, bun examples/quickstart.ts
 */
import { createClient } from "../src/client/mod.ts";
import { clientOptions, endpoint, run } from "./_env.ts";

const kv = createClient(clientOptions());
const prefix = `quickstart/${run}/`;
console.log(`Talking to ${endpoint}`);

// put and get: any superjson value; a Date stays a Date, a Set stays a Set.
await kv.put(`${prefix}user:42`, { name: "Ada", joined: new Date("2024-01-02T03:04:05Z"), roles: new Set(["admin"]) });
const user = await kv.get<{ name: string; joined: Date; roles: Set<string> }>(`${prefix}user:42`);
console.log(
  `get: ${user?.value.name}, joined ${user?.value.joined.toISOString()}, roles ${
    [...(user?.value.roles ?? [])].join(",")
  }`,
);
console.log(`get of a missing key: ${await kv.get(`${prefix}nobody`)}`);

// update(): read, compute, write back with the read's context; retried if someone else wrote in between.
for (let i = 0; i < 3; i++) await kv.update<number>(`${prefix}visits`, ([n = 0]) => n + 1);
console.log(`update: visits = ${(await kv.get<number>(`${prefix}visits`))?.value}`);

// list: an async iterator over pages, in key order.
await kv.put(`${prefix}user:7`, { name: "Grace", joined: new Date("2023-05-06T00:00:00Z"), roles: new Set<string>() });
for await (const page of kv.list<{ name: string }>({ prefix: `${prefix}user:`, limit: 10 })) {
  for (const item of page.items) console.log(`list: ${item.key.slice(prefix.length)} -> ${item.value.name}`);
}

// watch: changes under a prefix as server-sent events, as an async iterator.
const watch = kv.watch<string>({ prefix: `${prefix}events/` });
await watch.ready;
await kv.put(`${prefix}events/1`, "signed up");
await kv.put(`${prefix}events/2`, "paid");
await kv.delete(`${prefix}events/1`);
let seen = 0;
for await (const change of watch) {
  if (change.type !== "put" && change.type !== "delete") continue;
  console.log(
    `watch: ${change.type} ${(change.key ?? "").slice(prefix.length)}${
      change.type === "put" ? ` = ${change.value}` : ""
    }`,
  );
  if (++seen === 3) break;
}
watch.close();
kv.close();
console.log("done");
