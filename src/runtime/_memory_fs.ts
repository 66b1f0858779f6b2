/**
 * An in-memory `FileSystem` with fault injection, for unit tests and the deterministic simulation.
 *
 * It models what a POSIX disk promises and no more: file contents are durable only up to the last `sync()`
 * of that file, and directory entries (creations, renames, removals) are durable only after `syncDir()` of
 * their directory. `crash()` throws away everything that was not durable, like a power cut, and can tear the
 * unsynced tail of a file (keep a random prefix of it) the way a real disk sometimes does. `flipBit()`
 * corrupts stored bytes. The storage engine's crash and corruption tests are built on these three faults.
 */
import { MeshkvError } from "../errors.ts";
import type { FileHandle, FileInfo, FileSystem, OpenOptions, Random } from "./types.ts";

interface Inode {
  data: Uint8Array;
  size: number;
  /** The contents as of the last sync: what survives a crash. */
  synced: Uint8Array;
}

type Entry = { kind: "file"; inode: Inode } | { kind: "dir" };

export interface CrashOptions {
  /** When given, each file with unsynced bytes keeps a random prefix of them (a torn write). */
  tear?: Random;
}

function normalize(path: string): string {
  if (typeof path !== "string" || path.length === 0) throw new TypeError("Path must be a non-empty string");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return "/" + parts.join("/");
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function notFound(path: string): MeshkvError {
  return new MeshkvError("NOT_FOUND", `No such file or directory: ${path}`, { details: { path } });
}

export class MemoryFileSystem implements FileSystem {
  /** The namespace as the running program sees it. */
  #live = new Map<string, Entry>([["/", { kind: "dir" }]]);
  /** The namespace as it is on "disk": changed only by syncDir. */
  #durable = new Map<string, Entry>([["/", { kind: "dir" }]]);
  #handles = new Set<MemoryFileHandle>();
  /** Counts every write and sync, so tests can crash "at a random point" by operation number. */
  operations = 0;
  /** Called before every mutating operation; a test can throw from it to simulate a crash mid-way. */
  beforeOperation: ((op: string, path: string) => void) | null = null;

  #tick(op: string, path: string): void {
    this.operations++;
    this.beforeOperation?.(op, path);
  }

  #dirOf(path: string): void {
    const parent = parentOf(path);
    const entry = this.#live.get(parent);
    if (!entry) throw notFound(parent);
    if (entry.kind !== "dir") {
      throw new MeshkvError("NOT_DIRECTORY", `Not a directory: ${parent}`, { details: { path: parent } });
    }
  }

  open(path: string, options: OpenOptions = {}): Promise<FileHandle> {
    const p = normalize(path);
    const existing = this.#live.get(p);
    if (existing?.kind === "dir") {
      return Promise.reject(new MeshkvError("IS_DIRECTORY", `Is a directory: ${p}`, { details: { path: p } }));
    }
    if (existing && options.create && options.exclusive) {
      return Promise.reject(new MeshkvError("ALREADY_EXISTS", `File exists: ${p}`, { details: { path: p } }));
    }
    let inode: Inode;
    if (existing) {
      inode = existing.inode;
    } else {
      if (!options.create) return Promise.reject(notFound(p));
      try {
        this.#dirOf(p);
      } catch (e) {
        return Promise.reject(e);
      }
      this.#tick("create", p);
      inode = { data: new Uint8Array(64), size: 0, synced: new Uint8Array(0) };
      this.#live.set(p, { kind: "file", inode });
    }
    if (options.truncate && !options.readOnly) inode.size = 0;
    const handle = new MemoryFileHandle(this, p, inode, options.readOnly ?? false);
    this.#handles.add(handle);
    return Promise.resolve(handle);
  }

  /** @internal used by handles to count operations and run the crash hook. */
  _tick(op: string, path: string): void {
    this.#tick(op, path);
  }

  /** @internal */
  _forget(handle: MemoryFileHandle): void {
    this.#handles.delete(handle);
  }

  async readFile(path: string): Promise<Uint8Array> {
    const h = await this.open(path, { readOnly: true });
    try {
      return await h.read(0, await h.size());
    } finally {
      await h.close();
    }
  }

  stat(path: string): Promise<FileInfo> {
    const p = normalize(path);
    const e = this.#live.get(p);
    if (!e) return Promise.reject(notFound(p));
    if (e.kind === "dir") return Promise.resolve({ isFile: false, isDirectory: true, size: 0 });
    return Promise.resolve({ isFile: true, isDirectory: false, size: e.inode.size });
  }

  rename(from: string, to: string): Promise<void> {
    const a = normalize(from);
    const b = normalize(to);
    const src = this.#live.get(a);
    if (!src) return Promise.reject(notFound(a));
    const dst = this.#live.get(b);
    if (dst?.kind === "dir") {
      return Promise.reject(new MeshkvError("IS_DIRECTORY", `Is a directory: ${b}`, { details: { path: b } }));
    }
    if (src.kind === "dir") {
      return Promise.reject(new MeshkvError("UNSUPPORTED", `Renaming directories is not supported in memory: ${a}`));
    }
    try {
      this.#dirOf(b);
    } catch (e) {
      return Promise.reject(e);
    }
    this.#tick("rename", b);
    this.#live.delete(a);
    this.#live.set(b, src);
    return Promise.resolve();
  }

  remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const p = normalize(path);
    const e = this.#live.get(p);
    if (!e) return Promise.reject(notFound(p));
    const children = [...this.#live.keys()].filter((k) => k.startsWith(p === "/" ? "/" : p + "/") && k !== p);
    if (e.kind === "dir" && children.length > 0 && !options.recursive) {
      return Promise.reject(new MeshkvError("NOT_EMPTY", `Directory not empty: ${p}`, { details: { path: p } }));
    }
    this.#tick("remove", p);
    for (const c of children) this.#live.delete(c);
    this.#live.delete(p);
    return Promise.resolve();
  }

  list(dir: string): Promise<string[]> {
    const p = normalize(dir);
    const e = this.#live.get(p);
    if (!e) return Promise.reject(notFound(p));
    if (e.kind !== "dir") {
      return Promise.reject(new MeshkvError("NOT_DIRECTORY", `Not a directory: ${p}`, { details: { path: p } }));
    }
    const prefix = p === "/" ? "/" : p + "/";
    const names: string[] = [];
    for (const k of this.#live.keys()) {
      if (k.startsWith(prefix) && k !== p && !k.slice(prefix.length).includes("/")) names.push(k.slice(prefix.length));
    }
    return Promise.resolve(names.sort());
  }

  mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const p = normalize(path);
    const e = this.#live.get(p);
    if (e) {
      if (e.kind === "dir" && options.recursive) return Promise.resolve();
      return Promise.reject(new MeshkvError("ALREADY_EXISTS", `File exists: ${p}`, { details: { path: p } }));
    }
    if (options.recursive && p !== "/") {
      const parent = parentOf(p);
      if (!this.#live.has(parent)) return this.mkdir(parent, options).then(() => this.mkdir(p, options));
    }
    try {
      this.#dirOf(p);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#tick("mkdir", p);
    this.#live.set(p, { kind: "dir" });
    return Promise.resolve();
  }

  syncDir(path: string): Promise<void> {
    const p = normalize(path);
    const e = this.#live.get(p);
    if (!e) return Promise.reject(notFound(p));
    if (e.kind !== "dir") {
      return Promise.reject(new MeshkvError("NOT_DIRECTORY", `Not a directory: ${p}`, { details: { path: p } }));
    }
    this.#tick("syncDir", p);
    const prefix = p === "/" ? "/" : p + "/";
    const direct = (k: string) => k.startsWith(prefix) && k !== p && !k.slice(prefix.length).includes("/");
    for (const k of [...this.#durable.keys()]) if (direct(k) && !this.#live.has(k)) this.#durable.delete(k);
    for (const [k, v] of this.#live) if (direct(k)) this.#durable.set(k, v);
    // The directory itself becomes durable in its parent only when the parent is synced; a fresh
    // directory whose parent was never synced still vanishes on crash, as on a real file system.
    return Promise.resolve();
  }

  /**
   * Simulates a power cut: every handle is invalidated, directory entries go back to their last synced
   * state, and file contents to their last synced bytes (with `tear`, plus a random prefix of what was
   * written after). Parents that were never made durable take their children with them.
   */
  crash(options: CrashOptions = {}): void {
    for (const h of this.#handles) h._invalidate();
    this.#handles.clear();
    const next = new Map<string, Entry>();
    for (const [k, v] of this.#durable) {
      if (k !== "/" && !this.#durable.has(parentOf(k))) continue;
      next.set(k, v);
    }
    // Drop entries whose ancestors did not survive (a grandchild of a lost directory).
    for (const k of [...next.keys()].sort()) if (k !== "/" && !next.has(parentOf(k))) next.delete(k);
    const seen = new Set<Inode>();
    for (const v of next.values()) {
      if (v.kind !== "file" || seen.has(v.inode)) continue;
      seen.add(v.inode);
      const ino = v.inode;
      let keep = ino.synced;
      if (options.tear && ino.size > ino.synced.length) {
        const unsynced = ino.data.subarray(ino.synced.length, ino.size);
        const prefix = options.tear.int(unsynced.length + 1);
        const torn = new Uint8Array(ino.synced.length + prefix);
        torn.set(ino.synced, 0);
        torn.set(unsynced.subarray(0, prefix), ino.synced.length);
        keep = torn;
      }
      ino.data = new Uint8Array(Math.max(64, keep.length));
      ino.data.set(keep, 0);
      ino.size = keep.length;
      ino.synced = keep.slice();
    }
    this.#live = new Map(next);
    this.#durable = new Map(next);
  }

  /** Flips one bit of a stored file, in both its live and its synced bytes (a rotten sector). */
  flipBit(path: string, offset: number, bit = 0): void {
    const e = this.#live.get(normalize(path));
    if (!e || e.kind !== "file") throw notFound(path);
    if (offset < 0 || offset >= e.inode.size) throw new RangeError(`Offset ${offset} is outside the file`);
    const mask = 1 << (bit & 7);
    e.inode.data[offset] = (e.inode.data[offset] ?? 0) ^ mask;
    if (offset < e.inode.synced.length) e.inode.synced[offset] = (e.inode.synced[offset] ?? 0) ^ mask;
  }

  /** Total bytes held in live files (for tests that check space reclamation). */
  totalBytes(): number {
    let n = 0;
    const seen = new Set<Inode>();
    for (const v of this.#live.values()) {
      if (v.kind === "file" && !seen.has(v.inode)) {
        seen.add(v.inode);
        n += v.inode.size;
      }
    }
    return n;
  }
}

export class MemoryFileHandle implements FileHandle {
  readonly path: string;
  #fs: MemoryFileSystem;
  #inode: Inode;
  #readOnly: boolean;
  #closed = false;

  constructor(fs: MemoryFileSystem, path: string, inode: Inode, readOnly: boolean) {
    this.#fs = fs;
    this.path = path;
    this.#inode = inode;
    this.#readOnly = readOnly;
  }

  /** @internal a crash makes every open handle unusable. */
  _invalidate(): void {
    this.#closed = true;
  }

  #check(write: boolean): void {
    if (this.#closed) throw new MeshkvError("CLOSED", `File is closed: ${this.path}`, { details: { path: this.path } });
    if (write && this.#readOnly) throw new MeshkvError("PERMISSION_DENIED", `File is open read-only: ${this.path}`);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`Invalid length: ${length}`);
    const out = new Uint8Array(Math.max(0, Math.min(length, this.#inode.size - offset)) || 0);
    return this.readInto(offset, out).then((n) => (n === out.length ? out : out.subarray(0, n)));
  }

  readInto(offset: number, into: Uint8Array): Promise<number> {
    try {
      this.#check(false);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid offset: ${offset}`);
    const end = Math.min(this.#inode.size, offset + into.length);
    if (offset >= end) return Promise.resolve(0);
    into.set(this.#inode.data.subarray(offset, end));
    return Promise.resolve(end - offset);
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    try {
      this.#check(true);
      if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid offset: ${offset}`);
      this.#fs._tick("write", this.path);
    } catch (e) {
      return Promise.reject(e);
    }
    this.#writeAt(offset, data);
    return Promise.resolve();
  }

  #writeAt(offset: number, data: Uint8Array): void {
    const ino = this.#inode;
    const end = offset + data.length;
    if (end > ino.data.length) {
      const grown = new Uint8Array(Math.max(end, ino.data.length * 2));
      grown.set(ino.data.subarray(0, ino.size), 0);
      ino.data = grown;
    }
    if (offset > ino.size) ino.data.fill(0, ino.size, offset);
    ino.data.set(data, offset);
    ino.size = Math.max(ino.size, end);
  }

  append(data: Uint8Array): Promise<number> {
    try {
      this.#check(true);
      this.#fs._tick("append", this.path);
    } catch (e) {
      return Promise.reject(e);
    }
    const at = this.#inode.size;
    this.#writeAt(at, data);
    return Promise.resolve(at);
  }

  sync(): Promise<void> {
    try {
      this.#check(false);
      this.#fs._tick("sync", this.path);
    } catch (e) {
      return Promise.reject(e);
    }
    this.#inode.synced = this.#inode.data.slice(0, this.#inode.size);
    return Promise.resolve();
  }

  size(): Promise<number> {
    try {
      this.#check(false);
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(this.#inode.size);
  }

  truncate(size: number): Promise<void> {
    try {
      this.#check(true);
      if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`Invalid size: ${size}`);
      this.#fs._tick("truncate", this.path);
    } catch (e) {
      return Promise.reject(e);
    }
    const ino = this.#inode;
    if (size > ino.size) this.#writeAt(ino.size, new Uint8Array(size - ino.size));
    ino.size = size;
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#fs._forget(this);
    return Promise.resolve();
  }
}
