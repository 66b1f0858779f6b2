/**
 * Metric samples the cluster backend adds to `/metrics` (Prometheus text format): the storage engine's counters
 * and gauges, with the helpers that build a sample.
 */
import type { MetricSample } from "../kv/backend.ts";
import type { EngineStats } from "../storage/types.ts";

export const gauge = (name: string, help: string, value: number): MetricSample => ({
  name,
  help,
  type: "gauge",
  value,
});
export const counter = (name: string, help: string, value: number): MetricSample => ({
  name,
  help,
  type: "counter",
  value,
});

/** The storage engine's stats as samples. */
export function storageMetrics(s: EngineStats): MetricSample[] {
  return [
    gauge("meshkv_storage_table_bytes", "Bytes in SSTables", s.tableBytes),
    gauge("meshkv_storage_wal_bytes", "Bytes in write-ahead log segments", s.walBytes),
    gauge("meshkv_storage_memtable_bytes", "Bytes in the active memtable", s.memtableBytes),
    gauge("meshkv_storage_cache_bytes", "Bytes in the block cache", s.cacheBytes),
    counter("meshkv_storage_cache_hits_total", "Block cache hits", s.cacheHits),
    counter("meshkv_storage_cache_misses_total", "Block cache misses", s.cacheMisses),
    counter("meshkv_storage_flushes_total", "Memtable flushes", s.flushes),
    counter("meshkv_storage_compactions_total", "Compactions", s.compactions),
    counter("meshkv_storage_write_stalls_total", "Writes that waited for background work", s.writeStalls),
    counter("meshkv_storage_corruptions_total", "Corrupt blocks or records found", s.corruptions),
  ];
}
