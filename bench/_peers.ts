/**
 * The peers bench/ycsb.ts compares meshkv with, driven by the same load generator:
 *
 * - etcd, three members on loopback (Raft: every write goes through the leader), spoken to through its v3
 *   HTTP/JSON gateway with the same `fetch` the meshkv SDK uses. Reads at level `one` are serializable (the
 *   member answers from its own state), at `quorum` linearizable (the default: a ReadIndex round through the
 *   leader). Read-modify-write is a real compare-and-swap: range, then a txn whose compare is the key's
 *   mod_revision, retried when another writer got there first, like the SDK's `update`.
 * - Redis, one unreplicated, non-persistent server: an upper bound for one process answering from memory.
 *   Spoken to in RESP over plain `node:net` sockets (no client library), one connection per worker.
 *   Read-modify-write is WATCH, GET, then MULTI/SET/EXEC, retried when EXEC is aborted.
 *
 * Both are installed from Debian's packages (`etcd-server`, `redis-server`) by `--install-peers`.
 */
import { spawnSync } from "node:child_process";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { fatal, freePort, type Proc, removeDir, startProc, stopProc, tempDir, waitFor } from "./_cluster.ts";

/** Where a binary is on PATH (or common sbin paths), or null. */
export function which(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/bin", "/usr/local/bin"]) {
    if (dir === "") continue;
    const r = spawnSync("test", ["-x", join(dir, name)]);
    if (r.status === 0) return join(dir, name);
  }
  return null;
}

/** The first line of `<bin> --version`, for the machine table. */
export function versionOf(bin: string, args = ["--version"]): string {
  const r = spawnSync(bin, args, { encoding: "utf8", timeout: 10_000 });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n").find((l) => l.trim() !== "")?.trim() ?? "unknown";
}

