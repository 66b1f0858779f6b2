/**
 * The store's `LOCK` file: one engine at a time per directory, as LevelDB and RocksDB do it.
 *
 * LevelDB holds an `fcntl` lock on `LOCK`, which the operating system drops when the process dies, so a second
 * opener fails and a restart after `kill -9` just works. The `FileSystem` interface has no OS locks (Node has
 * none without a native addon), so we get the same two properties this way:
 *
 * - `LOCK` is created with `exclusive: true` and holds a token and an owner string (`lockOwner`, e.g. the
 *   server's pid and host, for people reading the file). The engine keeps it open and removes it on `close()`,
 *   only if it still holds its own token.
 * - Within one process the answer is certain: engines that hold a lock are registered per `FileSystem`. A second
 *   open of the same directory fails with `LOCKED` while the first engine's lock handle still works; a handle
 *   that a crash made unusable (the memory file system's `crash()`) means its holder is gone, and the lock is
 *   taken over.
 * - A `LOCK` left by another process is either held by a live process or stale after a crash, and only the
 *   runtime can tell: the engine asks `lockOwnerAlive(owner)` when given (the server should pass a check of
 *   the pid it puts in `lockOwner`), fails with `LOCKED` when the owner lives and takes the lock over when it
 *   is dead. Without that check it takes the lock over: a node must restart after `kill -9` without a manual
 *   step, and a check the engine cannot make must not block it. `breakLock` takes over even a live owner's
 *   lock. Every take-over is reported in `engine.recovery.brokenLock`.
 */
import { isMeshkvError, MeshkvError } from "../errors.ts";
import type { Clock, FileHandle, FileSystem } from "../runtime/types.ts";
import { fromUtf8, utf8 } from "./_bytes.ts";

export const LOCK_NAME = "LOCK";
const HEADER = "meshkv-lock 1";

export interface LockOptions {
  owner: string;
  ownerAlive: ((owner: string) => boolean | Promise<boolean>) | null;
  breakLock: boolean;
}

/** A lock that was taken over: what its file said. */
export interface BrokenLock {
  owner: string;
  token: string;
  reason: "holder crashed" | "owner not alive" | "owner not checked" | "breakLock";
}

/** Locks held in this process: per file system, directory to lock. */
const held = new WeakMap<FileSystem, Map<string, StoreLock>>();
let counter = 0;

export class StoreLock {
  readonly token: string;
  readonly path: string;
  #fs: FileSystem;
  #dir: string;
  #file: FileHandle;
  #released = false;

  constructor(fs: FileSystem, dir: string, file: FileHandle, token: string) {
    this.#fs = fs;
    this.#dir = dir;
    this.#file = file;
    this.token = token;
    this.path = `${dir}/${LOCK_NAME}`;
  }

  /** True while this lock's file handle works (a crash of the memory file system ends it). */
  async alive(): Promise<boolean> {
    if (this.#released) return false;
    try {
      await this.#file.size();
      return true;
    } catch {
      return false;
    }
  }

  /** Removes `LOCK` if it still carries our token, and lets the directory be opened again. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const mine = held.get(this.#fs);
    if (mine?.get(this.#dir) === this) mine.delete(this.#dir);
    await this.#file.close().catch(() => {});
    try {
      if (parseLock(await this.#fs.readFile(this.path)).token === this.token) await this.#fs.remove(this.path);
    } catch {
      // Gone already, or unreadable: nothing of ours to remove.
    }
  }
}

function lockText(token: string, owner: string): Uint8Array {
  return utf8(`${HEADER}\ntoken ${token}\nowner ${owner.replace(/\n/g, " ")}\n`);
}

function parseLock(bytes: Uint8Array): { token: string; owner: string } {
  const lines = fromUtf8(bytes).split("\n");
  const field = (name: string) => lines.find((l) => l.startsWith(`${name} `))?.slice(name.length + 1) ?? "";
  return { token: field("token"), owner: field("owner") };
}

function locked(dir: string, message: string, details: Record<string, unknown>): MeshkvError {
  return new MeshkvError("LOCKED", `${message}: ${dir}`, { details: { dir, ...details } });
}

/** Takes the store's lock, or fails with `LOCKED`; see the module doc for the rules. */
export async function acquireLock(
  fs: FileSystem,
  dir: string,
  clock: Clock,
  o: LockOptions,
): Promise<{ lock: StoreLock; broken: BrokenLock | null }> {
  let mine = held.get(fs);
  if (mine === undefined) held.set(fs, mine = new Map());
  const previous = mine.get(dir);
  let crashed = false;
  if (previous !== undefined) {
    if (await previous.alive()) {
      throw locked(dir, "The store is already open in this process", { token: previous.token });
    }
    mine.delete(dir);
    crashed = true;
  }
  const token = `${Math.floor(clock.now()).toString(36)}-${(counter++).toString(36)}-${
    Math.floor(clock.monotonic() * 1000).toString(36)
  }`;
  const path = `${dir}/${LOCK_NAME}`;
  let broken: BrokenLock | null = null;
  let file: FileHandle;
  try {
    file = await fs.open(path, { create: true, exclusive: true });
  } catch (e) {
    if (!isMeshkvError(e, "ALREADY_EXISTS")) throw e;
    const found = parseLock(await fs.readFile(path).catch(() => new Uint8Array(0)));
    broken = { ...found, reason: crashed ? "holder crashed" : o.breakLock ? "breakLock" : "owner not checked" };
    if (!crashed && !o.breakLock && o.ownerAlive !== null) {
      if (await o.ownerAlive(found.owner)) {
        throw locked(
          dir,
          `The store is locked by a live process (owner ${JSON.stringify(found.owner)}); ` +
            "if it does not use the store, open with breakLock: true or remove the LOCK file",
          found,
        );
      }
      broken.reason = "owner not alive";
    }
    file = await fs.open(path, { create: true, truncate: true });
  }
  try {
    await file.write(0, lockText(token, o.owner));
  } catch (e) {
    await file.close().catch(() => {});
    throw e;
  }
  const lock = new StoreLock(fs, dir, file, token);
  mine.set(dir, lock);
  return { lock, broken };
}
