/**
 * The deterministic cluster simulation (after TigerBeetle's VOPR): many nodes on one `SimNetwork` and one
 * `ManualClock`, each with its own stream from one seed, so a failing run replays exactly from its seed.
 * Tests and benchmarks drive it. Every node is put together by `assembleNode` (src/cli/assemble.ts), the
 * function `meshkv start` uses, so the simulation runs the wiring users run; nodes with a backend also have
 * the HTTP app (`fetch`). Nodes authenticate with the synchronous HMAC (`pureAuthenticator`) so handshakes
 * stay on the manual clock. Only `test/` and `bench/` may import this folder.
 */
import { type AssembledNode, assembleNode } from "../cli/assemble.ts";
import type { ClusterBackend } from "../cluster/cluster_backend.ts";
import type { MemberEvent } from "../cluster/gossip.ts";
import type { ClusterNode } from "../cluster/node.ts";
import { SIMULATION_PRESET } from "../cluster/presets.ts";
import type { ReplicationConfig } from "../cluster/ring_view.ts";
import { type ClusterTimings, type GossipSettings, gossipSettings } from "../cluster/settings.ts";
import type { MemberStatus } from "../core/membership.ts";
import { MeshkvError } from "../errors.ts";
import { pureAuthenticator } from "../mesh/auth.ts";
import { createMemoryRuntime, ManualClock, MemoryFileSystem, SeededRandom } from "../runtime/memory.ts";
import type { FileHandle, FileSystem, Random } from "../runtime/types.ts";
import { type LinkConditions, SimNetwork } from "./sim_net.ts";

export interface SimClusterOptions {
  seed: number;
  /** Nodes started at once (ids n01, n02, …). */
  size: number;
  gossip?: Partial<GossipSettings>;
  link?: Partial<LinkConditions>;
  /** How many of the first nodes every node uses as seeds (default 1). */
  seedCount?: number;
  datacenters?: readonly string[];
  /** Give every node a replicated backend on its own memory disk (kept across crashes and restarts). */
  kv?: {
    replication: Partial<ReplicationConfig>;
    timings?: Partial<ClusterTimings>;
    durability?: "always" | "batch" | "none";
  };
  /** The DNS of the simulation: what a seed's host name resolves to, asked by node `asker` (default: names are dialled as given). */
  resolveHost?: (host: string, asker: string) => Promise<string[]>;
}

export interface ObservedEvent extends MemberEvent {
  observer: string;
}

const PORT = 7000;

export class SimCluster {
  readonly seed: number;
  readonly clock: ManualClock;
  readonly net: SimNetwork;
  readonly settings: GossipSettings;
  readonly nodes = new Map<string, ClusterNode>();
  readonly events: ObservedEvent[] = [];
  /** Each host's disk, which outlives its node (a crash loses only what was not synced). */
  readonly disks = new Map<string, MemoryFileSystem>();
  readonly backends = new Map<string, ClusterBackend>();
  /** Each running node as assembled (with its HTTP handler when it has a backend). */
  readonly assembled = new Map<string, AssembledNode>();
  #random: Random;
  #o: SimClusterOptions;
  #incarnations = new Map<string, number>();
  #fences = new Map<string, () => void>();
  /** When each host's node first started (its data directory's `since`). */
  #since = new Map<string, number>();

  constructor(o: SimClusterOptions) {
    this.#o = o;
    this.seed = o.seed;
    this.clock = new ManualClock();
    this.#random = new SeededRandom(o.seed);
    this.net = new SimNetwork({
      clock: this.clock,
      random: this.#random.fork(),
      ...(o.link === undefined ? {} : { defaults: o.link }),
    });
    this.settings = gossipSettings(o.gossip);
  }

  static async create(o: SimClusterOptions): Promise<SimCluster> {
    const c = new SimCluster(o);
    for (let i = 1; i <= o.size; i++) await c.start(SimCluster.nodeId(i));
    return c;
  }

  static nodeId(i: number): string {
    return `n${String(i).padStart(2, "0")}`;
  }

  seeds(): string[] {
    const n = this.#o.seedCount ?? 1;
    return Array.from({ length: n }, (_, i) => `${SimCluster.nodeId(i + 1)}:${PORT}`);
  }

