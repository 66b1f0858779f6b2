/**
 * Request metrics in Prometheus text exposition format (version 0.0.4): a counter of requests and a latency
 * histogram per operation and consistency level, the status class on the counter, quorum failures, and
 * whatever gauges and counters the backend adds (storage, hints, anti-entropy). Label values come from small
 * closed sets (route names, parsed levels, statuses), so the series count stays bounded.
 */
import type { MetricSample } from "../kv/backend.ts";

/** Latency bucket bounds in seconds (Prometheus client defaults plus 1 ms and 2.5 ms for memtable hits). */
export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export class Metrics {
  #requests = new Map<string, number>();
  #latency = new Map<string, Histogram>();
  #quorumFailures = new Map<string, number>();
  /** The two label strings of each (op, level, status) seen, made once (the sets are closed, see above). */
  #labelsOf = new Map<string, readonly [string, string]>();

  /** Records one finished request. `level` is the parsed level's text, or `default`. */
  observe(op: string, level: string, status: number, seconds: number): void {
    const id = `${op}\n${level}\n${status}`;
    let l = this.#labelsOf.get(id);
    if (l === undefined) {
      l = [labels({ op, level, status: String(status) }), labels({ op, level })];
      this.#labelsOf.set(id, l);
    }
    const [key, hkey] = l;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    let h = this.#latency.get(hkey);
    if (!h) this.#latency.set(hkey, h = { counts: LATENCY_BUCKETS_S.map(() => 0), sum: 0, count: 0 });
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) if (seconds <= LATENCY_BUCKETS_S[i]!) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  quorumFailure(op: string): void {
    const key = labels({ op });
    this.#quorumFailures.set(key, (this.#quorumFailures.get(key) ?? 0) + 1);
  }

  /** The exposition text, with `extra` samples from the backend appended. */
  render(extra: readonly MetricSample[] = []): string {
    const out: string[] = [];
    out.push("# HELP meshkv_http_requests_total Client API requests by operation, consistency level and status");
    out.push("# TYPE meshkv_http_requests_total counter");
    for (const [k, v] of this.#requests) out.push(`meshkv_http_requests_total{${k}} ${v}`);
    out.push(
      "# HELP meshkv_http_request_duration_seconds Client API request latency by operation and consistency level",
    );
    out.push("# TYPE meshkv_http_request_duration_seconds histogram");
    for (const [k, h] of this.#latency) {
      LATENCY_BUCKETS_S.forEach((le, i) =>
        out.push(`meshkv_http_request_duration_seconds_bucket{${k},le="${le}"} ${h.counts[i]}`)
      );
      out.push(`meshkv_http_request_duration_seconds_bucket{${k},le="+Inf"} ${h.count}`);
      out.push(`meshkv_http_request_duration_seconds_sum{${k}} ${h.sum}`);
      out.push(`meshkv_http_request_duration_seconds_count{${k}} ${h.count}`);
    }
    out.push("# HELP meshkv_quorum_failures_total Requests that failed because too few replicas answered");
    out.push("# TYPE meshkv_quorum_failures_total counter");
    for (const [k, v] of this.#quorumFailures) out.push(`meshkv_quorum_failures_total{${k}} ${v}`);
    const seen = new Set<string>();
    for (const s of extra) {
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(s.name)) continue;
      if (!seen.has(s.name)) {
        seen.add(s.name);
        out.push(`# HELP ${s.name} ${s.help.replace(/\n/g, " ")}`);
        out.push(`# TYPE ${s.name} ${s.type}`);
      }
      const l = s.labels && Object.keys(s.labels).length > 0 ? `{${labels(s.labels)}}` : "";
      out.push(`${s.name}${l} ${Number.isFinite(s.value) ? s.value : "NaN"}`);
    }
    return out.join("\n") + "\n";
  }
}

function labels(values: Readonly<Record<string, string>>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");
}
