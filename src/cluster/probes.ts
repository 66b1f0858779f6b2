/**
 * SWIM's probes (Das, Gupta and Motivala 2002), as gossip runs them for a suspect: a direct `ping` and, in
 * parallel, `pingReq` through a few helpers that ping it on our behalf; the suspect is reachable if any of them
 * reached it. The answering side of `pingReq` is here too. The decision (suspect, down) is `core/membership.ts`.
 */
import { MeshkvError } from "../errors.ts";
import type { Mesh } from "../mesh/mesh.ts";
import type { Random } from "../runtime/types.ts";

/** Whether `id` answered a direct ping or a helper's; `probeTimeoutMs` per ping, twice that through a helper. */
export async function probe(
  mesh: Mesh,
  id: string,
  helpers: readonly string[],
  probeTimeoutMs: number,
): Promise<boolean> {
  const attempts = [
    mesh.request(id, "ping", null, { timeoutMs: probeTimeoutMs }).then(() => true, () => false),
    ...helpers.map((h) =>
      mesh.request(h, "pingReq", { target: id }, { timeoutMs: 2 * probeTimeoutMs }).then(
        (r) => (r as { ok?: unknown })?.ok === true,
        () => false,
      )
    ),
  ];
  return (await Promise.all(attempts)).some(Boolean);
}

/** Answers a peer's `pingReq {target}`: pings the target on its behalf. */
export async function answerPingReq(
  mesh: Mesh,
  selfId: string,
  body: unknown,
  probeTimeoutMs: number,
): Promise<{ ok: boolean }> {
  const target = (body as { target?: unknown } | null)?.target;
  if (typeof target !== "string" || target === "" || target.length > 128) {
    throw new MeshkvError("INVALID_ARGUMENT", "pingReq needs a target node id");
  }
  if (target === selfId) return { ok: true };
  try {
    await mesh.request(target, "ping", null, { timeoutMs: probeTimeoutMs });
    return { ok: true };
  } catch {
    return { ok: false };
  }
}

/** Up to `n` distinct random elements of `from` (partial Fisher-Yates on a copy). */
export function pick(from: readonly string[], n: number, random: Random): string[] {
  const a = [...from];
  const k = Math.min(n, a.length);
  for (let i = 0; i < k; i++) {
    const j = i + random.int(a.length - i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, k);
}
