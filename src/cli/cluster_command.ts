/**
 * `meshkv cluster status|plan|leave`: membership as an operator sees it, against a running node through the SDK.
 *
 * - `status`: a `nodetool status`-style table, one line per member: node, datacenter, rack, status, load (bytes
 *   the node stores: its tables and log, asked of each member's own `/v1/admin/status` at its gossiped address,
 *   `?` when it does not answer) and owns (the share of partitions it holds a replica of, so the column adds up
 *   to the replica count times 100%, Cassandra's "effective ownership").
 * - `plan join|leave|remove NODE`: the preview of that change (`POST /v1/admin/plan`): partitions that move,
 *   from where to where, keys and bytes; nothing changes. `--capacity`, `--datacenter` and `--rack` place a
 *   joiner that is not a member yet (default: `meshkv start`'s defaults).
 * - `leave`: asks the node at `--endpoint` to leave (`POST /v1/admin/leave`): it hands its data off and stops
 *   owning partitions.
 */
import type { MeshkvClient } from "../client/mod.ts";
import { MeshkvError } from "../errors.ts";
import type { FlagTable, FlagValues } from "./args.ts";

export const CLUSTER_ARGS = "status | plan join|leave|remove NODE | leave";
export const CLUSTER_SUMMARY =
  "Membership (admin scope): status prints a table of the members (node, DC, rack, status, load, owns); plan join|leave|remove NODE prints which partitions that change would move, from where to where, with keys and bytes, and changes nothing; leave makes the node at --endpoint hand its data off and leave the cluster.";
export const CLUSTER_FLAGS: FlagTable = {
  capacity: {
    type: "int",
    description: "plan join: capacity of a joiner that is not a member yet",
    default: 1,
    min: 1,
    max: 10_000,
  },
  datacenter: {
    type: "string",
    description: "plan join: datacenter of a joiner that is not a member yet",
    default: "dc1",
  },
  rack: { type: "string", description: "plan join: rack of a joiner that is not a member yet" },
  json: { type: "bool", description: "Print the node's JSON answer instead of a table" },
};

const bad = (message: string) => new MeshkvError("INVALID_ARGUMENT", message);

interface Member {
  id: string;
  address: string;
  datacenter: string;
  rack?: string;
  status: string;
  self?: boolean;
}

/** Runs `meshkv cluster SUB ...`; `clientAt(address)` reaches another member (for its load). */
export async function runCluster(
  kv: MeshkvClient,
  args: string[],
  flags: FlagValues,
  clientAt: (address: string) => MeshkvClient,
): Promise<number> {
  const [sub, ...rest] = args;
  const want = (n: number, spec: string) => {
    if (rest.length !== n) {
      throw bad(
        `cluster ${sub} takes ${spec}: got ${rest.length} argument${
          rest.length === 1 ? "" : "s"
        } (see meshkv cluster --help)`,
      );
    }
  };
  switch (sub) {
    case "status": {
      want(0, "no arguments");
      const [status, ring] = await Promise.all([kv.status(), kv.ring()]);
      if (flags.json) console.log(JSON.stringify({ status, ring }, null, 2));
      else console.log(await statusTable(status, ring, clientAt));
      return 0;
    }
    case "plan": {
      want(2, "join, leave or remove, then NODE");
      const [change, node] = rest as [string, string];
      if (change !== "join" && change !== "leave" && change !== "remove") {
        throw bad(`cluster plan takes join, leave or remove: got ${JSON.stringify(change)}`);
      }
      if (change !== "join" && (flags.rack !== undefined || joinerFlagsGiven(flags))) {
        throw bad(`--capacity, --datacenter and --rack place a joiner: only cluster plan join takes them`);
      }
      const joiner = change === "join"
        ? {
          capacity: flags.capacity as number,
          datacenter: flags.datacenter as string,
          ...(flags.rack === undefined ? {} : { rack: flags.rack as string }),
        }
        : undefined;
      const plan = await kv.plan(change, node, joiner ? { joiner } : {});
      if (flags.json) console.log(JSON.stringify(plan, null, 2));
      else printPlan(plan);
      return 0;
    }
    case "leave": {
      want(0, "no arguments");
      const r = await kv.leave();
      if (flags.json) console.log(JSON.stringify(r, null, 2));
      else {
        console.log(
          `left the cluster: ${
            r.drained
              ? "every partition handed off"
              : `${
                String(r.partitionsHeld)
              } partitions still held (the hand-off timed out; they stay readable from the other replicas)`
          } in ${String(r.tookMs)} ms`,
        );
      }
      return 0;
    }
    case undefined:
      throw bad(`cluster needs a subcommand: ${CLUSTER_ARGS} (see meshkv cluster --help)`);
    default:
      throw bad(`Unknown cluster subcommand ${JSON.stringify(sub)}: expected ${CLUSTER_ARGS}`);
  }
}

