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
import { START_FLAGS, type StartedNode, startNode } from "./start.ts";

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
  cluster status       Print the members as a table (node, DC, rack, status, load, owns)
  cluster plan join|leave|remove NODE
                       Print which partitions that change would move, where, keys and bytes (changes nothing)
  cluster leave        Make the node hand its data off and leave the cluster
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
  const leaveOnShutdown = flags["leave-on-shutdown"] === true;
  let signals = 0;
  let onAnother: () => void = () => {};
  const reason = await new Promise<"stop" | "leave" | "removed">((resolve) => {
    const on = (leave: boolean) => () => {
      signals++;
      if (signals > 1) onAnother();
      resolve(leave ? "leave" : "stop");
    };
    rt.onSignal("SIGINT", on(false));
    rt.onSignal("SIGTERM", on(leaveOnShutdown));
    void node.removed.then(() => resolve("removed"));
  });
  if (reason === "leave") {
    return await leaveThenStop(rt, node, Number(flags["drain-timeout-ms"]), (fn) => {
      onAnother = fn;
      if (signals > 1) fn();
    });
  }
  await node.stop();
  if (reason === "removed") {
    console.error(
      `meshkv: NODE_REMOVED: node ${node.nodeId} was removed from the cluster by an operator and cannot rejoin under its id: start a new node with an empty --data directory instead`,
    );
    return 1;
  }
  console.log(`meshkv node ${node.nodeId} stopped`);
  return 0;
}

/**
 * `--leave-on-shutdown`: the first SIGTERM makes the node leave and hand its data off; it exits 0 once it holds
 * nothing. The drain timeout or another signal exits at once with status 1: the node has announced `left`
 * already, so the members that gained its partitions pull whatever it did not hand off from the other replicas.
 */
async function leaveThenStop(
  rt: Runtime,
  node: StartedNode,
  drainMs: number,
  onAnotherSignal: (fn: () => void) => void,
): Promise<number> {
  console.log(
    `meshkv: SIGTERM: node ${node.nodeId} leaves the cluster and hands its data off (at most --drain-timeout-ms ${drainMs}; another SIGTERM exits at once)`,
  );
  const cut = new Promise<"signal" | "timeout">((resolve) => {
    onAnotherSignal(() => resolve("signal"));
    void rt.clock.sleep(drainMs).then(() => resolve("timeout"));
  });
  const outcome = await Promise.race([node.leave(drainMs).catch((err: Error) => err), cut]);
  await node.stop();
  if (outcome instanceof Error) {
    console.error(`meshkv: could not leave the cluster (${outcome.message}): stopped as a temporary absence`);
    return 1;
  }
  if (outcome === "signal" || outcome === "timeout") {
    const why = outcome === "signal" ? "another signal came" : `the drain timeout (${drainMs} ms) passed`;
    console.error(
      `meshkv: ${why} before the hand-off finished: node ${node.nodeId} stopped holding data it had not handed off; it has left, and the members that gained its partitions pull them from the other replicas`,
    );
    return 1;
  }
  if (outcome.alone) {
    console.log(
      `meshkv: node ${node.nodeId} has no other live member to hand its data off to: stopped as a temporary absence`,
    );
    return 0;
  }
  if (!outcome.drained) {
    console.error(
      `meshkv: node ${node.nodeId} left but still held ${outcome.partitionsHeld} partitions after ${outcome.tookMs} ms; the members that gained them pull them from the other replicas`,
    );
    return 1;
  }
  console.log(`meshkv: node ${node.nodeId} left the cluster: every partition handed off in ${outcome.tookMs} ms`);
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
      case "cluster":
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
