/**
 * The `meshkv` command. Runs the same on every runtime: `npx meshkv …` (Node, through bin.mjs),
 * `deno task start …` / `deno run -A src/cli/main.ts …`, `bun run start …` / `bun src/cli/main.ts …`.
 */
import { isMeshkvError } from "../errors.ts";
import { detectRuntime } from "../runtime/detect.ts";
import type { Runtime } from "../runtime/types.ts";
import { VERSION } from "../version.ts";
import { type FlagValues, helpText, parseFlags, withoutDefaults } from "./args.ts";
import { clientCommand } from "./client_commands.ts";
import { loadConfig, mergeFlags, withConfigFlag } from "./config.ts";
import { runDev } from "./dev.ts";
import { START_FLAGS, startNode } from "./start.ts";

const USAGE = `meshkv ${VERSION}: a leaderless, multi-region key-value store

Usage: meshkv <command> [flags]

Commands:
  start                Run a node in this process (--config FILE for a JSON config file)
  dev                  Run a local three-region cluster (three nodes) in this process
  status               Print a running node's status as JSON
  get KEY              Print the value of KEY
  put KEY VALUE        Write VALUE to KEY (--json, --ttl MS, --if-none-match)
  delete KEY           Delete KEY
  list                 List keys in order (--prefix P, --limit N, --keys-only)
  remove NODE          Take a node that is down for good out of the cluster (--dry-run prints the plan)
  version              Print the version
  help                 Show this help (or: meshkv <command> --help)

Client commands talk to --endpoint URL (default $MESHKV_ENDPOINT or http://127.0.0.1:7400)
with --token T (default $MESHKV_TOKEN) and an optional --consistency LEVEL.`;

/** Flag defaults, then the config file (`--config` or `MESHKV_CONFIG`), then the flags given. */
async function startFlags(rt: Runtime, argv: string[]): Promise<FlagValues | null> {
  const table = withConfigFlag(START_FLAGS);
  const { flags: given } = parseFlags(argv, withoutDefaults(table));
  if (given.help) {
    console.log(helpText("start", "Run a meshkv node in this process until SIGINT or SIGTERM.", table));
    return null;
  }
  const path = (given.config as string | undefined) ?? rt.env("MESHKV_CONFIG");
  delete given.config;
  const fromFile = path ? await loadConfig(rt, path, START_FLAGS) : {};
  const n = Object.keys(fromFile).length;
  if (path) console.log(`meshkv: read ${n} setting${n === 1 ? "" : "s"} from config file ${path}`);
  return mergeFlags(START_FLAGS, fromFile, given);
}

async function start(rt: Runtime, argv: string[]): Promise<number> {
  const flags = await startFlags(rt, argv);
  if (flags === null) return 0;
  const node = await startNode(rt, flags);
  console.log(`meshkv ${VERSION} node ${node.nodeId} listening on ${node.url} (${rt.name} ${rt.version})`);
  const removed = await new Promise<boolean>((resolve) => {
    const stop = () => resolve(false);
    rt.onSignal("SIGINT", stop);
    rt.onSignal("SIGTERM", stop);
    void node.removed.then(() => resolve(true));
  });
  await node.stop();
  if (removed) {
    console.error(
      `meshkv: NODE_REMOVED: node ${node.nodeId} was removed from the cluster by an operator and cannot rejoin under its id: start a new node with an empty --data directory instead`,
    );
    return 1;
  }
  console.log(`meshkv node ${node.nodeId} stopped`);
  return 0;
}

export async function main(rt: Runtime, argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "start":
        return await start(rt, rest);
      case "dev":
        return await runDev(rt, rest);
      case "status":
      case "get":
      case "put":
      case "delete":
      case "list":
      case "remove":
        return await clientCommand(rt, command, rest);
      case "version":
      case "--version":
        console.log(VERSION);
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(USAGE);
        return 0;
      default:
        console.error(`Unknown command: ${command}\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (isMeshkvError(err, "INVALID_ARGUMENT")) {
      console.error(`meshkv: ${err.message}`);
      return 2;
    }
    if (isMeshkvError(err)) {
      console.error(`meshkv: ${err.code}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

if ((import.meta as { main?: boolean }).main || (globalThis as { __meshkvBin?: boolean }).__meshkvBin) {
  const rt = await detectRuntime();
  rt.exit(await main(rt, rt.args()));
}