  /**
   * Starts (or restarts) node `id` on host `id`, seeded with the cluster's seeds unless `o.seeds` says otherwise;
   * `replication` overrides the cluster's settings for this node only.
   */
  async start(
    id: string,
    o: { seeds?: string[]; replication?: Partial<ReplicationConfig> } = {},
  ): Promise<ClusterNode> {
    const index = Number(id.slice(1)) - 1;
    const dcs = this.#o.datacenters ?? ["dc1"];
    let disk = this.disks.get(id);
    if (!disk) this.disks.set(id, disk = new MemoryFileSystem());
    const base = createMemoryRuntime({ clock: this.clock, seed: this.#random.int(2 ** 31), fs: disk });
    const dc = dcs[index % dcs.length]!;
    const kv = this.#o.kv;
    const fenced = fence(disk);
    this.#fences.set(id, fenced.cut);
    const assembled = await assembleNode({
      runtime: this.net.runtime(id, base),
      random: this.#random,
      nodeId: id,
      datacenter: dc,
      timings: {
        ...SIMULATION_PRESET,
        gossip: this.settings,
        cluster: { ...SIMULATION_PRESET.cluster, ...kv?.timings },
      },
      node: {
        host: id,
        port: PORT,
        auth: pureAuthenticator("sim-secret"),
        seeds: o.seeds ?? this.seeds(),
        since: this.#sinceOf(id),
        ...(this.#o.resolveHost === undefined ? {} : { resolveHost: (host: string) => this.#o.resolveHost!(host, id) }),
      },
      ...(kv === undefined ? {} : {
        kv: {
          fs: fenced.fs,
          dir: `/data/${id}`,
          auth: null,
          options: {
            replication: { partitions: 64, n: 3, sloppy: true, ...kv.replication, ...o.replication },
            engine: { durability: kv.durability ?? "always" },
          },
        },
      }),
    });
    const node = assembled.cluster;
    node.gossip.on((e) => this.events.push({ ...e, observer: id }));
    this.nodes.set(id, node);
    this.assembled.set(id, assembled);
    if (assembled.backend) this.backends.set(id, assembled.backend);
    return node;
  }

  #sinceOf(id: string): number {
    let since = this.#since.get(id);
    if (since === undefined) this.#since.set(id, since = Math.floor(this.clock.now()));
    return since;
  }

  /** kill -9: the host vanishes from the network and the node stops without a word. */
  async crash(id: string): Promise<void> {
    const node = this.nodes.get(id);
    if (!node) throw new RangeError(`No running node ${id}`);
    this.net.crash(id);
    this.nodes.delete(id);
    this.assembled.delete(id);
    await node.kill();
    const backend = this.backends.get(id);
    if (backend) {
      this.backends.delete(id);
      backend.halt();
    }
    // The dead process's background work (a flush, a compaction) must not touch the disk any more.
    this.#fences.get(id)?.();
    this.disks.get(id)!.crash();
  }

  async restart(id: string): Promise<ClusterNode> {
    return await this.start(id);
  }

  /** Moves simulated time forward, firing every timer and message due. */
  async run(ms: number, stepMs = 50): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) await this.clock.advance(Math.min(stepMs, ms - t));
  }

  /** Runs until `check()` holds (checked every `stepMs`) or `limitMs` passes; returns the time taken or null. */
  async runUntil(check: () => boolean, limitMs: number, stepMs = 50): Promise<number | null> {
    const start = this.clock.monotonic();
    while (this.clock.monotonic() - start < limitMs) {
      if (check()) return this.clock.monotonic() - start;
      await this.clock.advance(stepMs);
    }
    return check() ? this.clock.monotonic() - start : null;
  }

  /** Status of `subject` in `observer`'s table. */
  statusOf(observer: string, subject: string): MemberStatus | undefined {
    return this.nodes.get(observer)?.gossip.table.get(subject)?.status;
  }

  /** Every running node knows every id in `ids` (default: the running nodes) with the given status. */
  allSee(status: MemberStatus, ids: readonly string[] = [...this.nodes.keys()]): boolean {
    for (const n of this.nodes.values()) {
      for (const id of ids) if (n.gossip.table.get(id)?.status !== status) return false;
    }
    return true;
  }

  /** Every running node has the same member ids with the same statuses and incarnations. */
  converged(): boolean {
    let ref: string | null = null;
    for (const n of this.nodes.values()) {
      const sig = [...n.gossip.table.values()].map((m) => `${m.id}:${m.status}:${m.incarnation}`).sort().join(",");
      if (ref === null) ref = sig;
      else if (sig !== ref) return false;
    }
    return true;
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.crash(id);
  }

  /** The backend of running node `id`. */
  kv(id: string): ClusterBackend {
    const b = this.backends.get(id);
    if (!b) throw new RangeError(`No running node ${id} with a backend`);
    return b;
  }
}

/**
 * A view of a disk that one process incarnation uses: after `cut()` every call fails, as nothing a crashed
 * process still had in flight may reach the disk its successor opens.
 */
function fence(disk: FileSystem): { fs: FileSystem; cut: () => void } {
  let cut = false;
  const check = () => {
    if (cut) throw new MeshkvError("IO_ERROR", "The process that opened this file crashed");
  };
  const wrapHandle = (h: FileHandle): FileHandle => ({
    path: h.path,
    read: async (offset, length) => (check(), await h.read(offset, length)),
    readInto: async (offset, into) => (check(), await h.readInto(offset, into)),
    write: async (offset, data) => (check(), await h.write(offset, data)),
    append: async (data) => (check(), await h.append(data)),
    sync: async () => (check(), await h.sync()),
    size: async () => (check(), await h.size()),
    truncate: async (size) => (check(), await h.truncate(size)),
    close: async () => (cut ? undefined : await h.close()),
  });
  const fs: FileSystem = {
    open: async (path, options) => (check(), wrapHandle(await disk.open(path, options))),
    readFile: async (path) => (check(), await disk.readFile(path)),
    stat: async (path) => (check(), await disk.stat(path)),
    rename: async (from, to) => (check(), await disk.rename(from, to)),
    remove: async (path, options) => (check(), await disk.remove(path, options)),
    list: async (dir) => (check(), await disk.list(dir)),
    mkdir: async (path, options) => (check(), await disk.mkdir(path, options)),
    syncDir: async (path) => (check(), await disk.syncDir(path)),
  };
  return { fs, cut: () => (cut = true) };
}
