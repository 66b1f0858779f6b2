/**
 * `meshkv/client`: the fetch-based SDK. Runs anywhere `fetch` does (browsers, edge workers, Deno, Bun, Node)
 * and imports nothing from the server (a project check enforces it).
 *
 * ```ts
 * // createClient comes from the `meshkv/client` entry point.
 * const kv = createClient({ endpoints: ["http://127.0.0.1:7400"], token });
 * await kv.put("user:42", { name: "Ada", joined: new Date() });
 * const entry = await kv.get<{ name: string }>("user:42");
 * await kv.update<number>("counter", ([n = 0]) => n + 1);
 * ```
 */
export { createClient, MeshkvClient } from "./client.ts";
export type {
  BatchOp,
  BatchResult,
  CallOptions,
  ClientOptions,
  Consistency,
  ConsistencyName,
  DeleteOptions,
  Entry,
  ListOptions,
  Page,
  PutOptions,
  UpdateOptions,
  WriteResult,
} from "./client.ts";
export type { Watch, WatchEvent, WatchOptions } from "./_watch.ts";
export type { EndpointState } from "./_transport.ts";
export { errorFromBody, isMeshkvClientError, isRetryable, MeshkvClientError } from "./errors.ts";
export type { ClientErrorCode } from "./errors.ts";
