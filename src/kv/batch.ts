/**
 * `POST /v1/batch` on any backend: the ops of one batch apply in order, each atomic on its key, the batch as a
 * whole not atomic across keys (docs/api.md). Each op is finished (at its level) before the next starts, so an
 * op sees every op before it and other clients (readers, watchers) see them land in batch order. Ops on
 * different keys could overlap without changing any result, but not without changing what observers see, so
 * they do not: a batch costs the sum of its ops' round trips, bounded by `batchOpsMax`.
 */
import type { BatchOp, BatchResult, KvBackend } from "./backend.ts";

export async function runInOrder(
  backend: Pick<KvBackend, "get" | "put" | "delete">,
  ops: readonly BatchOp[],
): Promise<BatchResult[]> {
  const out: BatchResult[] = [];
  for (const op of ops) {
    try {
      if (op.type === "get") out.push({ type: "get", ok: true, result: await backend.get(op.key, op.options) });
      else if (op.type === "put") {
        out.push({ type: "put", ok: true, result: await backend.put(op.key, op.value, op.options) });
      } else out.push({ type: "delete", ok: true, result: await backend.delete(op.key, op.options) });
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      out.push({ type: op.type, ok: false, error });
    }
  }
  return out;
}
