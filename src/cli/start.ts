/**
 * `meshkv start`: runs one node in this process until SIGINT or SIGTERM. Today it opens the data directory,
 * keeps a stable node id there (like Cassandra's host id) and serves the HTTP API; the storage engine, mesh and
 * cluster join this command as their issues land.
 */
import { MeshkvError, isMeshkvError } from "../errors.ts";
import { createApp } from "../http/app.ts";
import type { Runtime } from "../runtime/types.ts";
import type { FlagTable, FlagValues } from "./args.ts";

export const START_FLAGS: FlagTable = {
  id: { type: "string", description: "Node id, unique in the cluster; stored in the data directory on first start (default: generated)" },
  host: { type: "string", description: "Address to listen on", default: "127.0.0.1" },
  port: { type: "int", description: "Port for the client API and the mesh (0 picks a free one)", default: 7400, min: 0, max: 65535 },
  data: { type: "string", description: "Data directory (created if missing)", default: "./data/node" },
  help: { type: "bool", description: "Show this help" },
};

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Reads the node id kept in the data directory, or stores the given (or a generated) one there. */
export async function resolveNodeId(rt: Runtime, dir: string, wanted: string | undefined): Promise<string> {
  if (wanted !== undefined && !ID_PATTERN.test(wanted)) {
    throw new MeshkvError("INVALID_ARGUMENT", `Node id must be 1 to 64 letters, digits, '.', '_' or '-': got ${JSON.stringify(wanted)}`);
  }
  const path = `${dir}/NODE_ID`;
  let stored: string | null = null;
  try {
    stored = new TextDecoder().decode(await rt.fs.readFile(path)).trim();
  } catch (err) {
    if (!isMeshkvError(err, "NOT_FOUND")) throw err;
  }
  if (stored && wanted && stored !== wanted) {
    throw new MeshkvError("INVALID_ARGUMENT", `Data directory ${dir} belongs to node ${stored}, not ${wanted}: use another --data or the same --id`);
  }
  if (stored) return stored;
  const id = wanted ?? `n-${[...rt.random().bytes(4)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  const tmp = `${path}.tmp`;
  const f = await rt.fs.open(tmp, { create: true, truncate: true });
  await f.write(0, new TextEncoder().encode(id + "\n"));
  await f.sync();
  await f.close();
  await rt.fs.rename(tmp, path);
  await rt.fs.syncDir(dir);
  return id;
}

export interface StartedNode {
  nodeId: string;
  url: string;
  stop(): Promise<void>;
}

export async function startNode(rt: Runtime, flags: FlagValues): Promise<StartedNode> {
  const dir = String(flags.data);
  await rt.fs.mkdir(dir, { recursive: true });
  const nodeId = await resolveNodeId(rt, dir, flags.id as string | undefined);
  const app = createApp({ nodeId, runtime: rt.name, runtimeVersion: rt.version });
  const server = await rt.serve({ hostname: String(flags.host), port: Number(flags.port), fetch: (req) => app.fetch(req) });
  const url = `http://${server.hostname}:${server.port}`;
  return { nodeId, url, stop: () => server.close() };
}
