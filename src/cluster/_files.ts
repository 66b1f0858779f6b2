/**
 * Small text files a node keeps beside its data (NODE_ID, SINCE, VERSION_ID): read once at start, written once
 * when missing. A write is atomic and durable (a temporary file, synced, renamed over the name, then the
 * directory synced), so a crash leaves the old state or the new one, never a torn file.
 */
import { toHex } from "../core/_bytes.ts";
import { isMeshkvError } from "../errors.ts";
import type { FileSystem, Random } from "../runtime/types.ts";

/** The trimmed text of `dir/name`, or null when there is no such file. */
export async function readText(fs: FileSystem, dir: string, name: string): Promise<string | null> {
  try {
    return new TextDecoder().decode(await fs.readFile(`${dir}/${name}`)).trim();
  } catch (err) {
    if (isMeshkvError(err, "NOT_FOUND")) return null;
    throw err;
  }
}

/** Writes `text` and a newline to `dir/name`, atomically and durably. */
export async function writeTextDurably(fs: FileSystem, dir: string, name: string, text: string): Promise<void> {
  const path = `${dir}/${name}`;
  const tmp = `${path}.tmp`;
  const f = await fs.open(tmp, { create: true, truncate: true });
  try {
    await f.write(0, new TextEncoder().encode(`${text}\n`));
    await f.sync();
  } finally {
    await f.close();
  }
  await fs.rename(tmp, path);
  await fs.syncDir(dir);
}

/**
 * Creates `dir` and its missing parents and syncs every parent's entry, so the directory survives a power
 * cut (a new directory whose entry was never synced can vanish with everything under it).
 */
export async function makeDurableDir(fs: FileSystem, dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const parts = dir.split("/");
  for (let i = parts.length - 1; i >= 1; i--) {
    const parent = parts.slice(0, i).join("/") || (dir.startsWith("/") ? "/" : ".");
    await fs.syncDir(parent);
  }
}

/** The replica store's version id (`replica.ts` says why): `nodeId.<4 random hex>`, drawn once and kept. */
export async function loadVersionId(fs: FileSystem, dir: string, nodeId: string, random: Random): Promise<string> {
  const stored = await readText(fs, dir, "VERSION_ID");
  if (stored) return stored;
  const id = `${nodeId}.${toHex(random.bytes(2))}`;
  await writeTextDurably(fs, dir, "VERSION_ID", id);
  return id;
}
