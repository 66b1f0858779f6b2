/**
 * `meshkv start`: runs one node in this process until SIGINT or SIGTERM. It opens the data directory, keeps a
 * stable node id there (like Cassandra's host id), serves the HTTP API and, on the same port (path `/mesh`),
 * the peer mesh with gossip membership: `--seeds` names nodes to join through. Data lives in `<data>/store`
 * (the LSM engine) and `<data>/hints`, served by the replicated backend (`cluster/cluster_backend.ts`): N replicas
 * per key, quorums per request, hinted handoff, read repair, anti-entropy and partition moves on joins/leaves.
 * This file turns flags into options; `assemble.ts` puts the node together (the same function the simulation
 * uses).
 */
import { isPresetName, type PresetName, TIMING_PRESETS } from "../cluster/presets.ts";
import type { ClusterNode } from "../cluster/node.ts";
import { MeshkvError } from "../errors.ts";
import { parseRegionDelays } from "../mesh/regions.ts";
import type { Runtime } from "../runtime/types.ts";
import type { ClusterBackend } from "../cluster/cluster_backend.ts";
import { assembleNode } from "./assemble.ts";
import { type ReplicationConfig, RingView } from "../cluster/ring_view.ts";
import { readText, writeTextDurably } from "../cluster/_files.ts";
import { parseKeyspace } from "../cluster/keyspaces.ts";
import { type ConsistencyLevel, parseConsistency } from "../core/quorum.ts";
import { validatePartitions } from "../core/ring.ts";
import { toHex } from "../core/_bytes.ts";
import {
  type AuthConfig,
  type Scope,
  SCOPES,
  TOKEN_CHARS_MAX,
  TOKEN_CHARS_MIN,
  type TokenConfig,
} from "../http/auth.ts";
import type { Durability } from "../storage/options.ts";
import type { FlagValues } from "./args.ts";

export { START_FLAGS } from "./start_flags.ts";

