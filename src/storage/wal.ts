/**
 * The write-ahead log: append-only segment files of framed records, group commit, and recovery.
 *
 * Every batch is one record, so a batch is atomic across a crash. A record is framed as
 * `length u32 | masked crc32c(length, payload) u32 | payload` (LevelDB's log format without its 32 KiB
 * blocks). Writers queue their frames; one loop appends everything queued in a single write and, under
 * `always`, shares one sync among them (group commit). The append is synchronous where the file offers it
 * (`appendSync`: a `pwrite` into the page cache, cheaper than the thread pool's round trip); the sync never is.
 * Under `batch` a timer on the injected clock flushes at most every `syncIntervalMs`: it appends everything
 * queued since the last flush in one write, then syncs, and writers are acknowledged after the sync that covers
 * them. So a batch log writes once per sync, not once per writer, and never appends while its own sync is in
 * flight (a `pwrite` into a page the sync is writing back can wait for that I/O, stalling the event loop).
 * Frames waiting for the flush are in memory only, but nobody has been told they are durable. A new segment
 * is started when the memtable is frozen, so a segment can be deleted once every record in it is in a table.
 *
 * Recovery reads segments in order. A frame cut short at the end of a file is a torn write: the file is
 * truncated there and the report says where. A complete frame with a bad checksum is corruption: it is
 * reported (file, offset), skipped, and reading goes on with the next frame.
 */
import { assert } from "../_assert.ts";
import { MeshkvError } from "../errors.ts";
import type { Clock, FileHandle, FileSystem, TimerHandle } from "../runtime/types.ts";
import { readU32, writeU32 } from "./_bytes.ts";
import { corruption } from "./_corruption.ts";
import { crc32c, crc32cUpdate, maskCrc } from "./_crc32c.ts";
import { logName, WAL_FORMAT_VERSION, WAL_FRAME_HEADER_BYTES, WAL_HEADER_BYTES, WAL_MAGIC } from "./_format.ts";
import type { Durability } from "./options.ts";

/** Fills in the frame header of `frame` (whose payload starts at byte 8) and returns it. */
export function sealFrame(frame: Uint8Array): Uint8Array {
  const len = frame.length - WAL_FRAME_HEADER_BYTES;
  assert(len > 0, "A log record has a payload");
  writeU32(frame, 0, len);
  const crc = crc32cUpdate(crc32c(frame, 0, 4), frame, WAL_FRAME_HEADER_BYTES, frame.length);
  writeU32(frame, 4, maskCrc(crc));
  return frame;
}

function segmentHeader(): Uint8Array {
  const h = new Uint8Array(WAL_HEADER_BYTES);
  writeU32(h, 0, WAL_MAGIC);
  writeU32(h, 4, WAL_FORMAT_VERSION);
  writeU32(h, 8, 0);
  writeU32(h, 12, maskCrc(crc32c(h, 0, 12)));
  return h;
}

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** The size of the buffer group writes are gathered in. */
const GROUP_BUFFER_BYTES = 1024 * 1024;

interface Queued {
  frame: Uint8Array;
  maxSeq: number;
  waiter: Waiter | null;
}

export interface Segment {
  number: number;
  maxSeq: number;
  bytes: number;
}

export interface WalWriterOptions {
  fs: FileSystem;
  dir: string;
  clock: Clock;
  durability: Durability;
  syncIntervalMs: number;
  segmentBytes: number;
  newNumber: () => number;
  /** Segments left from before (recovered, not yet flushed): deleted once their records are in tables. */
  segments: Segment[];
}

