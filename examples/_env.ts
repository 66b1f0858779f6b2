/**
 * Where the examples find the node: `MESHKV_ENDPOINT` (default http://127.0.0.1:7400) and an optional
 * `MESHKV_TOKEN`, read from whichever environment API the runtime has (Node and Bun: `process.env`;
 * Deno: `Deno.env`), so the same file runs unchanged on all three.
 */
type Env = {
  process?: { env?: Record<string, string | undefined> };
  Deno?: { env: { get(name: string): string | undefined } };
};

export function envVar(name: string): string | undefined {
  const g = globalThis as Env;
  return g.process?.env?.[name] ?? g.Deno?.env.get(name);
}

export const endpoint = envVar("MESHKV_ENDPOINT") ?? "http://127.0.0.1:7400";
export const token = envVar("MESHKV_TOKEN");

/** Options for createClient: the endpoint and, when set, the token. */
export function clientOptions(): { endpoints: string; token?: string } {
  return token ? { endpoints: endpoint, token } : { endpoints: endpoint };
}

/** A key prefix unique to this run, so running an example twice starts from empty keys. */
export const run = `run-${Date.now().toString(36)}`;
