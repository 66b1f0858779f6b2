/**
 * `meshkv/client`: the fetch-based SDK. Runs anywhere `fetch` does (browsers, edge workers, Deno, Bun, Node)
 * and imports nothing from the server (a project check enforces it).
 */
export { MeshkvClientError, errorFromBody, isMeshkvClientError } from "./errors.ts";
