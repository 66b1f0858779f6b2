/**
 * The client commands of `meshkv`: `status`, `get`, `put`, `delete`, `list`, `remove` and `cluster` (`cluster_command.ts`) against a running node, through
 * the same fetch SDK applications use (`src/client/`), so the CLI exercises the public surface and nothing
 * else. Each command has its own flag table (parsing and `--help` come from it, see `args.ts`); the common
 * flags (`--endpoint`, `--token`, `--consistency`, `--timeout`) are shared, and fall back to the
 * `MESHKV_ENDPOINT` and `MESHKV_TOKEN` environment variables as curl-style tools do.
 *
 * Exit statuses: 0 on success, 1 when the node answers with an error or cannot be reached (printed as
 * `meshkv: CODE: message`), 2 for bad flags or arguments.
 */
import { type Consistency, createClient, type Entry, isMeshkvClientError, type MeshkvClient } from "../client/mod.ts";
import { MeshkvError } from "../errors.ts";
import type { Runtime } from "../runtime/types.ts";
import { type FlagTable, type FlagValues, helpText, parseFlags } from "./args.ts";
import { CLUSTER_ARGS, CLUSTER_FLAGS, CLUSTER_SUMMARY, printMoves, runCluster } from "./cluster_command.ts";

export const DEFAULT_ENDPOINT = "http://127.0.0.1:7400";

const COMMON_FLAGS: FlagTable = {
  endpoint: {
    type: "list",
    description: `Node URL; repeat or comma-separate for several (env MESHKV_ENDPOINT, else ${DEFAULT_ENDPOINT})`,
  },
  token: { type: "string", description: "Bearer token with the scope the command needs (env MESHKV_TOKEN)" },
  consistency: {
    type: "string",
    description: "Level: one, quorum, all, local_one, local_quorum, each_quorum, r=N or w=N",
  },
  timeout: { type: "int", description: "Deadline of each request in ms", default: 10_000, min: 1, max: 600_000 },
  help: { type: "bool", description: "Show this help" },
};

export const CLIENT_COMMANDS: Record<string, { args: string; summary: string; flags: FlagTable }> = {
  status: { args: "", summary: "Print the node's status as JSON (admin scope).", flags: { ...COMMON_FLAGS } },
  get: {
    args: "KEY",
    summary: "Print the value of KEY: text as stored, JSON pretty-printed; siblings one per line (exit 1 when absent).",
    flags: { ...COMMON_FLAGS },
  },
  put: {
    args: "KEY VALUE",
    summary: "Write VALUE (as text/plain, or parsed JSON with --json) to KEY.",
    flags: {
      ...COMMON_FLAGS,
      json: { type: "bool", description: "Parse VALUE as JSON and store it as application/json" },
      ttl: { type: "int", description: "Expire the key after this many ms", min: 1 },
      "if-none-match": { type: "bool", description: "Create only: fail with KEY_EXISTS when KEY has a value" },
    },
  },
  delete: { args: "KEY", summary: "Delete KEY (succeeds for an absent key too).", flags: { ...COMMON_FLAGS } },
  list: {
    args: "",
    summary: "Print keys in order, one per line, as KEY<TAB>VALUE (one line per sibling) or only KEY with --keys-only.",
    flags: {
      ...COMMON_FLAGS,
      prefix: { type: "string", description: "Only keys that start with this text" },
      limit: { type: "int", description: "Print at most this many keys", min: 1 },
      "keys-only": { type: "bool", description: "Print keys without values" },
    },
  },
  remove: {
    args: "NODE",
    summary:
      "Take NODE, a member that is down for good, out of the cluster (admin scope): its partitions are rebuilt on the others from the surviving replicas, and it can never rejoin under that id.",
    flags: {
      ...COMMON_FLAGS,
      "dry-run": {
        type: "bool",
        description: "Only print the plan: which partitions move where, and how many keys and bytes",
      },
    },
  },
  cluster: { args: CLUSTER_ARGS, summary: CLUSTER_SUMMARY, flags: { ...COMMON_FLAGS, ...CLUSTER_FLAGS } },
};

