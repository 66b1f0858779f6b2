/**
 * The runtime seam: every interface the rest of meshkv uses to reach the outside world.
 *
 * Everything that differs between Deno, Bun and Node (files, sockets, timers, the process) sits behind these
 * interfaces, after Hono's `src/adapter/*` and deno std's `fs/_utils.ts`. `node.ts`, `deno.ts`, `bun.ts` and
 * `memory.ts` implement them; `detect.ts` picks one. No other folder may touch `Deno.*`, `Bun.*`, `node:*` or
 * `process`, and no other folder reads the clock or draws random numbers except through `Clock` and `Random`
 * (design conventions 2 and 3). That is what lets the simulation run the same code on a manual clock.
 *
 * Bytes are `Uint8Array` only. Native errors are translated inside each adapter into `MeshkvError` codes
 * (`NOT_FOUND`, `ALREADY_EXISTS`, `IS_DIRECTORY`, `NOT_DIRECTORY`, `NOT_EMPTY`, `PERMISSION_DENIED`,
 * `IO_ERROR`, `CLOSED`).
 */

// ---------------------------------------------------------------------------------------------------------
// Files

export interface OpenOptions {
  /** Create the file when it does not exist (default false: a missing file is `NOT_FOUND`). */
  create?: boolean;
  /** With `create`, fail with `ALREADY_EXISTS` when the file exists. */
  exclusive?: boolean;
  /** Cut the file to zero bytes on open. */
  truncate?: boolean;
  /** Open for reading only (default false: read and write). */
  readOnly?: boolean;
}

/** An open file. Operations on one handle may be issued concurrently; each adapter keeps them correct. */
export interface FileHandle {
  readonly path: string;
  /**
   * Reads up to `length` bytes at `offset`. Returns fewer bytes when the file ends first, and an empty array
   * when `offset` is at or past the end (reading past the end is not an error; callers that need exactly
   * `length` bytes check the length).
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Reads up to `into.length` bytes at `offset` into the caller's buffer (any view: only its bytes are
   * written) and returns how many it read: fewer only when the file ends first, 0 at or past the end. Lets a
   * caller reuse one buffer for many reads.
   */
  readInto(offset: number, into: Uint8Array): Promise<number>;
  /**
   * `readInto`, done synchronously on the calling thread: for small reads that the operating system serves
   * from its page cache, where the trip through the runtime's I/O thread pool costs several times the read
   * itself. Returns null when the handle cannot read synchronously right now (Deno: another operation on the
   * handle is in flight and owns its cursor); the caller then uses `readInto`. It blocks the thread, and a
   * loop of them never lets the event loop run: callers must yield (e.g. do an asynchronous read) regularly.
   * The Node, Bun and Deno adapters have it; the memory file system does not (its reads stay asynchronous,
   * so the simulation's interleavings are those of real I/O).
   */
  readIntoSync?(offset: number, into: Uint8Array): number | null;
  /** Writes all of `data` at `offset`, extending the file when needed. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Writes all of `data` at the current end of the file; returns the offset it was written at. */
  append(data: Uint8Array): Promise<number>;
  /**
   * `append`, done synchronously on the calling thread (a `pwrite` into the page cache): for the log's small
   * appends, where the trip through the runtime's I/O thread pool costs several times the write itself.
   * Returns null when the handle cannot write synchronously right now (Deno: another operation on the handle
   * is in flight and owns its cursor); the caller then uses `append`. The memory file system does not have it
   * (its writes stay asynchronous, so the simulation's interleavings are those of real I/O).
   */
  appendSync?(data: Uint8Array): number | null;
  /** Makes the file's data durable (fdatasync). */
  sync(): Promise<void>;
  /** The file's current size in bytes, including writes not yet synced. */
  size(): Promise<number>;
  /** Cuts or extends the file to `size` bytes. */
  truncate(size: number): Promise<void>;
  /** Closes the handle; later calls fail with `CLOSED`. Closing twice is allowed. */
  close(): Promise<void>;
}

export interface FileInfo {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly size: number;
}

