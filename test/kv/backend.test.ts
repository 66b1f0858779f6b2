/**
 * The `KvBackend` conformance suite run against the backend `meshkv start` serves (`ClusterBackend`), as one
 * node (N = 1) and as three nodes (N = 3, quorum) of the simulated cluster, with the manual clock.
 */
import { SimCluster } from "../../src/testing/sim_cluster.ts";
import { drive, kvCluster } from "../cluster/_kv_sim.ts";
import { backendSuite, type BackendTarget } from "./_backend_suite.ts";

function target(c: SimCluster, peer: string | null): BackendTarget {
  return {
    backend: c.kv("n01"),
    peer: peer === null ? null : c.kv(peer),
    run: (p) => drive(c, p),
    advance: (ms) => c.run(ms),
    now: () => c.clock.now(),
    close: () => c.stopAll(),
  };
}

const keyspaces = [{ prefix: "lww/", conflicts: "lww" as const }];

backendSuite(
  "one node of the simulated cluster (N = 1)",
  async () => target(await kvCluster(11, { size: 1, replication: { n: 1, keyspaces } }), null),
).run();
backendSuite(
  "three nodes of the simulated cluster (N = 3)",
  async () => target(await kvCluster(12, { size: 3, replication: { n: 3, keyspaces } }), "n02"),
).run();