const bad = (message: string) => new MeshkvError("INVALID_ARGUMENT", message);
const LEVELS = new Set(["one", "quorum", "all", "local_one", "local_quorum", "each_quorum"]);

export function parseConsistency(text: string): Consistency {
  const lower = text.trim().toLowerCase();
  if (LEVELS.has(lower)) return lower as Consistency;
  const m = /^([rw])=(\d{1,2})$/.exec(lower);
  if (m && Number(m[2]) >= 1) return m[1] === "r" ? { r: Number(m[2]) } : { w: Number(m[2]) };
  throw bad(
    `Flag --consistency takes one, quorum, all, local_one, local_quorum, each_quorum, r=N or w=N: got ${
      JSON.stringify(text)
    }`,
  );
}

/** Every `--endpoint` given (the flag parser keeps only the last of a repeated flag), else the environment's. */
function endpointsFrom(rt: Runtime, argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--endpoint" && argv[i + 1] !== undefined) out.push(argv[++i]!);
    else if (arg.startsWith("--endpoint=")) out.push(arg.slice("--endpoint=".length));
  }
  const list = (out.length > 0 ? out : [rt.env("MESHKV_ENDPOINT") ?? DEFAULT_ENDPOINT]).flatMap((s) => s.split(","))
    .map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw bad("Flag --endpoint needs a URL");
  for (const e of list) {
    if (!/^https?:\/\/[^/]+/.test(e)) throw bad(`Flag --endpoint takes http(s) URLs: got ${JSON.stringify(e)}`);
  }
  return list.map((e) => e.replace(/\/+$/, ""));
}

function clientFor(rt: Runtime, argv: string[], flags: FlagValues): MeshkvClient {
  const token = (flags.token as string | undefined) ?? rt.env("MESHKV_TOKEN");
  const options: Parameters<typeof createClient>[0] = {
    endpoints: endpointsFrom(rt, argv),
    timeoutMs: flags.timeout as number,
    retries: 1,
  };
  if (token) options.token = token;
  if (flags.consistency !== undefined) options.consistency = parseConsistency(flags.consistency as string);
  return createClient(options);
}

/** JSON with the superjson types made readable (a Map as an object, a Set as an array, a BigInt as text). */
function pretty(value: unknown, indent: number | undefined): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Map) return Object.fromEntries(v);
    if (v instanceof Set) return [...v];
    if (typeof v === "bigint") return v.toString();
    return v;
  }, indent) ?? "undefined";
}

/** A value as text: strings and bytes as stored, anything else as JSON (pretty unless `oneLine`). */
export function renderValue(value: unknown, oneLine: boolean): string {
  let text: string;
  if (typeof value === "string") text = value;
  else if (value instanceof Uint8Array) text = new TextDecoder().decode(value);
  else return pretty(value, oneLine ? undefined : 2);
  return oneLine && /[\n\r\t]/.test(text) ? JSON.stringify(text) : text;
}

function printEntry(key: string, entry: Entry<unknown>): void {
  if (entry.values.length === 1) {
    console.log(renderValue(entry.value, false));
    return;
  }
  console.error(
    `meshkv: ${key} has ${entry.values.length} siblings (concurrent writes), one per line; resolve them with a write that carries their context`,
  );
  for (const v of entry.values) console.log(renderValue(v, true));
}

function positional(command: string, got: string[], want: number): string[] {
  if (got.length !== want) {
    const spec = CLIENT_COMMANDS[command]!.args;
    throw bad(
      `${command} takes ${spec || "no arguments"}: got ${got.length} argument${
        got.length === 1 ? "" : "s"
      } (see meshkv ${command} --help)`,
    );
  }
  return got;
}

