/**
 * Gossip membership and failure detection on the mesh (SWIM, Das, Gupta and Motivala 2002; heartbeat gossip
 * after van Renesse et al. 1998; HashiCorp memberlist). The decisions are `src/core/membership.ts`; this file
 * only acts on them: it runs rounds on the injected clock, sends digests to random peers, probes suspects
 * directly and through helpers, joins through seeds, leaves gracefully and reports changes as events.
 *
 * A round: raise our heartbeat; run `decide` with the probe results gathered since the last round; probe
 * new suspects (a direct ping plus `indirectProbes` helpers pinging on our behalf, in parallel; the suspect is
 * `down` only when none of them reached it); push our digest to `fanout` random live members, plus one member
 * we consider down, so a member declared down by mistake learns it and refutes with a higher incarnation.
 * Until another member is known, each round also asks the seeds for their tables (push-pull).
 */
import * as ms from "../core/membership.ts";
import type { MemberInfo, MemberStatus, MemberTable, ProbeResult } from "../core/membership.ts";
import { MeshkvError } from "../errors.ts";
import type { Logger } from "../mesh/link.ts";
import type { Mesh } from "../mesh/mesh.ts";
import type { Clock, Random, TimerHandle } from "../runtime/types.ts";
import { answerPingReq, pick, probe } from "./probes.ts";
import { seedTargets } from "./seed_addresses.ts";
import { type GossipSettings, gossipSettings } from "./settings.ts";

export type MemberEventType = "joined" | "alive" | "suspect" | "down" | "left" | "removed";
export interface MemberEvent {
  type: MemberEventType;
  member: MemberInfo;
  /** Monotonic ms on this node's clock. */
  at: number;
}

export type { MemberView } from "../core/membership.ts";

export interface SelfInfo {
  id: string;
  address: string;
  datacenter: string;
  rack?: string;
  capacity: number;
  /** Start above the incarnation a previous run may have reached (default 0: refutation catches up). */
  incarnation?: number;
  /** When this node's data directory was created (ms since the epoch): its place in the ring's join order. */
  since?: number;
}

export interface GossipOptions {
  mesh: Mesh;
  clock: Clock;
  random: Random;
  self: SelfInfo;
  /** `host:port` of nodes to join through; our own address is skipped. */
  seeds?: readonly string[];
  /**
   * Every address a host name resolves to (the runtime's `resolveHost`): a seed given by name is contacted at
   * each of them, resolved again on every contact, so a headless Kubernetes Service names every pod. Absent:
   * seeds are dialled as given.
   */
  resolve?: (host: string) => Promise<string[]>;
  settings?: Partial<GossipSettings>;
  log?: Logger;
}

export interface GossipStats {
  rounds: number;
  digestsSent: number;
  digestsReceived: number;
  probes: number;
}

/** Seeds that `join` may add at run time. */
export const SEEDS_ADDED_MAX = 64;
export { SEED_ADDRESSES_MAX } from "./seed_addresses.ts";

const LIVE: ReadonlySet<MemberStatus> = new Set(["alive", "suspect"]);

export class Gossip {
  readonly settings: GossipSettings;
  readonly stats: GossipStats = { rounds: 0, digestsSent: 0, digestsReceived: 0, probes: 0 };
  #o: GossipOptions;
  #id: string;
  #table: MemberTable;
  #listeners = new Set<(e: MemberEvent) => void>();
  #probes = new Map<string, ProbeResult>();
  #probing = new Set<string>();
  #seedsBusy = new Set<string>();
  #added = new Set<string>();
  #timer: TimerHandle | undefined;
  #unregister: (() => void)[] = [];
  #running = false;
  #joined: boolean;