/** Installs etcd and Redis from Debian's packages after checking that apt knows the names. */
export function installPeers(): void {
  const packages = ["etcd-server", "redis-server"];
  const run = (cmd: string, args: string[]) => {
    console.log(`$ ${cmd} ${args.join(" ")}`);
    const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed with status ${r.status}`);
  };
  run("apt-get", ["update"]);
  const policy = spawnSync("apt-cache", ["policy", ...packages], { encoding: "utf8" }).stdout ?? "";
  const known = packages.filter((p) =>
    new RegExp(`^${p}:\\n\\s+Installed: .*\\n\\s+Candidate: (?!\\(none\\))`, "m").test(policy)
  );
  for (const p of packages.filter((p) => !known.includes(p))) console.log(`apt has no candidate for ${p}: skipping it`);
  if (known.length > 0) run("apt-get", ["install", "-y", ...known]);
}

// ---------------------------------------------------------------------------------------------------------
// etcd

export interface EtcdCluster {
  urls: string[];
  /** The members' process ids (for their CPU use). */
  pids: number[];
  version: string;
  stop(): Promise<void>;
}

const b64 = (s: string | Uint8Array) => Buffer.from(s).toString("base64");

export async function startEtcdCluster(etcd: string, members = 3): Promise<EtcdCluster> {
  const dir = tempDir("etcd-ycsb-");
  const ports = [];
  for (let i = 0; i < members; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const initial = ports.map((p, i) => `e${i + 1}=http://127.0.0.1:${p.peer}`).join(",");
  const procs: Proc[] = ports.map((p, i) =>
    startProc(`etcd-e${i + 1}`, etcd, [
      "--name",
      `e${i + 1}`,
      "--data-dir",
      join(dir, `e${i + 1}`),
      "--listen-client-urls",
      `http://127.0.0.1:${p.client}`,
      "--advertise-client-urls",
      `http://127.0.0.1:${p.client}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${p.peer}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${p.peer}`,
      "--initial-cluster",
      initial,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      "meshkv-ycsb",
      "--logger",
      "zap",
      "--log-level",
      "error",
    ], dir)
  );
  const urls = ports.map((p) => `http://127.0.0.1:${p.client}`);
  const stop = async () => {
    await Promise.all(procs.map((p) => stopProc(p)));
    removeDir(dir);
  };
  try {
    for (const [i, url] of urls.entries()) {
      await waitFor(`etcd member e${i + 1} to be healthy`, 60_000, async () => {
        if (procs[i]!.child.exitCode !== null) throw fatal(`etcd exited:\n${procs[i]!.output()}`);
        const res = await fetch(`${url}/health`);
        return res.status === 200 && ((await res.json()) as { health?: string }).health === "true";
      });
    }
    // A first write proves the gateway path is the one this etcd speaks (3.4 and later: /v3/).
    await etcdPut(urls[0]!, "ycsb-probe", new Uint8Array([1]));
  } catch (e) {
    await stop();
    throw e;
  }
  return { urls, pids: procs.map((p) => p.child.pid ?? 0), version: versionOf(etcd), stop };
}

let etcdFetch: typeof fetch = (input, init) => fetch(input, init);

/** The fetch the etcd calls use (the load generator's, so every HTTP system is reached the same way). */
export function useEtcdFetch(f: typeof fetch): void {
  etcdFetch = f;
}

async function etcdPost(url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await etcdFetch(`${url}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`etcd ${path}: ${res.status} ${JSON.stringify(json).slice(0, 200)}`);
  return json;
}

export async function etcdPut(url: string, key: string, value: Uint8Array): Promise<void> {
  await etcdPost(url, "/v3/kv/put", { key: b64(key), value: b64(value) });
}

/** The value and mod_revision of a key, or null. `serializable` reads answer from the member's own state. */
export async function etcdGet(
  url: string,
  key: string,
  serializable: boolean,
): Promise<{ value: Uint8Array; modRevision: string } | null> {
  const body: Record<string, unknown> = { key: b64(key) };
  if (serializable) body.serializable = true;
  const r = await etcdPost(url, "/v3/kv/range", body);
  const kv = (r.kvs as { value?: string; mod_revision?: string }[] | undefined)?.[0];
  if (kv === undefined) return null;
  return { value: new Uint8Array(Buffer.from(kv.value ?? "", "base64")), modRevision: kv.mod_revision ?? "0" };
}

/** Puts many keys in one txn (at most 128 ops by etcd's default --max-txn-ops). */
export async function etcdPutMany(url: string, entries: [string, Uint8Array][]): Promise<void> {
  await etcdPost(url, "/v3/kv/txn", {
    success: entries.map(([k, v]) => ({ request_put: { key: b64(k), value: b64(v) } })),
  });
}

/** Compare-and-swap on mod_revision ("0" means the key must not exist); true when the write happened. */
export async function etcdCas(url: string, key: string, modRevision: string, value: Uint8Array): Promise<boolean> {
  const r = await etcdPost(url, "/v3/kv/txn", {
    compare: [{ key: b64(key), target: "MOD", result: "EQUAL", mod_revision: modRevision }],
    success: [{ request_put: { key: b64(key), value: b64(value) } }],
  });
  return r.succeeded === true;
}

// ---------------------------------------------------------------------------------------------------------
// Redis

export interface RedisServer {
  port: number;
  pids: number[];
  version: string;
  stop(): Promise<void>;
}

export async function startRedis(redisServer: string): Promise<RedisServer> {
  const dir = tempDir("redis-ycsb-");
  const port = await freePort();
  const p = startProc("redis", redisServer, [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--protected-mode",
    "no",
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
  ], dir);
  const stop = async () => {
    await stopProc(p);
    removeDir(dir);
  };
  try {
    await waitFor("redis to answer PING", 30_000, async () => {
      if (p.child.exitCode !== null) throw fatal(`redis-server exited:\n${p.output()}`);
      const c = await RespConnection.open(port);
      try {
        return (await c.command(["PING"])) === "PONG";
      } finally {
        c.close();
      }
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, pids: [p.child.pid ?? 0], version: versionOf(redisServer), stop };
}

export type RespValue = string | number | Uint8Array | null | RespValue[] | Error;

/**
 * A minimal RESP2 client on one socket: commands are written in order and answered in order, so replies are
 * matched to a FIFO of waiting callers. Bulk strings come back as bytes, simple strings as text.
 */
export class RespConnection {
  readonly #socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  readonly #waiting: { resolve: (v: RespValue) => void; reject: (e: Error) => void }[] = [];

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => this.#onData(d));
    const fail = (e: Error) => {
      for (const w of this.#waiting.splice(0)) w.reject(e);
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("Redis connection closed")));
  }

  static open(port: number): Promise<RespConnection> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port }, () => {
        s.off("error", reject);
        resolve(new RespConnection(s));
      });
      s.once("error", reject);
    });
  }

  /** Sends several commands in one write and resolves with their replies in order. */
  pipeline(commands: (string | Uint8Array)[][]): Promise<RespValue[]> {
    const parts: Buffer[] = [];
    for (const cmd of commands) {
      parts.push(Buffer.from(`*${cmd.length}\r\n`));
      for (const arg of cmd) {
        const b = typeof arg === "string" ? Buffer.from(arg) : Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength);
        parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
      }
    }
    const replies = commands.map(() =>
      new Promise<RespValue>((resolve, reject) => this.#waiting.push({ resolve, reject }))
    );
    this.#socket.write(Buffer.concat(parts));
    return Promise.all(replies);
  }

  async command(cmd: (string | Uint8Array)[]): Promise<RespValue> {
    const [r] = await this.pipeline([cmd]);
    if (r instanceof Error) throw r;
    return r!;
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    for (;;) {
      const parsed = parseResp(this.#buf, 0);
      if (parsed === null) return;
      this.#buf = this.#buf.subarray(parsed.end);
      this.#waiting.shift()?.resolve(parsed.value);
    }
  }
}

/** Parses one RESP2 value at `at`; null when the buffer does not hold all of it yet. */
function parseResp(buf: Buffer, at: number): { value: RespValue; end: number } | null {
  const eol = buf.indexOf("\r\n", at);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString("latin1", at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case "+":
      return { value: line, end: next };
    case "-":
      return { value: new Error(line), end: next };
    case ":":
      return { value: Number(line), end: next };
    case "$": {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return null;
      return { value: new Uint8Array(buf.subarray(next, next + n)), end: next + n + 2 };
    }
    case "*": {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let end = next;
      for (let i = 0; i < n; i++) {
        const item = parseResp(buf, end);
        if (item === null) return null;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`Unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}
