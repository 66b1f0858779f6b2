/**
 * `FileSystem` on `node:fs/promises`, used by the Node adapter and by the Bun adapter (Bun implements
 * `node:fs` natively; positional reads and writes through it are the fastest file path Bun offers, since
 * `Bun.file`/`Bun.write` have no write-at-offset). Native error codes are translated here (convention 3).
 */
import { constants, readSync, writeSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { type ErrorCode, MeshkvError } from "../errors.ts";
import type { FileHandle, FileInfo, FileSystem, OpenOptions } from "./types.ts";

const CODE_MAP: Record<string, ErrorCode> = {
  ENOENT: "NOT_FOUND",
  EEXIST: "ALREADY_EXISTS",
  EISDIR: "IS_DIRECTORY",
  ENOTDIR: "NOT_DIRECTORY",
  ENOTEMPTY: "NOT_EMPTY",
  EACCES: "PERMISSION_DENIED",
  EPERM: "PERMISSION_DENIED",
  EBADF: "CLOSED",
  EADDRINUSE: "ADDRESS_IN_USE",
};

/** Translates a native error from `node:fs` into a `MeshkvError` with a stable code. */
export function translateNodeError(err: unknown, path: string): MeshkvError {
  if (err instanceof MeshkvError) return err;
  const native = err as { code?: string; message?: string };
  const code = (native.code && CODE_MAP[native.code]) || "IO_ERROR";
  return new MeshkvError(code, `${native.message ?? "File operation failed"}`, { cause: err, details: { path } });
}

async function wrap<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translateNodeError(err, path);
  }
}

class NodeFileHandle implements FileHandle {
  readonly path: string;
  #fh: fsp.FileHandle;
  #size: number;
  #closed = false;

  constructor(path: string, fh: fsp.FileHandle, size: number) {
    this.path = path;
    this.#fh = fh;
    this.#size = size;
  }

  #check(): void {
    if (this.#closed) throw new MeshkvError("CLOSED", `File is closed: ${this.path}`, { details: { path: this.path } });
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`Invalid length: ${length}`);
    const buf = new Uint8Array(length);
    const got = await this.readInto(offset, buf);
    return got === length ? buf : buf.subarray(0, got);
  }

  async readInto(offset: number, into: Uint8Array): Promise<number> {
    this.#check();
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid offset: ${offset}`);
    const length = into.length;
    let got = 0;
    await wrap(this.path, async () => {
      while (got < length) {
        const { bytesRead } = await this.#fh.read(into, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    });
    return got;
  }

  /** `pread` on the calling thread (`fs.readSync` with a position): never null, positional reads share no cursor. */
  readIntoSync(offset: number, into: Uint8Array): number {
    this.#check();
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid offset: ${offset}`);
    const length = into.length;
    let got = 0;
    try {
      while (got < length) {
        const n = readSync(this.#fh.fd, into, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
    } catch (err) {
      throw translateNodeError(err, this.path);
    }
    return got;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#check();
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid offset: ${offset}`);
    this.#size = Math.max(this.#size, offset + data.length);
    await this.#writeAll(offset, data);
  }

  async #writeAll(offset: number, data: Uint8Array): Promise<void> {
    await wrap(this.path, async () => {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await this.#fh.write(data, done, data.length - done, offset + done);
        done += bytesWritten;
      }
    });
  }

  async append(data: Uint8Array): Promise<number> {
    this.#check();
    // Reserve the range synchronously so concurrent appends never overlap.
    const at = this.#size;
    this.#size += data.length;
    await this.#writeAll(at, data);
    return at;
  }

  /** `pwrite` at the end on the calling thread (`fs.writeSync` with a position); never null. */
  appendSync(data: Uint8Array): number {
    this.#check();
    const at = this.#size;
    try {
      let done = 0;
      while (done < data.length) done += writeSync(this.#fh.fd, data, done, data.length - done, at + done);
    } catch (err) {
      throw translateNodeError(err, this.path);
    }
    this.#size += data.length;
    return at;
  }

  async sync(): Promise<void> {
    this.#check();
    await wrap(this.path, () => this.#fh.datasync());
  }

  size(): Promise<number> {
    try {
      this.#check();
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(this.#size);
  }

  async truncate(size: number): Promise<void> {
    this.#check();
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`Invalid size: ${size}`);
    await wrap(this.path, () => this.#fh.truncate(size));
    this.#size = size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await wrap(this.path, () => this.#fh.close());
  }
}

function flagsFor(o: OpenOptions): number {
  let flags = o.readOnly ? constants.O_RDONLY : constants.O_RDWR;
  if (o.create) flags |= constants.O_CREAT;
  if (o.create && o.exclusive) flags |= constants.O_EXCL;
  if (o.truncate && !o.readOnly) flags |= constants.O_TRUNC;
  return flags;
}

export const nodeFileSystem: FileSystem = {
  open: (path, options = {}) =>
    wrap(path, async () => {
      const fh = await fsp.open(path, flagsFor(options), 0o644);
      const st = await fh.stat();
      if (st.isDirectory()) {
        await fh.close();
        throw new MeshkvError("IS_DIRECTORY", `Is a directory: ${path}`, { details: { path } });
      }
      return new NodeFileHandle(path, fh, st.size);
    }),
  readFile: (path) => wrap(path, async () => new Uint8Array(await fsp.readFile(path))),
  stat: (path) =>
    wrap(path, async (): Promise<FileInfo> => {
      const s = await fsp.stat(path);
      return { isFile: s.isFile(), isDirectory: s.isDirectory(), size: s.size };
    }),
  rename: (from, to) => wrap(from, () => fsp.rename(from, to)),
  remove: (path, options = {}) =>
    wrap(path, async () => {
      const s = await fsp.stat(path);
      if (s.isDirectory()) {
        if (options.recursive) await fsp.rm(path, { recursive: true });
        else await fsp.rmdir(path);
      } else {
        await fsp.unlink(path);
      }
    }),
  list: (dir) => wrap(dir, async () => (await fsp.readdir(dir)).sort()),
  mkdir: (path, options = {}) =>
    wrap(path, async () => {
      await fsp.mkdir(path, { recursive: options.recursive ?? false });
    }),
  syncDir: (path) =>
    wrap(path, async () => {
      const fh = await fsp.open(path, constants.O_RDONLY);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }),
};