  constructor(o: GossipOptions) {
    this.#o = o;
    this.#id = o.self.id;
    this.settings = gossipSettings(o.settings);
    const { id, address, datacenter, capacity, rack, incarnation, since } = o.self;
    this.#table = ms.createTable({
      id,
      address,
      datacenter,
      capacity,
      ...(rack === undefined ? {} : { rack }),
      ...(incarnation === undefined ? {} : { incarnation }),
      ...(since === undefined ? {} : { since }),
    }, o.clock.monotonic());
    this.#joined = this.#seeds().length === 0;
  }

  get id(): string {
    return this.#id;
  }
  /** True once this node has exchanged tables with another member (or has no seeds to join through). */
  get joined(): boolean {
    return this.#joined;
  }
  get table(): MemberTable {
    return this.#table;
  }

  /** Registers the mesh handlers, contacts the seeds and starts the rounds at a random phase. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const m = this.#o.mesh;
    this.#unregister.push(
      m.onRequest("ping", () => ({ id: this.#id, incarnation: this.#table.get(this.#id)!.incarnation })),
      m.onRequest("pingReq", (body) => answerPingReq(this.#o.mesh, this.#id, body, this.settings.probeTimeoutMs)),
      m.onRequest("sync", (body, from) => {
        if (!this.#absorb(body, from.nodeId)) {
          throw new MeshkvError(
            "PROTOCOL_ERROR",
            "Malformed sync body: expected { members } with valid member records",
          );
        }
        return { members: ms.digest(this.#table) };
      }),
      m.onMessage("gossip", (body, from) => this.#absorb(body, from.nodeId)),
    );
    this.#contactSeeds();
    const first = Math.floor(this.#o.random.next() * this.settings.gossipIntervalMs);
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = this.#o.clock.setInterval(() => this.#round(), this.settings.gossipIntervalMs);
      this.#round();
    }, first);
  }

  /** Stops rounds and handlers without telling anyone (a crash, or the last step of `leave`). */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) {
      this.#o.clock.clearTimeout(this.#timer);
      this.#o.clock.clearInterval(this.#timer);
    }
    this.#timer = undefined;
    for (const u of this.#unregister.splice(0)) u();
  }

  /** Marks this node `left`, pushes that to live members (waiting up to one probe deadline), then stops. */
  async leave(): Promise<void> {
    if (!this.#running) return;
    this.#apply(ms.leave(this.#table, this.#id, this.#o.clock.monotonic()));
    const payload = { members: ms.digest(this.#table) };
    const targets = pick(this.#liveOthers(), this.settings.fanout * 2, this.#o.random);
    await Promise.allSettled(
      targets.map((t) => this.#o.mesh.request(t, "sync", payload, { timeoutMs: this.settings.probeTimeoutMs })),
    );
    this.stop();
  }

  /**
   * Marks member `id` removed (an operator's `POST /v1/admin/remove` of a dead node; the caller checks it is not
   * this node and not alive) and pushes that to every live member, waiting up to one probe deadline; gossip
   * spreads it further. `removed` wins every merge, so the member can never rejoin under that id.
   */
  async remove(id: string): Promise<void> {
    if (id === this.#id) throw new RangeError("A node cannot remove itself: use leave");
    this.#apply(ms.remove(this.#table, id, this.#o.clock.monotonic()));
    const payload = { members: ms.digest(this.#table) };
    await Promise.allSettled(
      this.#liveOthers().map((t) =>
        this.#o.mesh.request(t, "sync", payload, { timeoutMs: this.settings.probeTimeoutMs })
      ),
    );
  }

  /** True once this node learned that an operator removed it from the cluster: it must stop. */
  get removed(): boolean {
    return this.#table.get(this.#id)?.status === "removed";
  }

  /** Observes member changes; returns a function that stops observing. */
  on(listener: (e: MemberEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every member as the admin API shows it (`core/membership.ts` `memberViews`). */
  members(): ms.MemberView[] {
    return ms.memberViews(this.#table, this.#id, this.#o.clock.monotonic());
  }

  #seeds(): string[] {
    return [...new Set([...(this.#o.seeds ?? []), ...this.#added])].filter((s) => s !== this.#o.self.address);
  }

  /** Adds seeds at run time (`POST /v1/admin/join`) and contacts them now; the rounds keep trying them. */
  join(seeds: readonly string[]): void {
    for (const s of seeds) if (this.#added.size < SEEDS_ADDED_MAX) this.#added.add(s);
    this.#contactSeeds();
  }

  #liveOthers(): string[] {
    return [...this.#table.values()].filter((m) => m.id !== this.#id && LIVE.has(m.status)).map((m) => m.id);
  }

  #round(): void {
    if (!this.#running) return;
    this.stats.rounds++;
    const clock = this.#o.clock;
    const now = clock.monotonic();
    const probes = this.#probes;
    this.#probes = new Map();
    const d = ms.decide(
      ms.tick(this.#table, this.#id, now),
      this.#id,
      now,
      { suspicionMs: this.settings.suspicionMs },
      probes,
    );
    this.#apply(d.table);
    for (const id of d.probeIndirectly) if (!this.#probing.has(id)) this.#probe(id);
    const targets = pick(this.#liveOthers(), this.settings.fanout, this.#o.random);
    const down = [...this.#table.values()].filter((m) =>
      m.status === "down" && now - m.statusChangedAt < this.settings.downGossipMs
    ).map((m) => m.id);
    targets.push(...pick(down, 1, this.#o.random));
    const payload = { members: ms.digest(this.#table) };
    for (const t of targets) {
      this.stats.digestsSent++;
      this.#o.mesh.send(t, "gossip", payload).catch(() => {});
    }
    if (!this.#joined || this.#liveOthers().length === 0) this.#contactSeeds();
  }

  #probe(id: string): void {
    this.#probing.add(id);
    this.stats.probes++;
    const helpers = pick(this.#liveOthers().filter((h) => h !== id), this.settings.indirectProbes, this.#o.random);
    void probe(this.#o.mesh, id, helpers, this.settings.probeTimeoutMs).then((reached) => {
      this.#probing.delete(id);
      if (this.#running) this.#probes.set(id, { indirect: reached ? "ok" : "failed" });
    });
  }

  #contactSeeds(): void {
    const { mesh } = this.#o;
    for (const seed of this.#seeds()) {
      if (this.#seedsBusy.has(seed)) continue;
      this.#seedsBusy.add(seed);
      this.#addressesOf(seed)
        .then((targets) =>
          Promise.all(targets.map((target) =>
            mesh.connect(target)
              .then((peer) =>
                mesh.request(peer, "sync", { members: ms.digest(this.#table) }, {
                  timeoutMs: this.settings.probeTimeoutMs * 2,
                }).then((reply) => {
                  this.#absorb(reply, peer);
                })
              )
              .catch((err: Error) => this.#o.log?.("debug", `Seed ${target} not reachable: ${err.message}`))
          ))
        )
        .finally(() => this.#seedsBusy.delete(seed));
    }
  }

  /** The `host:port` targets of a seed (`seed_addresses.ts`); alone behind its own name, a node starts a cluster. */
  async #addressesOf(seed: string): Promise<string[]> {
    const r = await seedTargets(seed, this.#o.self.address, this.#o.resolve, this.#o.log);
    if (r.alone && !this.#joined) {
      this.#joined = true;
      this.#o.log?.(
        "info",
        `Seed ${seed} resolves to this node alone: starting a cluster of its own, and looking for peers there while alone`,
      );
    }
    return r.targets;
  }

  /** Merges a digest from a peer (untrusted input: a malformed one is dropped with a log line); false if dropped. */
  #absorb(body: unknown, from: string): boolean {
    if (!this.#running) return true;
    const members = (body as { members?: unknown } | null)?.members;
    let infos: MemberInfo[];
    try {
      if (!Array.isArray(members) || members.length > ms.MEMBERS_MAX) {
        throw new MeshkvError("PROTOCOL_ERROR", "Gossip digest must be an array of at most MEMBERS_MAX members");
      }
      infos = members.map(ms.validateMember);
      this.#apply(ms.mergeTables(this.#table, infos, this.#o.clock.monotonic(), this.#id));
    } catch (err) {
      this.#o.log?.("warn", `Dropped gossip from ${from}: ${(err as Error).message}`);
      return false;
    }
    this.stats.digestsReceived++;
    if (infos.some((m) => m.id !== this.#id)) this.#joined = true;
    return true;
  }

  #apply(next: MemberTable): void {
    const prev = this.#table;
    this.#table = next;
    const at = this.#o.clock.monotonic();
    for (const m of next.values()) {
      const old = prev.get(m.id);
      if (m.id !== this.#id && (!old || old.address !== m.address)) this.#o.mesh.setAddress(m.id, m.address);
      let type: MemberEventType | null = null;
      if (!old) type = LIVE.has(m.status) && m.id !== this.#id ? "joined" : null;
      else if (old.status !== m.status) type = m.status;
      if (type) {
        const e: MemberEvent = { type, member: ms.toInfo(m), at };
        for (const l of this.#listeners) l(e);
      }
    }
    // This node was removed from the cluster (a restarted process of a node an operator removed): it takes no
    // part any more; listeners saw the event (the CLI exits with a message saying so).
    if (this.#running && next.get(this.#id)?.status === "removed") this.stop();
  }
}
