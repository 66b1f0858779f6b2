/**
 * A real single-node server on loopback for SDK tests: the single-node backend on an in-memory file system,
 * served by the runtime's own HTTP adapter, optionally on several ports (endpoints of one store, standing in
 * for nodes until the cluster exists).
 */
import { openLocalBackend, type LocalBackend } from "../../src/cluster/local_backend.ts";
import { createApp } from "../../src/http/app.ts";
import type { AuthConfig } from "../../src/http/auth.ts";
import { MemoryFileSystem } from "../../src/runtime/memory.ts";
import type { RunningServer } from "../../src/runtime/types.ts";
import { realRuntime } from "../_helpers.ts";

export interface TestNode {
  backend: LocalBackend;
  urls: string[];
  servers: RunningServer[];
  /** Stops the server behind one endpoint (the store stays up behind the others). */
  closeEndpoint(url: string): Promise<void>;
  close(): Promise<void>;
}

export async function startNode(options: { endpoints?: number; auth?: AuthConfig } = {}): Promise<TestNode> {
  const rt = await realRuntime();
  const fs = new MemoryFileSystem();
  await fs.mkdir("/data", { recursive: true });
  const backend = await openLocalBackend({ fs, dir: "/data/kv", clock: rt.clock, nodeId: "n1", engine: { durability: "always" } });
  const app = createApp({ nodeId: "n1", runtime: rt.name, runtimeVersion: rt.version, backend, clock: rt.clock, auth: options.auth ?? null });
  const servers: RunningServer[] = [];
  for (let i = 0; i < (options.endpoints ?? 1); i++) {
    servers.push(await rt.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => app.fetch(req) }));
  }
  const closed = new Set<RunningServer>();
  return {
    backend,
    servers,
    urls: servers.map((s) => `http://127.0.0.1:${s.port}`),
    async closeEndpoint(url) {
      const s = servers.find((x) => url.endsWith(`:${x.port}`))!;
      if (!closed.has(s)) (closed.add(s), await s.close());
    },
    async close() {
      await backend.close();
      for (const s of servers) if (!closed.has(s)) (closed.add(s), await s.close());
    },
  };
}