export interface FileSystem {
  open(path: string, options?: OpenOptions): Promise<FileHandle>;
  /** Reads a whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Information about a path, or `NOT_FOUND`. */
  stat(path: string): Promise<FileInfo>;
  /** Renames atomically, replacing `to` when it is an existing file. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file or an empty directory (`recursive` removes a tree). Missing paths are `NOT_FOUND`. */
  remove(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** The names (not paths) in a directory, sorted. */
  list(dir: string): Promise<string[]>;
  /** Makes a directory; `recursive` makes parents and accepts an existing directory. */
  mkdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** Makes the directory's entries (creations, renames, removals) durable. */
  syncDir(path: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Time and randomness

/** An opaque timer handle, only for passing back to `clearTimeout`/`clearInterval`. */
export type TimerHandle = { readonly __timer: unique symbol };

export interface Clock {
  /** Wall-clock time in milliseconds since the Unix epoch. May jump; use it for timestamps, not durations. */
  now(): number;
  /** Monotonic milliseconds (fractional) from an arbitrary origin, for measuring durations and deadlines. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
  /** Resolves after `ms`; rejects with the signal's reason when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Runs `fn` once the current task and the I/O callbacks that are ready with it have run (`setImmediate`),
   * without a timer's delay (a zero-ms timer waits a millisecond or more): for gathering work produced in one
   * turn of the event loop into one write. Not time: the manual clock runs it as a microtask.
   */
  defer(fn: () => void): void;
}

/** A seedable pseudo-random source. Same seed, same sequence, on every runtime. */
export interface Random {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
  /** An independent source derived from this one (for giving each simulated node its own stream). */
  fork(): Random;
}

// ---------------------------------------------------------------------------------------------------------
// Sockets and servers

/**
 * A message-oriented, binary, bidirectional connection (a WebSocket on real runtimes, a queue pair in
 * memory). Messages and the close event that arrive before handlers are attached are buffered and delivered
 * when `setHandlers` is called, so no frame is lost between accept and setup.
 */
export interface PeerSocket {
  /** Where the other end is, for logs (`127.0.0.1:53122`). */
  readonly remote: string;
  /** Bytes queued for sending and not yet handed to the operating system. */
  readonly bufferedAmount: number;
  readonly isOpen: boolean;
  /** Queues a binary message. Sending on a closed socket throws `MeshkvError` `CONNECTION_CLOSED`. */
  send(data: Uint8Array): void;
  /**
   * Closes with a WebSocket close code. 1000 and 3000-4999 go on the wire as given; other codes (1002 protocol
   * error, 1008 policy, 1009 too big) are sent as 4000 + (code % 1000), e.g. 4009, because web-standard
   * sockets refuse them. Reasons are cut to 123 bytes.
   */
  close(code?: number, reason?: string): void;
  setHandlers(handlers: SocketHandlers): void;
}

export interface SocketHandlers {
  message(data: Uint8Array): void;
  close(code: number, reason: string): void;
}

export interface WebSocketOptions {
  /** The path that accepts upgrades (e.g. `/mesh`); other paths go to `fetch`. */
  path: string;
  /** Messages larger than this close the connection with code 1009 (sent as 4009). */
  maxMessageBytes: number;
  onOpen(socket: PeerSocket): void;
}

/** What an adapter knows of a request beyond the `Request` it built. */
export interface ServeRequestInfo {
  /**
   * The request target exactly as sent (before URL parsing resolved `.`/`..` segments or backslashes), in
   * origin-form or as a whole URL; null where the runtime keeps no raw copy (Bun.serve).
   */
  rawTarget: string | null;
  /**
   * Set where the runtime could not recover this request's raw target although it recovers others (Bun: a raw
   * path deeper than its routes): the reason, and the app refuses the request as it would a rewritten path.
   */
  rawTargetUnverifiable?: string;
}

/**
 * A request of a hot route, handed over without building a `Request` (see `FetchHandler.hot`). Only requests
 * whose body is absent or framed by Content-Length are handed over.
 */
export interface PlainRequest {
  method: string;
  /** The request target as sent (origin-form: path and query). */
  target: string;
  /** What `Request.url` would be for this request (the adapter's own scheme, Host and target). */
  url: string;
  /** A header's value (name in lower case), several of one name joined with ", " as `Headers.get` does. */
  header(name: string): string | undefined;
  /** The whole body (empty when none); rejects if the connection fails first. Read it at most once. */
  body(): Promise<Uint8Array>;
}

/** The answer to a `PlainRequest`: header names in lower case; a body is sent whole, with its length. */
export interface PlainResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string | null;
}

/** A fetch handler, optionally with a cheaper way in for its hot routes. */
export interface FetchHandler {
  /** `info` is absent where a server has nothing to add (the memory runtime). */
  (request: Request, info?: ServeRequestInfo): Response | Promise<Response>;
  /**
   * The same answers as the handler gives, for the requests it takes (null: not one of them, serve it through
   * the handler). Every adapter uses it when it is there: Node hands over its `IncomingMessage` (no `Request`
   * built), Deno and Bun their native `Request` (`_plain.ts`: no router, middleware or Hono context).
   */
  hot?: (request: PlainRequest) => Promise<PlainResponse> | null;
}

export interface ServeOptions {
  hostname: string;
  /** 0 picks a free port; the chosen one is on the returned server. */
  port: number;
  fetch: FetchHandler;
  websocket?: WebSocketOptions;
  /**
   * Serve HTTPS and `wss://` instead of HTTP and `ws://`, with this certificate chain and private key (PEM
   * text). The memory runtime refuses it with `UNSUPPORTED`.
   */
  tls?: TlsServerOptions;
}

export interface TlsServerOptions {
  /** The certificate chain, PEM. */
  cert: string;
  /** The certificate's private key, PEM. */
  key: string;
}

export interface RunningServer {
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting, closes open WebSockets and resolves when the port is free. */
  close(): Promise<void>;
}

export interface DialOptions {
  maxMessageBytes: number;
  /** Give up (with `CONNECT_FAILED`) when the connection is not open after this long. */
  timeoutMs: number;
  /**
   * For `wss://`: a CA certificate (PEM) to trust besides the system's, e.g. a private cluster CA, per
   * connection on every runtime (Deno dials through `ws`; its `DENO_CERT` also still works, process-wide).
   */
  ca?: string;
}

/**
 * A listener for node-to-node traffic over plain TCP (`Runtime.listenTcp`): each connection is a message-oriented
 * `PeerSocket` over the byte stream (`_framed.ts`: every message preceded by its length, a close record carrying
 * the close code), so the mesh runs its handshake and frames on it unchanged, without WebSocket framing.
 */
export interface TcpListenOptions {
  hostname: string;
  /** 0 picks a free port; the chosen one is on the returned listener. */
  port: number;
  /** Messages larger than this close the connection with code 1009 (sent as 4009). */
  maxMessageBytes: number;
  onOpen(socket: PeerSocket): void;
}

export interface TcpListener {
  readonly port: number;
  /** Stops accepting, closes open connections and resolves when the port is free. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// The bundle

export type RuntimeName = "node" | "deno" | "bun" | "memory";

export type SignalName = "SIGINT" | "SIGTERM";

/** Everything one runtime provides. `detect.ts` returns the one for the runtime we are on. */
export interface Runtime {
  readonly name: RuntimeName;
  /** The runtime's own version (`20.20.2`, `2.9.6`, `1.4.5`). */
  readonly version: string;
  readonly fs: FileSystem;
  readonly clock: Clock;
  /** A seeded source; without a seed, one drawn from the operating system's entropy. */
  random(seed?: number): Random;
  serve(options: ServeOptions): Promise<RunningServer>;
  dial(url: string, options: DialOptions): Promise<PeerSocket>;
  /**
   * Plain TCP for the mesh (see `TcpListenOptions`): a second port beside the HTTP one, cheaper per message than
   * a WebSocket on Node and Deno. Absent on Bun (whose native WebSocket it did not beat) and the memory runtime;
   * the simulated network has it. No TLS: a cluster with TLS keeps its mesh on `wss://`.
   */
  listenTcp?(options: TcpListenOptions): Promise<TcpListener>;
  /** Dials a `listenTcp` port; `CONNECT_FAILED` when refused or not open within `options.timeoutMs`. */
  dialTcp?(host: string, port: number, options: DialOptions): Promise<PeerSocket>;
  /**
   * Settings for a long-running server, applied once by `meshkv start` before the node opens (never by the SDK).
   * Node: V8's old generation may grow to twice its live data before a full collection (`SERVER_V8_FLAGS` in
   * `_v8_flags.ts`, docs/bench.md's fifteenth round). Absent where there is nothing to set at run time (Deno takes V8
   * flags only on its command line, so `deno task start` passes the same ones there; Bun's JavaScriptCore has no
   * such setting).
   */
  tuneForServer?(): void;
  /** Command-line arguments after the script. */
  args(): string[];
  env(name: string): string | undefined;
  /** Runs `fn` on the signal; returns a function that removes the listener. */
  onSignal(signal: SignalName, fn: () => void): () => void;
  exit(code: number): never;
  /** Resident memory of this process in bytes, for stats and benchmarks. */
  memoryRss(): number;
  /**
   * Every address (IPv4 and IPv6) a host name resolves to, for seeds given as a DNS name with several records
   * (a headless Kubernetes Service). Absent on the memory runtime, whose hosts are names already.
   */
  resolveHost?(host: string): Promise<string[]>;
  /** CPU time this process has used, user and system, in seconds (for `/metrics`; the memory runtime says 0). */
  cpuSeconds(): number;
  /** This process's id (the memory runtime says 1). */
  readonly pid: number;
  /**
   * Whether a process with id `pid` is running, without disturbing it (a zero signal: a process we may not
   * signal still counts as running). For telling a live lock owner from a crashed one. A `pid` that is not a
   * positive integer is a `RangeError` (0 and negative ids name process groups).
   */
  processAlive(pid: number): boolean;
}
