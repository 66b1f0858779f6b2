// preStop hook of examples/deploy/autoscaling.yaml: leave the cluster only when this pod is being scaled away.
//
// Kubernetes runs this before it sends SIGTERM, and sends SIGTERM for two different reasons: a scale-down (the
// StatefulSet's replicas dropped below this pod's ordinal: the pod will not come back, so its data must be
// handed off first) and a restart (rolling update, eviction: the pod comes back with its volume, so a leave
// would move all its data out and back for nothing). This asks the API server for the StatefulSet's desired
// replicas and, on a scale-down only, asks the node to leave (POST /v1/admin/leave, which answers once the node
// holds nothing). Then kubelet sends SIGTERM and the node stops. Needs the Role in autoscaling.yaml (get
// statefulsets) and NODE_EXTRA_CA_CERTS pointing at the service account's CA.
import { readFileSync } from "node:fs";

const SA = "/var/run/secrets/kubernetes.io/serviceaccount";
const pod = process.env.POD_NAME ?? "";
const set = process.env.STATEFULSET ?? pod.slice(0, pod.lastIndexOf("-"));
const ordinal = Number(pod.slice(pod.lastIndexOf("-") + 1));
const namespace = readFileSync(`${SA}/namespace`, "utf8").trim();
const token = readFileSync(`${SA}/token`, "utf8").trim();

const res = await fetch(`https://kubernetes.default.svc/apis/apps/v1/namespaces/${namespace}/statefulsets/${set}`, {
  headers: { authorization: `Bearer ${token}` },
});
if (!res.ok) {
  console.error(`prestop: cannot read statefulset ${set} (${res.status}): stopping as a temporary absence`);
  process.exit(0);
}
const desired = (await res.json()).spec.replicas;
if (!Number.isInteger(ordinal) || ordinal < desired) {
  console.log(
    `prestop: ${pod} is ordinal ${ordinal} of ${desired} replicas: a restart, not a scale-down; stopping as a temporary absence`,
  );
  process.exit(0);
}
// The admin token from MESHKV_TOKENS (scope:token,...), as the node itself reads it.
const admin = (process.env.MESHKV_TOKENS ?? "").split(",").map((t) => t.trim()).find((t) => t.startsWith("admin:"))
  ?.slice("admin:".length);
console.log(`prestop: ${pod} is ordinal ${ordinal} of ${desired} replicas: scaled away, leaving the cluster`);
const left = await fetch("http://127.0.0.1:7400/v1/admin/leave", {
  method: "POST",
  headers: admin ? { authorization: `Bearer ${admin}` } : {},
});
console.log(`prestop: leave answered ${left.status}: ${await left.text()}`);
