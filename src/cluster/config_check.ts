/**
 * Replication settings check: every node of a cluster must place keys the same way (`--partitions`,
 * `--replicas`/`--replication`, `--conflicts`, the keyspaces with their replica counts, in order), but each node
 * takes them from its own flags. This loop asks each alive peer once per incarnation for its settings'
 * signature (`kvConfig {} -> { signature }`) and keeps the ones that differ from this node's, for
 * `/v1/admin/status` (`configMismatches`) and the `meshkv_config_mismatches` metric. It only reports: which side
 * is right cannot be told from here, and stopping every node because one was started with other flags would
 * turn one operator mistake into an outage.
 */
import type { MemberTable } from "../core/membership.ts";
import type { Mesh } from "../mesh/mesh.ts";
import type { Clock, TimerHandle } from "../runtime/types.ts";
import { obj, str } from "./_wire.ts";

export interface ConfigCheckOptions {
  nodeId: string;
  mesh: Mesh;
  clock: Clock;
  /** This node's settings, as one string (`RingView.signature`). */
  signature: string;
  members(): MemberTable;
  intervalMs: number;
  replicaTimeoutMs: number;
}

export interface ConfigMismatch {
  readonly node: string;
  readonly theirs: string;
}

export class ConfigCheck {
  readonly #o: ConfigCheckOptions;
  /** `id@incarnation` of the peers checked (whatever they answered). */
  readonly #checked = new Set<string>();
  readonly #mismatch = new Map<string, string>();
  #timer: TimerHandle | null = null;
  #unregister: (() => void) | null = null;
  #busy = false;

  constructor(o: ConfigCheckOptions) {
    this.#o = o;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#unregister = this.#o.mesh.onRequest("kvConfig", () => ({ signature: this.#o.signature }));
    this.#timer = this.#o.clock.setInterval(() => void this.#round(), this.#o.intervalMs);
  }

  stop(): void {
    if (this.#timer !== null) this.#o.clock.clearInterval(this.#timer);
    this.#timer = null;
    this.#unregister?.();
    this.#unregister = null;
  }

  mismatches(): ConfigMismatch[] {
    return [...this.#mismatch].map(([node, theirs]) => ({ node, theirs }));
  }

  async #round(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (const m of this.#o.members().values()) {
        if (m.id === this.#o.nodeId) continue;
        if (m.status === "left" || m.status === "removed") this.#mismatch.delete(m.id);
        const tag = `${m.id}@${m.incarnation}`;
        if (m.status !== "alive" || this.#checked.has(tag)) continue;
        try {
          const reply = obj(
            await this.#o.mesh.request(m.id, "kvConfig", {}, { timeoutMs: this.#o.replicaTimeoutMs }),
            "kvConfig reply",
          );
          const theirs = str(reply, "signature");
          if (theirs === this.#o.signature) this.#mismatch.delete(m.id);
          else this.#mismatch.set(m.id, theirs);
          this.#checked.add(tag);
        } catch {
          // Not reachable now (or an older build without kvConfig): asked again next round.
        }
      }
    } finally {
      this.#busy = false;
    }
  }
}