export async function readTlsFlags(
  rt: Runtime,
  flags: FlagValues,
): Promise<{ cert: string; key: string; ca?: string } | null> {
  const [cert, key, ca] = (["tls-cert", "tls-key", "tls-ca"] as const).map((f) => flags[f] as string | undefined);
  if (cert === undefined && key === undefined) {
    if (ca !== undefined) throw new MeshkvError("INVALID_ARGUMENT", "Flag --tls-ca needs --tls-cert and --tls-key");
    return null;
  }
  if (cert === undefined || key === undefined) {
    throw new MeshkvError("INVALID_ARGUMENT", "Flags --tls-cert and --tls-key go together");
  }
  const read = async (flag: string, path: string) => {
    try {
      return new TextDecoder().decode(await rt.fs.readFile(path));
    } catch (err) {
      throw new MeshkvError("INVALID_ARGUMENT", `Flag --${flag}: cannot read ${path}`, { cause: err });
    }
  };
  return {
    cert: await read("tls-cert", cert),
    key: await read("tls-key", key),
    ...(ca === undefined ? {} : { ca: await read("tls-ca", ca) }),
  };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

/** Parses `scope:token` entries; without tokens the node may only listen on loopback. */
export function parseTokens(entries: readonly string[], host: string): AuthConfig | null {
  const tokens: TokenConfig[] = [];
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(":");
    const scope = entry.slice(0, colon);
    const token = entry.slice(colon + 1);
    if (colon < 0 || !(SCOPES as readonly string[]).includes(scope)) {
      throw new MeshkvError(
        "INVALID_ARGUMENT",
        `Flag --tokens takes scope:token with scope ${SCOPES.join(", ")}: entry ${i + 1} is not one`,
      );
    }
    if (token.length < TOKEN_CHARS_MIN || token.length > TOKEN_CHARS_MAX) {
      throw new MeshkvError(
        "INVALID_ARGUMENT",
        `Flag --tokens: entry ${i + 1} must have a token of ${TOKEN_CHARS_MIN} to ${TOKEN_CHARS_MAX} characters`,
      );
    }
    tokens.push({ token, scope: scope as Scope, name: `${scope}-${i + 1}` });
  }
  if (tokens.length > 0) return { tokens };
  if (!LOOPBACK.test(host)) {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Refusing to serve the client API on ${host} without --tokens: set tokens, or listen on 127.0.0.1`,
    );
  }
  return null;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Reads the node id kept in the data directory, or stores the given (or a generated) one there. */
export async function resolveNodeId(rt: Runtime, dir: string, wanted: string | undefined): Promise<string> {
  if (wanted !== undefined && !ID_PATTERN.test(wanted)) {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Node id must be 1 to 64 letters, digits, '.', '_' or '-': got ${JSON.stringify(wanted)}`,
    );
  }
  const stored = await readText(rt.fs, dir, "NODE_ID");
  if (stored && wanted && stored !== wanted) {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Data directory ${dir} belongs to node ${stored}, not ${wanted}: use another --data or the same --id`,
    );
  }
  if (stored) return stored;
  const id = wanted ?? `n-${toHex(rt.random().bytes(4))}`;
  await writeTextDurably(rt.fs, dir, "NODE_ID", id);
  return id;
}

/**
 * When the data directory was created (ms since the epoch), kept in `SINCE`: the node's place in the order the
 * ring joins members (`MemberInfo.since`). A directory from before `SINCE` existed (it has a NODE_ID) gets 0,
 * so upgrading keeps the ring it had.
 */
export async function resolveSince(rt: Runtime, dir: string, fresh: boolean): Promise<number> {
  const stored = Number(await readText(rt.fs, dir, "SINCE") ?? NaN);
  if (Number.isSafeInteger(stored) && stored >= 0) return stored;
  const since = fresh ? Math.floor(rt.clock.now()) : 0;
  await writeTextDurably(rt.fs, dir, "SINCE", String(since));
  return since;
}

export interface StartedNode {
  nodeId: string;
  url: string;
  cluster: ClusterNode;
  backend: ClusterBackend;
  /** Stops serving at once: a temporary absence (peers keep its partitions and hints for it). */
  stop(): Promise<void>;
  /**
   * Leaves the cluster: announces `left` and hands every partition off, giving up after `timeoutMs`. Resolves
   * with whether it drained; a node with no other live member has no one to hand off to and does not leave.
   */
  leave(timeoutMs: number): Promise<{ drained: boolean; partitionsHeld: number; tookMs: number; alone: boolean }>;
  /** Resolves if an operator removed this node from the cluster (`meshkv remove`): the process must end. */
  removed: Promise<void>;
}

/** Written into the data directory once the node learns it was removed: a restart is refused at once. */
export const REMOVED_FILE = "REMOVED";

/** Used when neither --secret nor MESHKV_SECRET is given: fine on loopback, never in production. */
export const DEV_SECRET = "meshkv-insecure-development-secret";

function meshOptions(rt: Runtime, flags: FlagValues) {
  const preset = String(flags["mesh-preset"]);
  if (!isPresetName(preset)) {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Flag --mesh-preset takes ${Object.keys(TIMING_PRESETS).join(", ")}: got ${JSON.stringify(preset)}`,
    );
  }
  const seeds = (flags.seeds as string[] | undefined) ?? [];
  for (const s of seeds) {
    if (!/^[^\s/:]+:\d{1,5}$/.test(s) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(s)) {
      throw new MeshkvError("INVALID_ARGUMENT", `Flag --seeds takes host:port entries: got ${JSON.stringify(s)}`);
    }
  }
  const meshPortFlag = String(flags["mesh-port"]);
  if (meshPortFlag !== "off" && !(/^\d{1,5}$/.test(meshPortFlag) && Number(meshPortFlag) <= 65535)) {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Flag --mesh-port takes a port (0 to 65535; 0 picks a free one) or off: got ${JSON.stringify(meshPortFlag)}`,
    );
  }
  const secret = (flags.secret as string | undefined) ?? rt.env("MESHKV_SECRET");
  if (secret !== undefined && secret.length < 8) {
    throw new MeshkvError("INVALID_ARGUMENT", "Flag --secret must be at least 8 characters");
  }
  return {
    seeds,
    meshPort: meshPortFlag === "off" ? null : Number(meshPortFlag),
    secret: secret ?? DEV_SECRET,
    devSecret: secret === undefined,
    timings: TIMING_PRESETS[preset as PresetName],
    regionDelays: flags["region-delays"] === undefined ? {} : parseRegionDelays(String(flags["region-delays"])),
  };
}

/** Prints the node's log lines as `<prefix>: message` (warnings and errors on stderr, debug not at all). */
function logTo(prefix: string): (level: string, message: string) => void {
  return (level, message) => {
    if (level === "debug") return;
    if (level === "warn" || level === "error") console.error(`${prefix}: ${message}`);
    else console.log(`${prefix}: ${message}`);
  };
}

export interface StartNodeOptions {
  /** Names the node in its log lines (`meshkv [label]: …`), for several nodes in one process (`meshkv dev`). */
  label?: string;
  /** Print the no-secret and no-tokens warnings (default true; `meshkv dev` prints them once for all nodes). */
  warn?: boolean;
}

/** Reads --replicas, --replication, --partitions, the default levels and --strict-quorum. */
export function replicationOptions(
  flags: FlagValues,
): { replication: ReplicationConfig; readLevel: ConsistencyLevel; writeLevel: ConsistencyLevel } {
  const partitions = Number(flags.partitions);
  validatePartitions(partitions);
  let perDc: Record<string, number> | undefined;
  if (flags.replication !== undefined) {
    perDc = {};
    for (const entry of String(flags.replication).split(",").map((e) => e.trim()).filter(Boolean)) {
      const m = /^([A-Za-z0-9_.-]+):(\d{1,2})$/.exec(entry);
      if (!m) {
        throw new MeshkvError(
          "INVALID_ARGUMENT",
          `Flag --replication takes datacenter:count entries, e.g. us-east:2,eu-west:1: got ${JSON.stringify(entry)}`,
        );
      }
      perDc[m[1]!] = Number(m[2]);
    }
    if (Object.keys(perDc).length === 0) {
      throw new MeshkvError("INVALID_ARGUMENT", "Flag --replication needs at least one datacenter:count entry");
    }
  }
  const n = perDc ? Object.values(perDc).reduce((a, b) => a + b, 0) : Number(flags.replicas);
  const level = (flag: string) => {
    try {
      return parseConsistency(String(flags[flag]));
    } catch (err) {
      throw new MeshkvError("INVALID_ARGUMENT", `Flag --${flag}: ${(err as Error).message}`);
    }
  };
  const conflicts = String(flags.conflicts);
  if (conflicts !== "siblings" && conflicts !== "lww") {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Flag --conflicts takes siblings or lww: got ${JSON.stringify(conflicts)}`,
    );
  }
  const keyspaces = ((flags.keyspaces as string[] | undefined) ?? []).map(parseKeyspace);
  const replication: ReplicationConfig = {
    partitions,
    n,
    sloppy: flags["strict-quorum"] !== true,
    conflicts,
    keyspaces,
    ...(perDc ? { replication: perDc } : {}),
  };
  new RingView(replication); // checks the keyspaces (duplicates, bounds) and partitions times replica classes
  return {
    replication,
    readLevel: level("read-consistency"),
    writeLevel: level("write-consistency"),
  };
}

