/**
 * Log records: encoding a batch of operations (or a partition drop) into one framed write-ahead log record,
 * and decoding it back into records for the memtable.
 *
 * Batch payload: `type u8 | seq u64 | count u32 | op*`, where each op is a table-style entry without its
 * sequence number (op `i` has sequence `seq + i`). Drop payload: `type u8 | seq u64 | partition u16`.
 * The frame's header is filled in by `sealFrame`, and memtable records point straight into the frame, so a
 * batch costs one buffer however many operations it holds.
 */
import { Slabs } from "../core/_bytes.ts";
import { readU32, readU64, writeU32, writeU64, writeVarint } from "./_bytes.ts";
import { corruption } from "./_corruption.ts";
import { ENTRY_FLAG, WAL_FRAME_HEADER_BYTES, WAL_RECORD } from "./_format.ts";
import { decodeRec, encodedSize, Rec, type RecFields } from "./_record.ts";
import type { MemtablePool } from "./memtable.ts";
import { sealFrame } from "./wal.ts";

const BATCH_HEADER_BYTES = 13;

/**
 * Frames up to 32 KiB (a batch of 100 small puts is about 13 KiB) are carved out of shared 256 KiB slabs
 * (`Slabs`) instead of each getting its own `ArrayBuffer`: a write then costs a view, not an allocation with its
 * own backing store, and a slab is freed once the log has written all its frames.
 */
const frames = new Slabs(256 * 1024, 32 * 1024);

/**
 * Encodes ops as one frame (copying their bytes, so the caller may reuse its buffers at once); `recs` receives
 * one record per op pointing into the frame (`Rec` objects reused from `pool` when it has some). The frame is sealed later by `stampBatch`, once the batch has its
 * sequence number.
 */
export function encodeBatch(ops: readonly RecFields[], recs: Rec[], pool: MemtablePool | null = null): Uint8Array {
  let size = WAL_FRAME_HEADER_BYTES + BATCH_HEADER_BYTES;
  for (const op of ops) size += encodedSize(op, null);
  const frame = frames.alloc(size);
  let pos = WAL_FRAME_HEADER_BYTES;
  frame[pos] = WAL_RECORD.batch;
  writeU32(frame, pos + 9, ops.length);
  pos += BATCH_HEADER_BYTES;
  for (let i = 0; i < ops.length; i++) {
    const r = pool?.takeRec() ?? new Rec();
    pos = encodeOp(frame, pos, ops[i]!, r);
    recs.push(r);
  }
  return frame;
}

/**
 * Encodes one op as a log entry (the entry encoding of `_record.ts` without a sequence number) and points `r`
 * at what it wrote: what `decodeRec` would find there, without reading it back.
 */
function encodeOp(buf: Uint8Array, pos: number, f: RecFields, r: Rec): number {
  const ikey = f.ikey;
  pos = writeVarint(buf, pos, ikey.length);
  buf.set(ikey, pos);
  r.buf = buf;
  r.entryStart = -1;
  r.keyStart = pos;
  pos += ikey.length;
  r.keyEnd = pos;
  r.seq = 0;
  r.flags = f.flags;
  buf[pos++] = f.flags;
  r.expiresAt = 0;
  if (f.flags & ENTRY_FLAG.expires) {
    writeU64(buf, pos, f.expiresAt);
    r.expiresAt = f.expiresAt;
    pos += 8;
  }
  r.metaStart = r.metaEnd = pos;
  if (f.flags & ENTRY_FLAG.meta) {
    pos = writeVarint(buf, pos, f.meta.length);
    buf.set(f.meta, pos);
    r.metaStart = pos;
    pos += f.meta.length;
    r.metaEnd = pos;
  }
  pos = writeVarint(buf, pos, f.value.length);
  buf.set(f.value, pos);
  r.valueStart = pos;
  pos += f.value.length;
  r.valueEnd = pos;
  return pos;
}

/** Gives the batch its first sequence number and seals the frame. */
export function stampBatch(frame: Uint8Array, seq: number, recs: readonly Rec[]): Uint8Array {
  writeU64(frame, WAL_FRAME_HEADER_BYTES + 1, seq);
  for (let i = 0; i < recs.length; i++) recs[i]!.seq = seq + i;
  return sealFrame(frame);
}

export function encodeDrop(partition: number, seq: number): Uint8Array {
  const frame = new Uint8Array(WAL_FRAME_HEADER_BYTES + 11);
  const pos = WAL_FRAME_HEADER_BYTES;
  frame[pos] = WAL_RECORD.dropPartition;
  writeU64(frame, pos + 1, seq);
  frame[pos + 9] = partition >>> 8;
  frame[pos + 10] = partition & 0xff;
  return sealFrame(frame);
}

export type LogRecord =
  | { type: "batch"; seq: number; recs: Rec[]; sizes: number[] }
  | { type: "drop"; seq: number; partition: number };

/** Decodes a verified log payload; throws CORRUPTION (file, offset) when it does not parse. */
export function decodeLogRecord(payload: Uint8Array, file: string, offset: number): LogRecord {
  const type = payload[0];
  if (type === WAL_RECORD.dropPartition && payload.length === 11) {
    return { type: "drop", seq: readU64(payload, 1), partition: (payload[9]! << 8) | payload[10]! };
  }
  if (type !== WAL_RECORD.batch || payload.length < BATCH_HEADER_BYTES) {
    throw corruption(`Write-ahead log record has unknown type ${String(type)}`, file, offset);
  }
  const seq = readU64(payload, 1);
  const count = readU32(payload, 9);
  const recs: Rec[] = [];
  const sizes: number[] = [];
  let pos = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const r = new Rec();
    const end = decodeRec(payload, pos, payload.length, r, false);
    if (end < 0) throw corruption("Write-ahead log batch does not decode", file, offset + WAL_FRAME_HEADER_BYTES + pos);
    r.seq = seq + i;
    recs.push(r);
    sizes.push(end - pos);
    pos = end;
  }
  if (pos !== payload.length) throw corruption("Write-ahead log batch has trailing bytes", file, offset);
  return { type: "batch", seq, recs, sizes };
}
