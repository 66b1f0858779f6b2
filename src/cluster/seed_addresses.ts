/**
 * Where to reach a seed: each address its host name resolves to (a headless Kubernetes Service names every pod),
 * without this node's own. Resolved again on every contact, so pods that come and go are found.
 */
import type { Logger } from "../mesh/link.ts";

/** Addresses of one seed name contacted per round (a Service over more pods still reaches the cluster). */
export const SEED_ADDRESSES_MAX = 64;

const HOST_PORT = /^([^[\]:]+):(\d{1,5})$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The `host:port` targets of `seed`; the seed as given when it is an IP literal, there is no resolver, or
 * resolving fails. `alone` is true when the name resolves to this node only (the first pod behind a Service).
 */
export async function seedTargets(
  seed: string,
  selfAddress: string,
  resolve: ((host: string) => Promise<string[]>) | undefined,
  log?: Logger,
): Promise<{ targets: string[]; alone: boolean }> {
  const m = HOST_PORT.exec(seed);
  if (!resolve || !m || IPV4.test(m[1]!)) return { targets: [seed], alone: false };
  let found: string[];
  try {
    found = [...new Set(await resolve(m[1]!))].slice(0, SEED_ADDRESSES_MAX);
  } catch (err) {
    log?.("debug", `Seed ${seed}: ${m[1]} did not resolve (${(err as Error).message}): dialling it as given`);
    return { targets: [seed], alone: false };
  }
  if (found.length === 0) return { targets: [seed], alone: false };
  const self = await ownAddresses(selfAddress, resolve);
  const targets = found.map((a) => (a.includes(":") ? `[${a}]:${m[2]}` : `${a}:${m[2]}`)).filter((t) => !self.has(t));
  return { targets, alone: targets.length === 0 };
}

/** This node's address, and the addresses its host resolves to when it advertises a name (`<pod>.meshkv:7400`). */
async function ownAddresses(address: string, resolve: (host: string) => Promise<string[]>): Promise<Set<string>> {
  const own = new Set([address]);
  const m = HOST_PORT.exec(address);
  if (!m || IPV4.test(m[1]!)) return own;
  try {
    for (const a of await resolve(m[1]!)) own.add(a.includes(":") ? `[${a}]:${m[2]}` : `${a}:${m[2]}`);
  } catch {
    // Unresolvable: only the address as given is this node's.
  }
  return own;
}