export class WalWriter {
  #o: WalWriterOptions;
  #file: FileHandle | null = null;
  #current: Segment | null = null;
  #old: Segment[];
  #queue: Queued[] = [];
  #groupBuffer: Uint8Array | null = null;
  #queuedBytes = 0;
  #loop: Promise<void> | null = null;
  #rollRequested = false;
  #unsynced: Waiter[] = [];
  #syncTimer: TimerHandle | null = null;
  /**
   * A `batch` flush (append what is queued, then sync), while it runs. Under `batch` the write loop runs only
   * inside a flush or in `close()` (which waits for the flush first), so no append or roll overlaps a sync.
   */
  #flushing: Promise<void> | null = null;
  #lastSyncMs = -Infinity;
  #error: unknown = null;
  #closed = false;
  bytesWritten = 0;
  syncs = 0;

  constructor(options: WalWriterOptions) {
    this.#o = options;
    this.#old = [...options.segments];
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get error(): unknown {
    return this.#error;
  }

  /** Bytes in all live segments. */
  get bytes(): number {
    let n = this.#current?.bytes ?? 0;
    for (const s of this.#old) n += s.bytes;
    return n;
  }

  /** Creates the first segment. */
  async open(): Promise<void> {
    await this.#startSegment();
  }

  /**
   * Queues a sealed frame holding records up to `maxSeq`. The promise resolves when the record is as durable
   * as the engine's durability promises; with `none` it resolves once the frame is written to the file.
   */
  submit(frame: Uint8Array, maxSeq: number): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#closed) return Promise.reject(new MeshkvError("CLOSED", "The write-ahead log is closed"));
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ frame, maxSeq, waiter: { resolve, reject } });
      this.#queuedBytes += frame.length;
      // Under `batch` the frame waits for the next flush; otherwise it is written now.
      if (this.#o.durability === "batch") this.#scheduleSync();
      else this.#loop ??= this.#run();
    });
  }

  /**
   * Queues a sealed frame without a promise (durability `none`): nobody waits for it, so it costs no promise
   * and no waiter. A write error is kept in `error` and reported to the next writer.
   */
  enqueue(frame: Uint8Array, maxSeq: number): void {
    this.#queue.push({ frame, maxSeq, waiter: null });
    this.#queuedBytes += frame.length;
    this.#loop ??= this.#run();
  }

  /** The next record goes to a new segment (called when the memtable is frozen). */
  requestRoll(): void {
    this.#rollRequested = true;
  }

  /** Deletes old segments whose records are all at or below `flushedSeq` (they are in tables now). */
  async release(flushedSeq: number): Promise<void> {
    const keep: Segment[] = [];
    const drop: Segment[] = [];
    for (const s of this.#old) (s.maxSeq <= flushedSeq ? drop : keep).push(s);
    this.#old = keep;
    for (const s of drop) {
      await this.#o.fs.remove(`${this.#o.dir}/${logName(s.number)}`).catch(() => {});
    }
  }

  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#error) {
        const group = this.#queue;
        this.#queue = [];
        try {
          if (this.#rollRequested || (this.#current !== null && this.#current.bytes >= this.#o.segmentBytes)) {
            this.#rollRequested = false;
            await this.#roll();
          }
        } catch (e) {
          for (const q of group) q.waiter?.reject(e);
          throw e;
        }
        await this.#writeGroup(group);
      }
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#loop = null;
      if (this.#queue.length > 0 && !this.#error) this.#loop = this.#run();
    }
  }

  async #writeGroup(group: Queued[]): Promise<void> {
    let bytes = 0;
    let maxSeq = 0;
    for (const q of group) {
      bytes += q.frame.length;
      if (q.maxSeq > maxSeq) maxSeq = q.maxSeq;
    }
    let data: Uint8Array;
    if (group.length === 1) {
      data = group[0]!.frame;
    } else {
      // One reused buffer for groups up to GROUP_BUFFER_BYTES (the append is awaited before the next group),
      // rather than a new buffer of up to walQueueBytesMax per group write.
      if (bytes <= GROUP_BUFFER_BYTES) {
        this.#groupBuffer ??= new Uint8Array(GROUP_BUFFER_BYTES);
        data = this.#groupBuffer.subarray(0, bytes);
      } else {
        data = new Uint8Array(bytes);
      }
      let at = 0;
      for (const q of group) {
        data.set(q.frame, at);
        at += q.frame.length;
      }
    }
    const file = this.#file;
    const seg = this.#current;
    assert(file !== null && seg !== null, "The log has a current segment");
    try {
      // A small append into the page cache costs less done here than as a trip through the I/O thread pool.
      if ((file.appendSync?.(data) ?? null) === null) await file.append(data);
    } catch (e) {
      for (const q of group) q.waiter?.reject(e);
      throw e;
    }
    this.#queuedBytes -= bytes;
    this.bytesWritten += bytes;
    seg.bytes += bytes;
    if (maxSeq > seg.maxSeq) seg.maxSeq = maxSeq;
    const waiters: Waiter[] = [];
    for (const q of group) if (q.waiter) waiters.push(q.waiter);
    if (this.#o.durability === "none") {
      for (const w of waiters) w.resolve();
    } else if (this.#o.durability === "always") {
      await this.#syncNow(waiters);
    } else {
      this.#unsynced.push(...waiters);
      this.#scheduleSync();
    }
  }

  /** `batch`: a flush at most `syncIntervalMs` after the last sync (at once when the log was idle). */
  #scheduleSync(): void {
    if (this.#syncTimer !== null || this.#flushing || this.#closed) return;
    const wait = Math.max(0, this.#lastSyncMs + this.#o.syncIntervalMs - this.#o.clock.monotonic());
    this.#syncTimer = this.#o.clock.setTimeout(() => {
      this.#syncTimer = null;
      // Started a microtask later, so `#flushing` is set before the flush's synchronous appends ask for a timer.
      this.#flushing = Promise.resolve().then(() => this.#flush()).catch((e) => this.#fail(e)).finally(() => {
        this.#flushing = null;
        if (!this.#closed && (this.#queue.length > 0 || this.#unsynced.length > 0)) this.#scheduleSync();
      });
    }, wait);
  }

  /** Appends everything queued (one write per group; a roll on the way syncs what it closes), then syncs. */
  async #flush(): Promise<void> {
    await this.#drain();
    if (this.#error) return;
    const waiters = this.#unsynced;
    this.#unsynced = [];
    await this.#syncNow(waiters);
  }

  /** Runs the write loop until nothing is queued. */
  async #drain(): Promise<void> {
    while (this.#loop || (this.#queue.length > 0 && !this.#error)) await (this.#loop ??= this.#run());
  }

  async #syncNow(waiters: Waiter[]): Promise<void> {
    const file = this.#file;
    assert(file !== null, "The log has a current segment");
    try {
      await file.sync();
    } catch (e) {
      for (const w of waiters) w.reject(e);
      throw e;
    }
    this.syncs++;
    this.#lastSyncMs = this.#o.clock.monotonic();
    for (const w of waiters) w.resolve();
  }

  /** Finishes the current segment (synced, so only the newest segment can have a torn tail) and starts one. */
  async #roll(): Promise<void> {
    const waiters = this.#unsynced;
    this.#unsynced = [];
    await this.#syncNow(waiters);
    await this.#file?.close();
    if (this.#current) this.#old.push(this.#current);
    await this.#startSegment();
  }

  async #startSegment(): Promise<void> {
    const number = this.#o.newNumber();
    const path = `${this.#o.dir}/${logName(number)}`;
    const file = await this.#o.fs.open(path, { create: true, exclusive: true });
    const header = segmentHeader();
    await file.append(header);
    await file.sync();
    await this.#o.fs.syncDir(this.#o.dir);
    this.#file = file;
    this.#current = { number, maxSeq: 0, bytes: header.length };
  }

  #fail(e: unknown): void {
    this.#error ??= e;
    for (const q of this.#queue) q.waiter?.reject(e);
    this.#queue = [];
    for (const w of this.#unsynced) w.reject(e);
    this.#unsynced = [];
  }

  /** Writes and syncs what is queued, then closes the segment. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#syncTimer !== null) this.#o.clock.clearTimeout(this.#syncTimer);
    this.#syncTimer = null;
    await this.#flushing;
    await this.#drain();
    if (!this.#error && this.#file) {
      const waiters = this.#unsynced;
      this.#unsynced = [];
      await this.#syncNow(waiters).catch((e) => this.#fail(e));
    }
    await this.#file?.close().catch(() => {});
    this.#file = null;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Recovery

export interface WalDamage {
  file: string;
  offset: number;
  bytes: number;
}

export interface WalReplayResult {
  segments: Segment[];
  /** Where a torn tail was cut off, one per affected segment. */
  truncated: WalDamage[];
  /** Complete records whose checksum failed: reported and skipped. */
  corrupt: MeshkvError[];
  records: number;
}