export async function startNode(rt: Runtime, flags: FlagValues, o: StartNodeOptions = {}): Promise<StartedNode> {
  rt.tuneForServer?.();
  const prefix = o.label === undefined ? "meshkv" : `meshkv [${o.label}]`;
  const log = logTo(prefix);
  const m = meshOptions(rt, flags);
  const host = String(flags.host);
  const tokenEntries = (flags.tokens as string[] | undefined) ??
    (rt.env("MESHKV_TOKENS") ?? "").split(",").map((t) => t.trim()).filter(Boolean);
  const auth = parseTokens(tokenEntries, host);
  const durability = String(flags.durability);
  if (!["always", "batch", "none"].includes(durability)) {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Flag --durability takes always, batch or none: got ${JSON.stringify(durability)}`,
    );
  }
  const compression = String(flags.compression);
  if (compression !== "none" && compression !== "deflate") {
    throw new MeshkvError(
      "INVALID_ARGUMENT",
      `Flag --compression takes none or deflate: got ${JSON.stringify(compression)}`,
    );
  }
  const tls = await readTlsFlags(rt, flags);
  const r = replicationOptions(flags);
  const dir = String(flags.data);
  await rt.fs.mkdir(dir, { recursive: true });
  const fresh = (await readText(rt.fs, dir, "NODE_ID")) === null;
  const nodeId = await resolveNodeId(rt, dir, flags.id as string | undefined);
  const removedNote = await readText(rt.fs, dir, REMOVED_FILE);
  if (removedNote !== null) {
    throw new MeshkvError(
      "NODE_REMOVED",
      `Node ${nodeId} was removed from the cluster (${removedNote.trim()}) and cannot rejoin under its id: start a new node with an empty --data directory instead`,
    );
  }
  const since = await resolveSince(rt, dir, fresh);
  if (m.devSecret && o.warn !== false) {
    console.error("meshkv: no --secret or MESHKV_SECRET given: using the insecure development secret");
  }
  if (!auth && o.warn !== false) {
    console.error(
      `meshkv: no --tokens given: the client API is open without authentication, on loopback (${host}) only`,
    );
  }
  const assembled = await assembleNode({
    runtime: rt,
    random: rt.random(),
    nodeId,
    datacenter: String(flags.datacenter),
    timings: { ...m.timings, cluster: { ...m.timings.cluster, tombstoneGraceMs: Number(flags["tombstone-grace-ms"]) } },
    ...(flags.rack === undefined ? {} : { rack: String(flags.rack) }),
    node: {
      host,
      port: Number(flags.port),
      cluster: String(flags.cluster),
      secret: m.secret,
      capacity: Number(flags.capacity),
      seeds: m.seeds,
      meshPort: m.meshPort,
      since,
      regionDelays: m.regionDelays,
      log,
      ...(flags.advertise === undefined ? {} : { advertise: String(flags.advertise) }),
      ...(tls === null ? {} : { tls }),
    },
    kv: {
      dir,
      auth,
      bodyLimits: {
        bodyDeadlineMs: Number(flags["body-deadline-ms"]),
        bodyRateBytesPerSecMin: Number(flags["body-rate-bytes-per-sec-min"]),
        bodyRateGraceMs: Number(flags["body-rate-grace-ms"]),
      },
      options: {
        replication: r.replication,
        readLevel: r.readLevel,
        writeLevel: r.writeLevel,
        engine: {
          durability: durability as Durability,
          syncIntervalMs: Number(flags["sync-interval-ms"]),
          compression,
          cacheBytes: Number(flags["cache-bytes"]),
          ...(flags["memtable-bytes"] === undefined ? {} : { memtableBytes: Number(flags["memtable-bytes"]) }),
          lockOwner: String(rt.pid),
          lockOwnerAlive: (owner) => /^\d+$/.test(owner) && Number(owner) !== rt.pid && rt.processAlive(Number(owner)),
        },
      },
    },
  });
  const node = assembled.cluster;
  const backend = assembled.backend!;
  node.gossip.on((e) =>
    log("info", `member ${e.member.id} ${e.type} (${e.member.address}, incarnation ${e.member.incarnation})`)
  );
  const removed = new Promise<void>((resolve) => {
    node.gossip.on((e) => {
      if (e.type !== "removed" || e.member.id !== nodeId) return;
      const note = `removed, learned at ${new Date(rt.clock.now()).toISOString()}\n`;
      writeTextDurably(rt.fs, dir, REMOVED_FILE, note).catch((err: Error) =>
        log("warn", `Could not write ${REMOVED_FILE}: ${err.message}`)
      ).finally(resolve);
    });
  });
  return {
    nodeId,
    url: node.url,
    cluster: node,
    backend,
    removed,
    async leave(timeoutMs: number) {
      const others = [...node.gossip.table.values()].filter((m) => m.id !== nodeId && m.status === "alive");
      if (others.length === 0) {
        return { drained: false, partitionsHeld: backend.store.partitionsHeld().length, tookMs: 0, alone: true };
      }
      const r = await backend.leave({ timeoutMs });
      return {
        drained: r.drained === true,
        partitionsHeld: Number(r.partitionsHeld),
        tookMs: Number(r.tookMs),
        alone: false,
      };
    },
    async stop() {
      // A stop is a temporary absence (peers mark the node down and keep hints for it), not a decommission:
      // `POST /v1/admin/leave` hands the data off first.
      await node.kill();
      await backend.close();
    },
  };
}
