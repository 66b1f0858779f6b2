/**
 * The mesh's API vocabulary (`mesh.ts` re-exports it): how a mesh is configured, who sent a message, the
 * handlers the cluster layer registers, and what a link reports about itself.
 */
import type { Random, Runtime } from "../runtime/types.ts";
import type { Authenticator } from "./auth.ts";
import type { Role } from "./kinds.ts";
import type { Logger } from "./link.ts";
import type { RegionDelays } from "./regions.ts";
import type { MeshSettings } from "./settings.ts";

export interface MeshOptions {
  nodeId: string;
  cluster: string;
  /** The cluster secret; ignored when `auth` is given. */
  secret?: string;
  /** How proofs are computed (default: Web Crypto HMAC-SHA-256 with `secret`). */
  auth?: Authenticator;
  datacenter: string;
  /** `host:port` peers dial to reach this node; may be set later with `setSelfAddress`. */
  address?: string;
  runtime: Pick<Runtime, "clock" | "dial" | "dialTcp">;
  random: Random;
  settings?: Partial<MeshSettings>;
  /** Dial `wss://` instead of `ws://`. */
  tls?: boolean;
  /** With `tls`: a CA certificate (PEM) peers' certificates are checked against besides the system's. */
  ca?: string;
  /** Emulated one-way delays between datacenters (see `regions.ts`). */
  regionDelays?: RegionDelays;
  log?: Logger;
}

/** Who sent a request or message. */
export interface Sender {
  nodeId: string;
  datacenter: string;
}
export type RequestHandler = (body: unknown, from: Sender) => unknown;
export type MessageHandler = (body: unknown, from: Sender) => void;

export interface LinkStatus {
  peer: string;
  address: string;
  datacenter: string;
  role: Role;
  open: boolean;
  inFlight: number;
  queuedBytes: number;
  framesIn: number;
  framesOut: number;
  /** WebSocket messages: a batch frame is one message carrying several frames. */
  socketMessagesIn: number;
  socketMessagesOut: number;
  /** Whether frames to this peer are gathered into batch frames (the peer reads them, and batching is on). */
  batching: boolean;
  /** What carries the link: a WebSocket on the HTTP port, or the plain-TCP mesh port. */
  transport: "websocket" | "tcp";
}

export type LinkEvent = { type: "up" | "down"; peer: string };