async function run(
  command: string,
  kv: MeshkvClient,
  args: string[],
  flags: FlagValues,
  clientAt: (address: string) => MeshkvClient,
): Promise<number> {
  switch (command) {
    case "cluster":
      return await runCluster(kv, args, flags, clientAt);
    case "status":
      positional(command, args, 0);
      console.log(JSON.stringify(await kv.status(), null, 2));
      return 0;
    case "get": {
      const [key] = positional(command, args, 1) as [string];
      const entry = await kv.get(key);
      if (entry === null) {
        console.error(`meshkv: KEY_NOT_FOUND: Key ${JSON.stringify(key)} has no value`);
        return 1;
      }
      printEntry(key, entry);
      return 0;
    }
    case "put": {
      const [key, text] = positional(command, args, 2) as [string, string];
      let value: unknown = new TextEncoder().encode(text);
      let contentType = "text/plain; charset=utf-8";
      if (flags.json) {
        try {
          value = JSON.parse(text);
        } catch (e) {
          throw bad(`put --json: VALUE is not JSON: ${(e as Error).message}`);
        }
        contentType = "application/json";
      }
      const result = await kv.put(key, value, {
        contentType,
        ...(flags["if-none-match"] ? { ifNoneMatch: true } : {}),
        ...(flags.ttl !== undefined ? { ttlMs: flags.ttl as number } : {}),
      });
      const note = result.siblings > 1 ? ` (${result.siblings} siblings: write with a context to resolve them)` : "";
      console.log(`${result.created ? "created" : "updated"} ${key}${note}`);
      return 0;
    }
    case "delete": {
      const [key] = positional(command, args, 1) as [string];
      await kv.delete(key);
      console.log(`deleted ${key}`);
      return 0;
    }
    case "list":
      positional(command, args, 0);
      return await list(kv, flags);
    case "remove": {
      const [node] = positional(command, args, 1) as [string];
      printRemoval(await kv.removeNode(node, { dryRun: flags["dry-run"] === true }));
      return 0;
    }
  }
  throw new TypeError(`Not a client command: ${command}`);
}

async function list(kv: MeshkvClient, flags: FlagValues): Promise<number> {
  const max = (flags.limit as number | undefined) ?? Infinity;
  const keysOnly = flags["keys-only"] === true;
  let printed = 0;
  const options = {
    keysOnly,
    limit: Math.min(max, 1000),
    ...(flags.prefix !== undefined ? { prefix: flags.prefix as string } : {}),
  };
  for await (const page of kv.list(options)) {
    for (const item of page.items) {
      if (printed >= max) return 0;
      if (keysOnly) console.log(item.key);
      else for (const v of item.values) console.log(`${item.key}\t${renderValue(v, true)}`);
      printed++;
    }
    if (printed >= max) break;
  }
  return 0;
}

/** The plan (and, without --dry-run, what was done): one line per moving partition, then the totals. */
function printRemoval(r: Record<string, unknown>): void {
  console.log(
    r.dryRun
      ? `plan to remove ${String(r.node)} (${String(r.status)}); nothing was changed:`
      : `removed ${String(r.node)}; its partitions are being rebuilt (see meshkv status: removed.rebuild):`,
  );
  printMoves(r);
  if (!r.dryRun) console.log(`${String(r.hintsDropped ?? 0)} hints for ${String(r.node)} dropped on this node`);
}

/** Runs one client command; bad flags throw INVALID_ARGUMENT for main() to turn into exit status 2. */
export async function clientCommand(rt: Runtime, command: string, argv: string[]): Promise<number> {
  const spec = CLIENT_COMMANDS[command];
  if (!spec) throw new TypeError(`Not a client command: ${command}`);
  const { flags, positional: args } = parseFlags(argv, spec.flags);
  if (flags.help) {
    console.log(helpText(`${command}${spec.args ? ` ${spec.args}` : ""}`, spec.summary, spec.flags));
    return 0;
  }
  const kv = clientFor(rt, argv, flags);
  try {
    // Another member, at its gossiped host:port, with the scheme and token of the node asked.
    const scheme = endpointsFrom(rt, argv)[0]!.startsWith("https:") ? "https" : "http";
    const clientAt = (address: string) => clientFor(rt, ["--endpoint", `${scheme}://${address}`], flags);
    return await run(command, kv, args, flags, clientAt);
  } catch (err) {
    if (!isMeshkvClientError(err)) throw err;
    const hint = err.code === "CONNECT_FAILED" ? " (is a node running there? start one with: meshkv start)" : "";
    console.error(`meshkv: ${err.code}: ${err.message}${hint}`);
    return 1;
  } finally {
    kv.close();
  }
}
