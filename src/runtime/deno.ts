/**
 * The Deno adapter: files through `Deno.open` and `Deno.FsFile`, HTTP through `Deno.serve`, WebSockets through
 * `Deno.upgradeWebSocket` (server) and the `ws` package over Deno's `node:net` (client): Deno's own `WebSocket`
 * client leaves Nagle's algorithm on and stalls ~40 ms on every message over 1 KiB (see _ws_client.ts).
 * `Deno.FsFile` reads and writes at its cursor, so each handle runs its operations one at a time (seek, then
 * read or write) to keep positional semantics correct under concurrent callers. Native errors (`Deno.errors.NotFound`, ...) become our codes here.
 */
import { type ErrorCode, MeshkvError } from "../errors.ts";
import { dialDenoTcp, listenDenoTcp } from "./_deno_tcp.ts";
import { answerDirect, targetOf } from "./_plain.ts";
import { createRandom } from "./_random.ts";
import { wrapWebSocket } from "./_web_socket.ts";
import { systemClock } from "./_system_clock.ts";
import { dialWs } from "./_ws_client.ts";
import type { FileHandle, FileInfo, FileSystem, OpenOptions, RunningServer, Runtime, ServeOptions } from "./types.ts";

// The slice of the Deno namespace meshkv uses, typed here so the project type-checks without Deno's lib.
interface DenoFsFile {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  seek(offset: number, whence: number): Promise<number>;
  seekSync(offset: number, whence: number): number;
  readSync(p: Uint8Array): number | null;
  writeSync(p: Uint8Array): number;
  syncData(): Promise<void>;
  stat(): Promise<{ size: number; isDirectory: boolean }>;
  truncate(len?: number): Promise<void>;
  close(): void;
}
interface DenoHttpServer {
  addr: { hostname: string; port: number };
  shutdown(): Promise<void>;
  finished: Promise<void>;
}
interface DenoApi {
  version: { deno: string };
  args: string[];
  env: { get(name: string): string | undefined };
  errors: Record<string, new (...a: never[]) => Error>;
  open(
    path: string,
    o: { read?: boolean; write?: boolean; create?: boolean; createNew?: boolean; truncate?: boolean },
  ): Promise<DenoFsFile>;
  readFile(path: string): Promise<Uint8Array>;
  stat(path: string): Promise<{ isFile: boolean; isDirectory: boolean; size: number }>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string, o?: { recursive?: boolean }): Promise<void>;
  readDir(path: string): AsyncIterable<{ name: string }>;
  mkdir(path: string, o?: { recursive?: boolean }): Promise<void>;
  serve(
    o: {
      hostname: string;
      port: number;
      cert?: string;
      key?: string;
      onListen?: (addr: unknown) => void;
      onError?: (e: unknown) => Response;
    },
    handler: (req: Request, info: { remoteAddr: { hostname: string; port: number } }) => Response | Promise<Response>,
  ): DenoHttpServer;
  upgradeWebSocket(req: Request): { socket: WebSocket; response: Response };
  addSignalListener(sig: string, fn: () => void): void;
  removeSignalListener(sig: string, fn: () => void): void;
  exit(code: number): never;
  memoryUsage(): { rss: number };
  resolveDns(query: string, type: "A" | "AAAA"): Promise<string[]>;
  pid: number;
  kill(pid: number, signal: number | string): void;
}

const D = (globalThis as unknown as { Deno: DenoApi }).Deno;

const ERROR_MAP: [string, ErrorCode][] = [
  ["NotFound", "NOT_FOUND"],
  ["AlreadyExists", "ALREADY_EXISTS"],
  ["IsADirectory", "IS_DIRECTORY"],
  ["NotADirectory", "NOT_DIRECTORY"],
  ["PermissionDenied", "PERMISSION_DENIED"],
  ["NotCapable", "PERMISSION_DENIED"],
  ["AddrInUse", "ADDRESS_IN_USE"],
  ["BadResource", "CLOSED"],
];

/** Translates a native Deno error into a `MeshkvError` with a stable code. */
export function translateDenoError(err: unknown, path: string): MeshkvError {
  if (err instanceof MeshkvError) return err;
  let code: ErrorCode = "IO_ERROR";
  for (const [name, mapped] of ERROR_MAP) {
    const cls = D.errors[name];
    if (cls && err instanceof cls) code = mapped;
  }
  const native = err as { code?: string; message?: string };
  if (code === "IO_ERROR" && (native.code === "ENOTEMPTY" || /not empty/i.test(native.message ?? ""))) {
    code = "NOT_EMPTY";
  }
  if (code === "IO_ERROR" && (native.code === "ENOTDIR" || /not a directory/i.test(native.message ?? ""))) {
    code = "NOT_DIRECTORY";
  }
  if (code === "IO_ERROR" && (native.code === "EISDIR" || /is a directory/i.test(native.message ?? ""))) {
    code = "IS_DIRECTORY";
  }
  return new MeshkvError(code, native.message ?? "File operation failed", { cause: err, details: { path } });
}

