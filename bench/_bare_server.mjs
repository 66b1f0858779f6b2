/**
 * The floor for bench/http.ts (`bare-node`, `bare-deno`, `bare-bun`): the runtime's own HTTP server answering
 * the hot routes' shapes from a `Map`, with no meshkv code at all: GET of a key answers its bytes (200) or 404,
 * PUT stores the body (204), DELETE removes it (204), `/health` answers 200. Node serves through `node:http`,
 * Deno through `Deno.serve`, Bun through `Bun.serve`, the servers meshkv itself runs on. What a meshkv node costs
 * per request above this is meshkv's (Hono, the coordinator, the engine, the log); this much is the runtime's.
 *
 *   <runtime> bench/_bare_server.mjs PORT
 */
const port = Number(globalThis.Deno ? Deno.args[0] : process.argv[2]);
const store = new Map();

/** The web-standard handler Deno and Bun serve. */
async function handle(req) {
  const path = new URL(req.url).pathname;
  if (path === "/health") return new Response("ok");
  if (req.method === "GET") {
    const v = store.get(path);
    return v === undefined
      ? new Response("not found", { status: 404 })
      : new Response(v, { headers: { "content-type": "application/octet-stream" } });
  }
  if (req.method === "PUT") store.set(path, new Uint8Array(await req.arrayBuffer()));
  else if (req.method === "DELETE") store.delete(path);
  return new Response(null, { status: 204 });
}

if (globalThis.Bun) {
  Bun.serve({ port, hostname: "127.0.0.1", fetch: handle });
} else if (globalThis.Deno) {
  Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, handle);
} else {
  const { createServer } = await import("node:http");
  createServer((req, res) => {
    const path = req.url.split("?")[0];
    if (path === "/health") return res.end("ok");
    if (req.method === "GET") {
      const v = store.get(path);
      if (v === undefined) res.writeHead(404).end("not found");
      else res.writeHead(200, { "content-type": "application/octet-stream" }).end(v);
      return;
    }
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => {
      if (req.method === "PUT") store.set(path, Buffer.concat(parts));
      else if (req.method === "DELETE") store.delete(path);
      res.writeHead(204).end();
    });
  }).listen(port, "127.0.0.1");
}