/** True when --capacity or --datacenter differ from their defaults (a flag meant for a join). */
function joinerFlagsGiven(flags: FlagValues): boolean {
  return flags.capacity !== CLUSTER_FLAGS.capacity!.default || flags.datacenter !== CLUSTER_FLAGS.datacenter!.default;
}

/** The members as a table (the column widths follow the widest cell). */
async function statusTable(
  status: Record<string, unknown>,
  ring: Record<string, unknown>,
  clientAt: (address: string) => MeshkvClient,
): Promise<string> {
  const members = (status.members as Member[] | undefined) ?? [];
  const owners = (ring.owners as { nodes: string[] }[] | undefined) ?? [];
  const partitions = Number(ring.partitions ?? owners.length) || 1;
  const held = new Map<string, number>();
  for (const o of owners) for (const n of o.nodes) held.set(n, (held.get(n) ?? 0) + 1);
  const loads = await Promise.all(members.map(async (m) => {
    if (m.self) return storedBytes(status);
    if (m.status !== "alive" && m.status !== "suspect") return null;
    const peer = clientAt(m.address);
    try {
      return storedBytes(await peer.status());
    } catch {
      return null;
    } finally {
      peer.close();
    }
  }));
  const rows = [["Node", "DC", "Rack", "Status", "Load", "Owns", "Address"]];
  members.forEach((m, i) => {
    const load = loads[i];
    rows.push([
      m.id + (m.self ? " *" : ""),
      m.datacenter,
      m.rack ?? "-",
      m.status,
      load === null || load === undefined ? "?" : formatBytes(load),
      `${(100 * (held.get(m.id) ?? 0) / partitions).toFixed(1)}%`,
      m.address,
    ]);
  });
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd());
  const epoch = (status.ring as { epoch?: number } | null)?.epoch;
  return [
    ...lines,
    "",
    `* the node asked; Owns: share of the ${partitions} partitions a member holds a replica of${
      epoch === undefined ? "" : ` (ring epoch ${epoch})`
    }`,
  ].join("\n");
}

/** Bytes a node stores: its tables and its write-ahead log. */
function storedBytes(status: Record<string, unknown>): number | null {
  const s = status.storage as { tableBytes?: number; walBytes?: number } | undefined;
  return s && typeof s.tableBytes === "number" ? s.tableBytes + (s.walBytes ?? 0) : null;
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

interface Move {
  partition: number;
  to: string[];
  from: string[];
  drop?: string[];
  keys: number | null;
  bytes: number | null;
}

/** A plan: one line per moving partition, then the totals. */
function printPlan(r: Record<string, unknown>): void {
  const status = r.status === "new" ? "not a member yet" : String(r.status);
  console.log(`plan to ${String(r.change)} ${String(r.node)} (${status}); nothing was changed:`);
  if (r.note) console.log(`note: ${String(r.note)}`);
  printMoves(r);
}

/** The moves of a plan (`/v1/admin/plan`, `/v1/admin/remove`): one line per moving partition, then the totals. */
export function printMoves(r: Record<string, unknown>): void {
  const moves = (r.moves as Move[] | undefined) ?? [];
  const count = (n: number | null) => (n === null ? "?" : String(n));
  for (const m of moves) {
    const drop = m.drop && m.drop.length > 0 ? `, dropped by ${m.drop.join(",")}` : "";
    console.log(
      `  partition ${m.partition}: to ${m.to.join(",") || "-"} from ${m.from.join(",") || "-"}${drop}, ${
        count(m.keys)
      } keys, ${count(m.bytes)} bytes`,
    );
  }
  const uncounted = Number(r.partitionsUncounted ?? 0);
  console.log(
    `${moves.length} partitions move, ${String(r.keys)} keys, ${String(r.bytes)} bytes${
      uncounted > 0 ? ` (${uncounted} partitions could not be counted)` : ""
    }`,
  );
}