/**
 * Replays every segment in `numbers` (ascending), calling `apply(payload, file, offset)` for each valid record.
 * `apply` returns the highest sequence number in the record, used to know when a segment can be deleted.
 */
export async function replayWal(
  fs: FileSystem,
  dir: string,
  numbers: number[],
  apply: (payload: Uint8Array, file: string, offset: number) => number,
): Promise<WalReplayResult> {
  const result: WalReplayResult = { segments: [], truncated: [], corrupt: [], records: 0 };
  for (const number of numbers) {
    const file = `${dir}/${logName(number)}`;
    const data = await fs.readFile(file);
    const seg: Segment = { number, maxSeq: 0, bytes: data.length };
    result.segments.push(seg);
    const good = checkHeader(data);
    if (!good) {
      // A segment whose header never reached the disk holds nothing; one with a bad header is reported.
      if (data.length >= WAL_HEADER_BYTES && data.some((b) => b !== 0)) {
        result.corrupt.push(corruption("Write-ahead log segment header is damaged", file, 0));
      }
      await cut(fs, file, 0, data.length, result);
      seg.bytes = 0;
      continue;
    }
    let pos = WAL_HEADER_BYTES;
    while (pos < data.length) {
      const end = nextFrame(data, pos);
      if (end < 0) break; // torn: cut below
      const stored = readU32(data, pos + 4);
      const crc = maskCrc(crc32cUpdate(crc32c(data, pos, pos + 4), data, pos + WAL_FRAME_HEADER_BYTES, end));
      if (crc !== stored) {
        result.corrupt.push(corruption("Write-ahead log record failed its checksum", file, pos));
      } else {
        const seq = apply(data.subarray(pos + WAL_FRAME_HEADER_BYTES, end), file, pos);
        if (seq > seg.maxSeq) seg.maxSeq = seq;
        result.records++;
      }
      pos = end;
    }
    if (pos < data.length) {
      await cut(fs, file, pos, data.length, result);
      seg.bytes = pos;
    }
  }
  return result;
}

function checkHeader(data: Uint8Array): boolean {
  if (data.length < WAL_HEADER_BYTES) return false;
  if (readU32(data, 0) !== WAL_MAGIC || readU32(data, 4) !== WAL_FORMAT_VERSION) return false;
  return readU32(data, 12) === maskCrc(crc32c(data, 0, 12));
}

/** The end of the frame at `pos`, or -1 when it is cut short or empty (a torn tail). */
function nextFrame(data: Uint8Array, pos: number): number {
  if (pos + WAL_FRAME_HEADER_BYTES > data.length) return -1;
  const len = readU32(data, pos);
  if (len === 0) return -1;
  const end = pos + WAL_FRAME_HEADER_BYTES + len;
  return end > data.length ? -1 : end;
}

async function cut(fs: FileSystem, file: string, offset: number, size: number, result: WalReplayResult): Promise<void> {
  result.truncated.push({ file, offset, bytes: size - offset });
  const h = await fs.open(file);
  try {
    await h.truncate(offset);
    await h.sync();
  } finally {
    await h.close();
  }
}
