/**
 * Field readers for replication messages: each reads one field of a message body and checks its type and
 * bounds, answering a bad one with `PROTOCOL_ERROR` (never a crash: a peer is authenticated, but a newer or
 * buggy one may still send something unexpected). The messages themselves are described in `kv_protocol.ts`
 * (kv*) and `_ae_wire.ts` (ae*).
 */
import type { VersionVector } from "../core/version.ts";
import { MeshkvError } from "../errors.ts";
import type { WireItem } from "./replica.ts";

export function protocolError(what: string): MeshkvError {
  return new MeshkvError("PROTOCOL_ERROR", `Malformed replication message: ${what}`);
}

export function obj(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw protocolError(`${what} is not an object`);
  return body as Record<string, unknown>;
}

export function str(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (typeof v !== "string") throw protocolError(`${field} is not a string`);
  return v;
}

export function optStr(o: Record<string, unknown>, field: string): string | null {
  const v = o[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw protocolError(`${field} is not a string`);
  return v;
}

export function int(o: Record<string, unknown>, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw protocolError(`${field} is not an integer from ${min} to ${max}`);
  }
  return v;
}

export function optNum(o: Record<string, unknown>, field: string): number | null {
  const v = o[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== "number" || !Number.isFinite(v)) throw protocolError(`${field} is not a number`);
  return v;
}

export function bytes(o: Record<string, unknown>, field: string): Uint8Array {
  const v = o[field];
  if (!(v instanceof Uint8Array)) throw protocolError(`${field} is not bytes`);
  return v;
}

export function bool(o: Record<string, unknown>, field: string): boolean {
  return o[field] === true;
}

export function partition(o: Record<string, unknown>, partitions: number): number {
  return int(o, "p", 0, partitions - 1);
}

export function item(body: unknown, partitions: number): WireItem {
  const o = obj(body, "item");
  return { p: partition(o, partitions), key: str(o, "key"), set: bytes(o, "set"), exp: optNum(o, "exp") };
}

export function items(o: Record<string, unknown>, field: string, partitions: number, max: number): WireItem[] {
  const v = o[field];
  if (!Array.isArray(v) || v.length > max) throw protocolError(`${field} is not a list of at most ${max}`);
  return v.map((x) => item(x, partitions));
}

/** A version vector as `[[node, counter], ...]` on the wire. */
export function vvToWire(vv: VersionVector): [string, number][] {
  return vv.map((e) => [e.node, e.counter]);
}

export function vvFromWire(v: unknown): VersionVector {
  if (!Array.isArray(v)) throw protocolError("context is not a list");
  return v.map((e) => {
    if (
      !Array.isArray(e) || typeof e[0] !== "string" || typeof e[1] !== "number" || !Number.isInteger(e[1]) || e[1] < 1
    ) {
      throw protocolError("context entry is not [node, counter]");
    }
    return { node: e[0], counter: e[1] };
  });
}
