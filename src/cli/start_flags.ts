/**
 * The flags of `meshkv start` (and of a config file, keyed by their long names): one table drives parsing,
 * validation and `--help` (`args.ts`), so every flag is documented by construction. `start.ts` turns the
 * values into a node.
 */
import type { FlagTable } from "./args.ts";
import { DEFAULTS as STORAGE_DEFAULTS } from "../storage/options.ts";

export const START_FLAGS: FlagTable = {
  id: {
    type: "string",
    description: "Node id, unique in the cluster; stored in the data directory on first start (default: generated)",
  },
  host: { type: "string", description: "Address to listen on", default: "127.0.0.1" },
  port: {
    type: "int",
    description: "Port for the client API and the mesh (0 picks a free one)",
    default: 7400,
    min: 0,
    max: 65535,
  },
  data: { type: "string", description: "Data directory (created if missing)", default: "./data/node" },
  seeds: {
    type: "list",
    description:
      "Comma-separated host:port of nodes to join through (none: start a new cluster); a host name is resolved to every address it has, each time, so one headless Kubernetes Service name reaches every pod",
  },
  secret: {
    type: "string",
    description: "Cluster secret every node must share (default: $MESHKV_SECRET, else an insecure development secret)",
  },
  cluster: { type: "string", description: "Cluster name; nodes of other clusters are refused", default: "meshkv" },
  datacenter: { type: "string", description: "Datacenter (region) of this node", default: "dc1" },
  rack: { type: "string", description: "Rack or zone inside the datacenter" },
  capacity: {
    type: "int",
    description: "Relative share of partitions this node claims",
    default: 1,
    min: 1,
    max: 10000,
  },
  advertise: {
    type: "string",
    description: "host:port peers dial to reach this node (default: --host and the port listened on)",
  },
  "mesh-port": {
    type: "string",
    description:
      "Port for node-to-node traffic over plain TCP, announced to peers, which move their mesh links to it (less CPU per message than the WebSocket on --port); 0 picks a free one; off listens on no second port (peers reach this node over the WebSocket on --port). Not used with TLS: the mesh stays on wss://",
    default: "0",
  },
  "mesh-preset": {
    type: "string",
    description:
      "Timers of gossip, mesh and replication (src/cluster/presets.ts): default (1 s rounds, 5 s suspicion), fast (100 ms rounds, for tests and local clusters) or wan (longer deadlines and suspicion, for clusters spread over regions)",
    default: "default",
  },
  "region-delays": {
    type: "string",
    description: "Emulated one-way delays between datacenters in ms, e.g. us-east|eu-west=40,us-east|ap-south=90",
  },
  tokens: {
    type: "list",
    description:
      "Client API bearer tokens as scope:token (scope read, write or admin; token 16+ characters), comma-separated (default: $MESHKV_TOKENS; none: loopback only, no auth)",
  },
  durability: {
    type: "string",
    description:
      "When writes reach the disk: always (sync before acknowledging), batch (group commit every few ms) or none",
    default: "batch",
  },
  "sync-interval-ms": {
    type: "int",
    description:
      "With --durability batch: the least time between two log syncs, in ms (writes that arrive meanwhile share the next sync; an idle node syncs at once). Longer: fewer syncs per write under load, more latency",
    default: STORAGE_DEFAULTS.syncIntervalMs,
    min: 0,
    max: 1000,
  },
  compression: {
    type: "string",
    description:
      "Block compression of new tables: none or deflate (smaller files, more CPU per read and flush; tables of either kind read fine)",
    default: "none",
  },
  "cache-bytes": {
    type: "int",
    description: "Block cache arena in bytes (0 turns the cache off)",
    default: 8 * 1024 * 1024,
    min: 0,
    max: 64 * 1024 * 1024 * 1024,
  },
  replicas: {
    type: "int",
    description: "Replicas of every key (N), when --replication is not given",
    default: 3,
    min: 1,
    max: 32,
  },
  replication: {
    type: "string",
    description:
      "Replicas per datacenter instead of --replicas, e.g. us-east:2,eu-west:1 (every node must use the same)",
  },
  partitions: {
    type: "int",
    description:
      "Partitions of the hash ring, a power of two fixed when the cluster is created (every node must use the same)",
    default: 256,
    min: 1,
    max: 65536,
  },
  "read-consistency": {
    type: "string",
    description:
      "Default consistency of reads that ask for none: one, quorum, all, local_one, local_quorum, each_quorum or r=N",
    default: "quorum",
  },
  "write-consistency": {
    type: "string",
    description:
      "Default consistency of writes that ask for none: one, quorum, all, local_one, local_quorum, each_quorum or w=N",
    default: "quorum",
  },
  conflicts: {
    type: "string",
    description:
      "Concurrent writes: siblings (kept for the client to resolve) or lww (last writer wins by hybrid logical clock); every node must use the same",
    default: "siblings",
  },
  keyspaces: {
    type: "list",
    description:
      "Per key-prefix defaults, comma-separated prefix=setting:value;... with settings read and write (a consistency level), conflicts (siblings or lww) and replicas (a count, or dc:count+dc:count), e.g. sessions/=conflicts:lww;write:one;replicas:2 (every node must use the same, in the same order)",
  },
  "memtable-bytes": {
    type: "int",
    description:
      "Tuning: bytes of writes the storage engine buffers in memory before it writes a table (default 8 MiB); small values make flushes and compactions frequent",
    min: 4096,
    max: 1_073_741_824,
  },
  "tombstone-grace-ms": {
    type: "int",
    description:
      "Tuning: how long a delete's tombstone is kept at least (it is purged only after every replica of its partition holds it, whatever this says)",
    default: 3_600_000,
    min: 1,
    max: 2_147_483_647,
  },
  "strict-quorum": {
    type: "bool",
    description:
      "Fail writes with QUORUM_UNMET when replicas are down instead of using fallback nodes with hints (sloppy quorum)",
  },
  "tls-cert": {
    type: "string",
    description:
      "PEM certificate file: serve HTTPS and the mesh over wss:// (with --tls-key; every node of a cluster needs TLS or none)",
  },
  "tls-key": { type: "string", description: "PEM private key file for --tls-cert" },
  "tls-ca": {
    type: "string",
    description:
      "PEM CA file to trust when dialing peers over wss://, besides the system's (on Deno set DENO_CERT to it instead)",
  },
  "leave-on-shutdown": {
    type: "bool",
    description:
      "On SIGTERM, hand this node's data off and leave the cluster (as meshkv cluster leave) before exiting 0, instead of stopping as a temporary absence; a second SIGTERM or --drain-timeout-ms exits at once with status 1 (see docs/cluster.md)",
  },
  "drain-timeout-ms": {
    type: "int",
    description:
      "With --leave-on-shutdown: longest wait for the hand-off after SIGTERM (keep it below the orchestrator's grace period, e.g. Kubernetes terminationGracePeriodSeconds)",
    default: 60_000,
    min: 1,
    max: 86_400_000,
  },
  "body-deadline-ms": {
    type: "int",
    description:
      "Tuning knob: a request body must be complete this long after the route starts reading it (408 BODY_TIMEOUT otherwise)",
    default: 60_000,
    min: 1,
    max: 3_600_000,
  },
  "body-rate-bytes-per-sec-min": {
    type: "int",
    description:
      "Tuning knob: bytes per second a request body must average after --body-rate-grace-ms (408 BODY_TIMEOUT otherwise)",
    default: 1024,
    min: 1,
    max: 1_073_741_824,
  },
  "body-rate-grace-ms": {
    type: "int",
    description: "Tuning knob: the start of a request body that --body-rate-bytes-per-sec-min does not judge",
    default: 10_000,
    min: 0,
    max: 3_600_000,
  },
  help: { type: "bool", description: "Show this help" },
};

/** Reads `--tls-cert`, `--tls-key` and `--tls-ca` through the runtime's files; null without TLS. */
