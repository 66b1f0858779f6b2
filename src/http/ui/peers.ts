/**
 * The other members' traffic, for the dashboard's per-node charts. Each node samples only its own requests
 * (`samples.ts`); the dashboard asks the other alive members for theirs at `GET /ui/traffic`, over HTTP at the
 * address gossip gives (the client API and the mesh share one port), with the credential the viewer sent, so
 * a cluster whose nodes share tokens shows every node's charts on any node's page. The fetch runs on the
 * server, not in the browser: no cross-origin requests, no cookie to share between nodes, and the page only
 * ever inserts markup its own node rendered.
 *
 * Bounded: at most `UI_PEERS_MAX` members, each answering within `UI_PEER_TIMEOUT_MS` (on the injected clock)
 * and with at most `UI_PEER_BYTES_MAX` bytes; a member that does not shows as unreachable with the reason.
 */
import type { Clock } from "../../runtime/types.ts";
import type { TrafficSample } from "./samples.ts";
import type { MemberRow } from "./view.ts";

/** Members whose traffic one dashboard view fetches (the rest are listed without charts). */
export const UI_PEERS_MAX = 12;
/** How long a member gets to answer `/ui/traffic`. */
export const UI_PEER_TIMEOUT_MS = 1_000;
/** Largest `/ui/traffic` answer read (72 samples are about 9 KB). */
export const UI_PEER_BYTES_MAX = 64 * 1024;

/** How the app reaches another node over HTTP: `fetch`, or a stand-in in tests; null turns peer charts off. */
export type PeerFetch = (url: string, init: RequestInit) => Promise<Response>;

export interface PeerTraffic {
  id: string;
  traffic: TrafficSample[] | null;
  /** Why there is no traffic (unreachable, refused, malformed). */
  error: string | null;
}

export async function peerTraffic(
  members: readonly MemberRow[],
  selfId: string,
  scheme: string,
  authorization: string | undefined,
  fetchPeer: PeerFetch | null,
  clock: Clock,
): Promise<PeerTraffic[]> {
  if (fetchPeer === null) return [];
  const peers = members.filter((m) => m.id !== selfId && m.status === "alive").slice(0, UI_PEERS_MAX);
  return await Promise.all(peers.map((m) => one(m, scheme, authorization, fetchPeer, clock)));
}

async function one(
  m: MemberRow,
  scheme: string,
  authorization: string | undefined,
  fetchPeer: PeerFetch,
  clock: Clock,
): Promise<PeerTraffic> {
  const abort = new AbortController();
  const timer = clock.setTimeout(
    () => abort.abort(new Error(`no answer in UI_PEER_TIMEOUT_MS ${UI_PEER_TIMEOUT_MS} ms`)),
    UI_PEER_TIMEOUT_MS,
  );
  try {
    const headers: Record<string, string> = { accept: "application/json" };
    if (authorization) headers.authorization = authorization;
    const res = await fetchPeer(`${scheme}//${m.address}/ui/traffic`, { headers, signal: abort.signal });
    const text = await res.text();
    if (!res.ok) return { id: m.id, traffic: null, error: `HTTP ${res.status}` };
    if (text.length > UI_PEER_BYTES_MAX) {
      return { id: m.id, traffic: null, error: `answer over UI_PEER_BYTES_MAX ${UI_PEER_BYTES_MAX} bytes` };
    }
    const body = JSON.parse(text) as { nodeId?: unknown; traffic?: unknown };
    if (body.nodeId !== m.id || !Array.isArray(body.traffic)) {
      return { id: m.id, traffic: null, error: "not that member's traffic" };
    }
    return { id: m.id, traffic: body.traffic.filter(isSample), error: null };
  } catch (e) {
    const reason = abort.signal.aborted ? abort.signal.reason : e;
    return { id: m.id, traffic: null, error: reason instanceof Error ? reason.message : String(reason) };
  } finally {
    clock.clearTimeout(timer);
  }
}

function isSample(s: unknown): s is TrafficSample {
  const r = s as Record<string, unknown> | null;
  const n = (v: unknown) => typeof v === "number" && Number.isFinite(v);
  const nn = (v: unknown) => v === null || n(v);
  return r !== null && typeof r === "object" && n(r.agoMs) && n(r.requests) && n(r.ratePerSec) && nn(r.p50Ms) &&
    nn(r.p99Ms) && n(r.serverErrors) && n(r.clientErrors);
}