async function wrap<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translateDenoError(err, path);
  }
}

const SEEK_START = 0;

class DenoFileHandle implements FileHandle {
  readonly path: string;
  #file: DenoFsFile;
  #size: number;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();
  /** Operations queued or running on this handle: a synchronous read may move the cursor only when none are. */
  #pending = 0;

  constructor(path: string, file: DenoFsFile, size: number) {
    this.path = path;
    this.#file = file;
    this.#size = size;
  }

  /** Runs `fn` after every earlier operation on this handle, since they share one cursor. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new MeshkvError("CLOSED", `File is closed: ${this.path}`, { details: { path: this.path } }),
      );
    }
    this.#pending++;
    const run = this.#queue.then(() => wrap(this.path, fn)).finally(() => this.#pending--);
    this.#queue = run.catch(() => {});
    return run;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`Invalid length: ${length}`);
    const buf = new Uint8Array(length);
    return this.readInto(offset, buf).then((got) => (got === length ? buf : buf.subarray(0, got)));
  }

  readInto(offset: number, into: Uint8Array): Promise<number> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid offset: ${offset}`);
    return this.#serial(async () => {
      await this.#file.seek(offset, SEEK_START);
      let got = 0;
      while (got < into.length) {
        const n = await this.#file.read(into.subarray(got));
        if (n === null || n === 0) break;
        got += n;
      }
      return got;
    });
  }

  /**
   * Seek and read on the calling thread, when no other operation is queued on this handle (null otherwise:
   * one in flight may sit between its own seek and read). Deno's file handles have no positional read, so an
   * asynchronous read is two trips through the blocking thread pool.
   */
  readIntoSync(offset: number, into: Uint8Array): number | null {
    if (this.#closed) throw new MeshkvError("CLOSED", `File is closed: ${this.path}`, { details: { path: this.path } });
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid offset: ${offset}`);
    if (this.#pending > 0) return null;
    try {
      this.#file.seekSync(offset, SEEK_START);
      let got = 0;
      while (got < into.length) {
        const n = this.#file.readSync(got === 0 ? into : into.subarray(got));
        if (n === null || n === 0) break;
        got += n;
      }
      return got;
    } catch (err) {
      throw translateDenoError(err, this.path);
    }
  }

  /** Seek and write at the end on the calling thread, when no other operation is queued (null otherwise). */
  appendSync(data: Uint8Array): number | null {
    if (this.#closed) throw new MeshkvError("CLOSED", `File is closed: ${this.path}`, { details: { path: this.path } });
    if (this.#pending > 0) return null;
    const at = this.#size;
    try {
      this.#file.seekSync(at, SEEK_START);
      let done = 0;
      while (done < data.length) done += this.#file.writeSync(data.subarray(done));
    } catch (err) {
      throw translateDenoError(err, this.path);
    }
    this.#size += data.length;
    return at;
  }

  #writeAt(offset: number, data: Uint8Array): Promise<void> {
    return this.#serial(async () => {
      await this.#file.seek(offset, SEEK_START);
      let done = 0;
      while (done < data.length) done += await this.#file.write(data.subarray(done));
    });
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid offset: ${offset}`);
    if (!this.#closed) this.#size = Math.max(this.#size, offset + data.length);
    return this.#writeAt(offset, data);
  }

  async append(data: Uint8Array): Promise<number> {
    const at = this.#size;
    if (!this.#closed) this.#size += data.length;
    await this.#writeAt(at, data);
    return at;
  }

  sync(): Promise<void> {
    return this.#serial(() => this.#file.syncData());
  }

  size(): Promise<number> {
    return this.#serial(() => Promise.resolve(this.#size));
  }

  truncate(size: number): Promise<void> {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`Invalid size: ${size}`);
    return this.#serial(async () => {
      await this.#file.truncate(size);
      this.#size = size;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#queue;
    this.#closed = true;
    this.#file.close();
  }
}

export const denoFileSystem: FileSystem = {
  open: (path, options: OpenOptions = {}) =>
    wrap(path, async () => {
      const file = await D.open(path, {
        read: true,
        write: !options.readOnly,
        create: (options.create ?? false) && !options.exclusive,
        createNew: (options.create ?? false) && (options.exclusive ?? false),
        truncate: (options.truncate ?? false) && !options.readOnly,
      });
      const st = await file.stat();
      if (st.isDirectory) {
        file.close();
        throw new MeshkvError("IS_DIRECTORY", `Is a directory: ${path}`, { details: { path } });
      }
      return new DenoFileHandle(path, file, st.size);
    }),
  readFile: (path) => wrap(path, () => D.readFile(path)),
  stat: (path) =>
    wrap(path, async (): Promise<FileInfo> => {
      const s = await D.stat(path);
      return { isFile: s.isFile, isDirectory: s.isDirectory, size: s.size };
    }),
  rename: (from, to) => wrap(from, () => D.rename(from, to)),
  remove: (path, options = {}) => wrap(path, () => D.remove(path, { recursive: options.recursive ?? false })),
  list: (dir) =>
    wrap(dir, async () => {
      const names: string[] = [];
      for await (const e of D.readDir(dir)) names.push(e.name);
      return names.sort();
    }),
  mkdir: (path, options = {}) => wrap(path, () => D.mkdir(path, { recursive: options.recursive ?? false })),
  syncDir: (path) =>
    wrap(path, async () => {
      const f = await D.open(path, { read: true });
      try {
        await f.syncData();
      } finally {
        f.close();
      }
    }),
};

async function serve(options: ServeOptions): Promise<RunningServer> {
  const open = new Set<WebSocket>();
  let listening!: (addr: unknown) => void;
  const ready = new Promise((r) => (listening = r));
  let server: DenoHttpServer;
  const hot = options.fetch.hot;
  try {
    const tls = options.tls ? { cert: options.tls.cert, key: options.tls.key } : {};
    server = D.serve(
      { hostname: options.hostname, port: options.port, ...tls, onListen: (a) => listening(a) },
      (req, info) => {
        const ws = options.websocket;
        if (ws && req.headers.get("upgrade")?.toLowerCase() === "websocket") {
          if (new URL(req.url).pathname !== ws.path) return new Response("Not Found", { status: 404 });
          const remote = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
          const { socket, response } = D.upgradeWebSocket(req);
          socket.addEventListener("open", () => {
            open.add(socket);
            ws.onOpen(wrapWebSocket(socket, remote, ws.maxMessageBytes));
          });
          socket.addEventListener("close", () => open.delete(socket));
          return response;
        }
        // Deno keeps the target as sent in `Request.url` (only its getters parse it), so it is the raw target.
        // Deno.serve has no header, idle or body timeout, and it keeps a connection that still owes request body
        // bytes after a `Connection: close` answer until the client leaves (Deno 2.9.5). Cutting the answer's
        // body stream does drop it, but only when no body read is pending, and it truncates the answer for
        // well-behaved clients whose body a route refused unread; so meshkv leaves such sockets to the client.
        if (hot !== undefined) {
          const target = targetOf(req.url);
          const direct = target === null ? null : answerDirect(hot, req, target);
          if (direct !== null) return direct;
        }
        return options.fetch(req, { rawTarget: req.url });
      },
    );
  } catch (err) {
    throw translateDenoError(err, `${options.hostname}:${options.port}`);
  }
  await ready;
  return {
    hostname: options.hostname,
    port: server.addr.port,
    async close() {
      for (const s of open) s.close(1001, "Server closing");
      await server.shutdown();
    },
  };
}

export const denoRuntime: Runtime = {
  name: "deno",
  version: D?.version.deno ?? "unknown",
  fs: denoFileSystem,
  clock: systemClock,
  random: createRandom,
  serve,
  dial: dialWs,
  listenTcp: (o) => listenDenoTcp(o, translateDenoError),
  dialTcp: dialDenoTcp,
  args: () => [...D.args],
  env: (name) => D.env.get(name),
  onSignal(signal, fn) {
    D.addSignalListener(signal, fn);
    return () => D.removeSignalListener(signal, fn);
  },
  exit: (code) => D.exit(code),
  memoryRss: () => D.memoryUsage().rss,
  // DNS servers only (Deno.resolveDns reads no hosts file): a name they do not know is dialled as given.
  resolveHost: async (host) => {
    const [v4, v6] = await Promise.allSettled([D.resolveDns(host, "A"), D.resolveDns(host, "AAAA")]);
    const found = [...(v4.status === "fulfilled" ? v4.value : []), ...(v6.status === "fulfilled" ? v6.value : [])];
    if (found.length === 0 && v4.status === "rejected") throw v4.reason;
    return found;
  },
  // Deno has no CPU clock of its own; Deno 2 serves Node's through the global `process`.
  cpuSeconds: () => {
    const u = (globalThis as { process?: { cpuUsage?(): { user: number; system: number } } }).process?.cpuUsage?.();
    return u ? (u.user + u.system) / 1e6 : 0;
  },
  pid: D?.pid ?? 0,
  processAlive,
};

/**
 * `Deno.kill` with signal 0 (kill(2)'s existence check: nothing is delivered). Deno's types list only named
 * signals, but the call passes 0 through (Deno 2.x), answering `NotFound` (ESRCH) for no such process and
 * `PermissionDenied` (EPERM) for someone else's process, which is running.
 */
function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new RangeError(`Invalid process id: ${pid}`);
  try {
    D.kill(pid, 0);
    return true;
  } catch (e) {
    if (e instanceof D.errors.NotFound!) return false;
    if (e instanceof D.errors.PermissionDenied!) return true;
    throw translateDenoError(e, `pid ${pid}`);
  }
}
