/**
 * The manifest: which tables are live, at which level, plus the counters that must survive a restart (next
 * file number, last sequence, the sequence already flushed to tables, partition drop markers).
 *
 * It is one small file replaced atomically, as the issue asks: write `MANIFEST.tmp`, sync it, rename it over
 * `MANIFEST`, sync the directory. A crash before the rename leaves the old manifest; after the directory sync,
 * the new one. Either way the tables it lists were synced (and their directory entries too) before it was
 * written, and tables it does not list are leftovers that the next open deletes. LevelDB appends edits to a
 * log instead; rewriting the whole state is simpler and cheap at our table counts (hundreds, not millions).
 *
 * Layout: `magic u64 | version u32 | body length u32 | masked crc32c(body) u32 | body`, body is UTF-8 JSON.
 */
import type { FileSystem } from "../runtime/types.ts";
import { fromHex, toHex } from "../core/_bytes.ts";
import { fromUtf8, readU32, utf8, writeU32 } from "./_bytes.ts";
import { corruption } from "./_corruption.ts";
import { crc32c, maskCrc } from "./_crc32c.ts";
import {
  MANIFEST_FORMAT_VERSION,
  MANIFEST_HEADER_BYTES,
  MANIFEST_MAGIC_HI,
  MANIFEST_MAGIC_LO,
  MANIFEST_NAME,
  MANIFEST_TEMP_NAME,
} from "./_format.ts";
import type { TableMeta } from "./table_writer.ts";

export interface ManifestState {
  nextNumber: number;
  lastSeq: number;
  /** Every record with a sequence at or below this is in a table; the log replays only newer ones. */
  flushedSeq: number;
  levels: TableMeta[][];
  /** Partition number to drop sequence: records of that partition at or below it are deleted. */
  drops: Map<number, number>;
}

type TableJson = [number, number, number, number, number, number, string, string];

export function encodeManifest(s: ManifestState): Uint8Array {
  const body = utf8(JSON.stringify({
    nextNumber: s.nextNumber,
    lastSeq: s.lastSeq,
    flushedSeq: s.flushedSeq,
    levels: s.levels.map((l) =>
      l.map((
        t,
      ): TableJson => [
        t.number,
        t.bytes,
        t.count,
        t.tombstones,
        t.minSeq,
        t.maxSeq,
        toHex(t.smallest),
        toHex(t.largest),
      ])
    ),
    drops: [...s.drops],
  }));
  const out = new Uint8Array(MANIFEST_HEADER_BYTES + body.length);
  writeU32(out, 0, MANIFEST_MAGIC_LO);
  writeU32(out, 4, MANIFEST_MAGIC_HI);
  writeU32(out, 8, MANIFEST_FORMAT_VERSION);
  writeU32(out, 12, body.length);
  writeU32(out, 16, maskCrc(crc32c(body)));
  out.set(body, MANIFEST_HEADER_BYTES);
  return out;
}

export function decodeManifest(data: Uint8Array, file: string): ManifestState {
  if (
    data.length < MANIFEST_HEADER_BYTES || readU32(data, 0) !== MANIFEST_MAGIC_LO ||
    readU32(data, 4) !== MANIFEST_MAGIC_HI
  ) {
    throw corruption("Manifest has no magic number", file, 0);
  }
  const version = readU32(data, 8);
  if (version !== MANIFEST_FORMAT_VERSION) {
    throw corruption(`Manifest format version ${version} is not supported`, file, 8);
  }
  const len = readU32(data, 12);
  if (MANIFEST_HEADER_BYTES + len !== data.length) {
    throw corruption("Manifest length does not match the file", file, 12);
  }
  const body = data.subarray(MANIFEST_HEADER_BYTES);
  if (readU32(data, 16) !== maskCrc(crc32c(body))) {
    throw corruption("Manifest failed its checksum", file, MANIFEST_HEADER_BYTES);
  }
  try {
    const j = JSON.parse(fromUtf8(body)) as {
      nextNumber: number;
      lastSeq: number;
      flushedSeq: number;
      levels: TableJson[][];
      drops: [number, number][];
    };
    return {
      nextNumber: j.nextNumber,
      lastSeq: j.lastSeq,
      flushedSeq: j.flushedSeq,
      levels: j.levels.map((l) =>
        l.map(([number, bytes, count, tombstones, minSeq, maxSeq, smallest, largest]) => ({
          number,
          bytes,
          count,
          tombstones,
          minSeq,
          maxSeq,
          smallest: fromHex(smallest),
          largest: fromHex(largest),
        }))
      ),
      drops: new Map(j.drops),
    };
  } catch (e) {
    throw corruption("Manifest body does not parse", file, MANIFEST_HEADER_BYTES, { cause: String(e) });
  }
}

/** Reads the manifest, or null for a new (empty) directory. */
export async function readManifest(fs: FileSystem, dir: string): Promise<ManifestState | null> {
  const names = await fs.list(dir);
  if (!names.includes(MANIFEST_NAME)) return null;
  const path = `${dir}/${MANIFEST_NAME}`;
  return decodeManifest(await fs.readFile(path), path);
}

/** Replaces the manifest atomically: write a temporary file, sync, rename, sync the directory. */
export async function writeManifest(fs: FileSystem, dir: string, state: ManifestState): Promise<number> {
  const data = encodeManifest(state);
  const tmp = `${dir}/${MANIFEST_TEMP_NAME}`;
  const h = await fs.open(tmp, { create: true, truncate: true });
  try {
    await h.write(0, data);
    await h.sync();
  } finally {
    await h.close();
  }
  await fs.rename(tmp, `${dir}/${MANIFEST_NAME}`);
  await fs.syncDir(dir);
  return data.length;
}
