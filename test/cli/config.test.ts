/**
 * Config files for `meshkv start` (`--config FILE`, `MESHKV_CONFIG`): the checks on their keys and types, the
 * precedence (defaults, then the file, then flags), real processes on the runtime running this file, and the
 * deployment examples in examples/deploy/, whose commands and config files must be ones `meshkv start` takes.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyDefaults, parseFlags, withoutDefaults } from "../../src/cli/args.ts";
import { configValues, mergeFlags, parseConfig, withConfigFlag } from "../../src/cli/config.ts";
import { replicationOptions, START_FLAGS } from "../../src/cli/start.ts";
import { isMeshkvError } from "../../src/errors.ts";
import { bytes, realRuntime, repoRoot, tempDir } from "../_helpers.ts";
import { commandFor, runCli, type RuntimeKind, startProcess } from "../_process.ts";

const rt = await realRuntime();
const kind = rt.name as RuntimeKind;

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isMeshkvError(err, "INVALID_ARGUMENT"), `expected INVALID_ARGUMENT, got ${String(err)}`);
    return (err as Error).message;
  }
  assert.unreachable("expected the config to be refused");
  return "";
}

test("configValues() takes each flag at its type, and a list also as comma-separated text", () => {
  const v = configValues(
    {
      port: 7401,
      seeds: ["a:1", " b:2 "],
      datacenter: "us-east",
      tokens: "read:xxxxxxxxxxxxxxxxxx,write:yyyyyyyyyyyyyyyyyy",
    },
    START_FLAGS,
    "f.json",
  );
  assert.equal(v, {
    port: 7401,
    seeds: ["a:1", "b:2"],
    datacenter: "us-east",
    tokens: ["read:xxxxxxxxxxxxxxxxxx", "write:yyyyyyyyyyyyyyyyyy"],
  });
  assert.equal(parseConfig("{}", START_FLAGS, "f.json"), {});
});

test("configValues() refuses unknown keys and wrong types with a message naming the key", () => {
  const cases: [unknown, RegExp][] = [
    [{ prot: 7400 }, /f\.json: unknown key "prot": keys are the long flag names of meshkv start --help/],
    [{ "--port": 7400 }, /unknown key "--port" \(write it without dashes: "port"\)/],
    [{ config: "other.json" }, /unknown key "config"/],
    [{ help: true }, /unknown key "help"/],
    [{ toString: "x" }, /unknown key "toString"/],
    [{ port: "7400" }, /key "port" must be a whole number: got string "7400"/],
    [{ port: 1.5 }, /key "port" must be a whole number: got number 1.5/],
    [{ port: 70000 }, /key "port" must be between 0 and 65535: got 70000/],
    [{ datacenter: 3 }, /key "datacenter" must be a string: got number 3/],
    [{ seeds: [1, 2] }, /key "seeds" must be an array of strings: got an array/],
    [{ seeds: { a: 1 } }, /key "seeds" must be an array of strings: got an object/],
    [[1, 2], /must hold a JSON object of flag names and values: got an array/],
    [null, /must hold a JSON object .*got null/],
  ];
  for (const [input, message] of cases) {
    assert.match(refusal(() => configValues(input, START_FLAGS, "f.json")), message);
  }
  assert.match(refusal(() => parseConfig("{ port: 1 }", START_FLAGS, "f.json")), /f\.json: not valid JSON/);
  const flagTable = { verbose: { type: "bool" as const, description: "" } };
  assert.equal(configValues({ verbose: false }, flagTable, "f.json"), { verbose: false });
  assert.match(
    refusal(() => configValues({ verbose: "yes" }, flagTable, "f.json")),
    /key "verbose" must be true or false: got string "yes"/,
  );
});

test("mergeFlags() applies defaults, then the file, then the flags given on the command line", () => {
  const given = parseFlags(["--datacenter", "ap-south"], withoutDefaults(START_FLAGS)).flags;
  const merged = mergeFlags(START_FLAGS, { datacenter: "eu-west", port: 9000 }, given);
  assert.is(merged.datacenter, "ap-south");
  assert.is(merged.port, 9000);
  assert.is(merged.host, START_FLAGS.host!.default);
  assert.equal(merged, applyDefaults({ datacenter: "ap-south", port: 9000 }, START_FLAGS));
  assert.ok("config" in withConfigFlag(START_FLAGS) && !("config" in START_FLAGS));
  assert.equal(Object.keys(withConfigFlag(START_FLAGS)).slice(-2), ["config", "help"]);
});

/** Starts the CLI with extra environment variables and waits for its "listening on" line. */
function startWithEnv(
  args: string[],
  env: Record<string, string>,
): Promise<{ url: string; output: () => string; stop: () => Promise<void> }> {
  const [cmd, argv] = commandFor(kind, args);
  const child = spawn(cmd, argv, {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  let out = "";
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`meshkv did not start in time:\n${out}`));
    }, 20_000);
    child.stderr!.on("data", (d) => (out += d));
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/[\w.:]+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        url: m[1]!,
        output: () => out,
        async stop() {
          child.kill("SIGINT");
          await exited;
        },
      });
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`meshkv exited with ${code} before listening:\n${out}`));
    });
  });
}

async function writeJson(path: string, value: unknown): Promise<void> {
  const f = await rt.fs.open(path, { create: true, truncate: true });
  await f.write(0, bytes(JSON.stringify(value)));
  await f.close();
}

async function identity(url: string): Promise<{ id: string; datacenter: string }> {
  const health = await (await fetch(`${url}/health`)).json();
  const { members } = await (await fetch(`${url}/v1/admin/members`)).json();
  const self = members.find((m: { id: string }) => m.id === health.nodeId);
  return { id: health.nodeId, datacenter: self.datacenter };
}

test(`meshkv start --config on ${kind} uses the file's values, and flags given on the command line win`, async () => {
  const root = await tempDir(rt.fs, "cli-config");
  const file = `${root}/node.json`;
  await writeJson(file, { id: "from-file", datacenter: "eu-west", port: 0, data: `${root}/a`, "mesh-preset": "fast" });
  const plain = await startProcess(kind, ["start", "--config", file]);
  try {
    assert.equal(await identity(plain.url), { id: "from-file", datacenter: "eu-west" });
    assert.match(plain.output(), /read 5 settings from config file .*node\.json/);
  } finally {
    await plain.stop();
  }
  const overridden = await startProcess(kind, [
    "start",
    "--datacenter",
    "ap-south",
    "--config",
    file,
    "--data",
    `${root}/b`,
    "--id",
    "from-flag",
  ]);
  try {
    assert.equal(await identity(overridden.url), { id: "from-flag", datacenter: "ap-south" });
  } finally {
    await overridden.stop();
  }
  const fromEnv = await startWithEnv(["start", "--data", `${root}/c`], { MESHKV_CONFIG: file });
  try {
    assert.equal(await identity(fromEnv.url), { id: "from-file", datacenter: "eu-west" });
  } finally {
    await fromEnv.stop();
  }
  await rt.fs.remove(root, { recursive: true });
});

test(`meshkv start on ${kind} refuses a bad config file with a message naming the key and exit status 2`, async () => {
  const root = await tempDir(rt.fs, "cli-config");
  const files: [string, string | object, RegExp][] = [
    ["unknown.json", { port: 0, prot: 7400 }, /meshkv: Config file .*unknown\.json: unknown key "prot"/],
    ["type.json", { port: "7400" }, /key "port" must be a whole number: got string "7400"/],
    ["list.json", { seeds: [7400] }, /key "seeds" must be an array of strings/],
    ["help.json", { help: true }, /unknown key "help"/],
    ["syntax.json", "{ port: 0 }", /syntax\.json: not valid JSON/],
  ];
  for (const [name, body] of files) {
    if (typeof body === "string") {
      const f = await rt.fs.open(`${root}/${name}`, { create: true, truncate: true });
      await f.write(0, bytes(body));
      await f.close();
    } else await writeJson(`${root}/${name}`, body);
  }
  const results = await Promise.all([
    ...files.map(([name]) => runCli(kind, ["start", "--config", `${root}/${name}`, "--data", `${root}/data`])),
    runCli(kind, ["start", "--config", `${root}/missing.json`]),
    runCli(kind, ["start", "--config"]),
    runCli(kind, ["start", "--help"]),
  ]);
  files.forEach(([name, , message], i) => {
    const r = results[i]!;
    assert.is(r.code, 2, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
  });
  const [missing, noValue, help] = results.slice(files.length);
  assert.is(missing!.code, 2);
  assert.match(missing!.stderr, /Config file .*missing\.json: cannot read it/);
  assert.is(noValue!.code, 2);
  assert.match(noValue!.stderr, /Flag --config needs a value/);
  assert.is(help!.code, 0);
  assert.match(help!.stdout, /--config\s+JSON file of flag values/);
  assert.match(help!.stdout, /MESHKV_CONFIG/);
  await rt.fs.remove(root, { recursive: true });
});

// ---------------------------------------------------------------------------------------------------------
// examples/deploy: Docker cannot run in this suite, so the files are parsed and their meshkv commands and
// config files are checked against the flags `meshkv start` really has.

/**
 * A YAML subset, enough for the deploy files and strict about the rest: block mappings and sequences by
 * indentation, `#` comments, plain, quoted and `|` block scalars, flow collections written as JSON, `---`
 * between documents. Anything outside it throws, so the files stay within what this test can check.
 */
function parseYamlSubset(text: string): unknown[] {
  const docs: string[][] = [[]];
  for (const line of text.split("\n")) {
    if (line.trim() === "---") docs.push([]);
    else docs.at(-1)!.push(line);
  }
  return docs.map((lines) => new YamlReader(lines).document()).filter((d) => d !== undefined);
}

class YamlReader {
  #lines: string[];
  #i = 0;
  constructor(lines: string[]) {
    this.#lines = lines;
  }
  #strip(line: string): string {
    let quote: string | null = null;
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (quote) quote = c === quote ? null : quote;
      else if (c === '"' || c === "'") quote = c;
      else if (c === "#" && (i === 0 || line[i - 1] === " ")) return line.slice(0, i).trimEnd();
    }
    return line.trimEnd();
  }
  /** The next meaningful line as [indent, text], skipping blanks and comments. */
  #peek(): [number, string] | null {
    while (this.#i < this.#lines.length) {
      const text = this.#strip(this.#lines[this.#i]!);
      if (text.trim() !== "") return [text.length - text.trimStart().length, text.trim()];
      this.#i++;
    }
    return null;
  }
  document(): unknown {
    const first = this.#peek();
    if (!first) return undefined;
    const v = this.#block(first[0]);
    if (this.#peek()) throw new SyntaxError(`YAML subset: unexpected line ${this.#i + 1}: ${this.#lines[this.#i]}`);
    return v;
  }
  #block(indent: number): unknown {
    const [, text] = this.#peek()!;
    return text === "-" || text.startsWith("- ") ? this.#sequence(indent) : this.#mapping(indent, null);
  }
  #sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    for (let p = this.#peek(); p && p[0] === indent && (p[1] === "-" || p[1].startsWith("- ")); p = this.#peek()) {
      const rest = p[1].slice(1).trim();
      if (rest === "") {
        this.#i++;
        out.push(this.#nested(indent));
      } else if (/^[\w./-]+:(\s|$)/.test(rest)) out.push(this.#mapping(indent + 2, rest));
      else {
        this.#i++;
        out.push(scalar(rest));
      }
    }
    return out;
  }
  /** A mapping at `indent`; `first` is its first line's text when it sits after a sequence's dash. */
  #mapping(indent: number, first: string | null): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    let text: string | null = first;
    for (;;) {
      if (text === null) {
        const p = this.#peek();
        if (!p || p[0] < indent) return out;
        if (p[0] > indent) throw new SyntaxError(`YAML subset: bad indentation at line ${this.#i + 1}`);
        text = p[1];
      }
      const m = /^([\w./-]+):(?:\s+(.*))?$/.exec(text);
      if (!m) throw new SyntaxError(`YAML subset: expected "key: value" at line ${this.#i + 1}: ${text}`);
      this.#i++;
      const [, key, value] = m as unknown as [string, string, string | undefined];
      if (Object.hasOwn(out, key)) throw new SyntaxError(`YAML subset: duplicate key ${key} at line ${this.#i}`);
      if (value === undefined) out[key] = this.#nested(indent);
      else if (value === "|") out[key] = this.#literal(indent);
      else out[key] = scalar(value);
      text = null;
    }
  }
  #nested(indent: number): unknown {
    const p = this.#peek();
    return p && p[0] > indent ? this.#block(p[0]) : null;
  }
  #literal(indent: number): string {
    const lines: string[] = [];
    while (this.#i < this.#lines.length) {
      const line = this.#lines[this.#i]!;
      if (line.trim() !== "" && line.length - line.trimStart().length <= indent) break;
      lines.push(line);
      this.#i++;
    }
    while (lines.length > 0 && lines.at(-1)!.trim() === "") lines.pop();
    const cut = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length));
    return lines.map((l) => l.slice(cut)).join("\n") + "\n";
  }
}

function scalar(text: string): unknown {
  if (text.startsWith('"') || text.startsWith("[") || text.startsWith("{")) return JSON.parse(text);
  if (text.startsWith("'")) {
    if (!text.endsWith("'")) throw new SyntaxError(`YAML subset: unterminated string: ${text}`);
    return text.slice(1, -1).replaceAll("''", "'");
  }
  if (text === "true" || text === "false") return text === "true";
  if (text === "null" || text === "~") return null;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (/^[&*!|>%@\x60]/.test(text)) throw new SyntaxError(`YAML subset: unsupported syntax: ${text}`);
  return text;
}

test("parseYamlSubset() reads mappings, sequences, block scalars and JSON flow, and refuses what it does not know", () => {
  const [a, b] = parseYamlSubset(
    "a: 1 # one\nb:\n  - x\n  - k: 'it''s'\n    n: [1, \"#\"]\nc: |\n  {\"p\": 1}\n  two\nd: true\n---\n- ~\n",
  );
  assert.equal(a, { a: 1, b: ["x", { k: "it's", n: [1, "#"] }], c: '{"p": 1}\ntwo\n', d: true });
  assert.equal(b, [null]);
  for (const bad of ["a: &anchor 1", "a: 1\n  b: 2", "a: 1\na: 2", "just text"]) {
    assert.throws(() => parseYamlSubset(bad), SyntaxError, bad);
  }
});

const deploy = (name: string) => readFileSync(`${repoRoot}/examples/deploy/${name}`, "utf8");
const startTable = withoutDefaults(withConfigFlag(START_FLAGS));
const REGIONS = ["us-east", "eu-west", "ap-south"];
// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

test("examples/deploy/docker-compose.yml runs one node per region with flags meshkv start takes, seeded from the others", () => {
  const [compose] = parseYamlSubset(deploy("docker-compose.yml")) as [Obj];
  assert.equal(Object.keys(compose.services), REGIONS);
  const dockerfile = deploy("Dockerfile");
  assert.match(dockerfile, /^FROM node:20/m);
  for (const copy of dockerfile.matchAll(/^COPY (.+) \S+$/gm)) {
    if (copy[1]!.startsWith("--from=")) continue; // from an earlier stage, not the repository
    for (const path of copy[1]!.split(" ")) {
      assert.ok(existsSync(`${repoRoot}/${path}`), `Dockerfile copies ${path}, which exists`);
    }
  }
  assert.is(compose.services["us-east"].build.dockerfile, "examples/deploy/Dockerfile");
  const hostPorts = new Set<string>();
  for (const region of REGIONS) {
    const svc = compose.services[region] as Obj;
    assert.is(svc.image, "meshkv:dev");
    assert.is(svc.command[0], "start");
    const { flags, positional } = parseFlags(svc.command.slice(1), startTable); // throws on any unknown flag
    assert.equal(positional, []);
    assert.is(flags.datacenter, region);
    assert.is(flags.host, "0.0.0.0");
    assert.is(flags.advertise, `${region}:7400`);
    assert.equal(flags.seeds, REGIONS.filter((r) => r !== region).map((r) => `${r}:7400`));
    assert.is(flags.data, "/data");
    assert.is(flags.replication, "us-east:1,eu-west:1,ap-south:1");
    assert.is(
      replicationOptions(applyDefaults(flags, START_FLAGS)).replication.n,
      3,
      "meshkv start reads one replica per region",
    );
    assert.ok(svc.volumes[0].endsWith(":/data"));
    assert.match(svc.environment.MESHKV_SECRET, /^\$\{MESHKV_SECRET:\?/);
    assert.match(svc.environment.MESHKV_TOKENS, /^\$\{MESHKV_TOKENS:\?/);
    const [host, container] = String(svc.ports[0]).split(":");
    assert.is(container, "7400");
    hostPorts.add(host!);
    assert.ok(svc.healthcheck.test.join(" ").includes("/health"));
  }
  assert.is(hostPorts.size, 3, "each region on its own host port");
});

test("examples/deploy/kubernetes.yaml: a StatefulSet per region under one headless Service, with valid config files", () => {
  const docs = parseYamlSubset(deploy("kubernetes.yaml")) as Obj[];
  const headless = docs.find((d) => d.kind === "Service" && d.spec.clusterIP === "None")!;
  assert.ok(headless, "a headless Service");
  assert.is(headless.spec.publishNotReadyAddresses, true);
  const config = docs.find((d) => d.kind === "ConfigMap")!;
  const sets = docs.filter((d) => d.kind === "StatefulSet");
  assert.equal(sets.map((s) => s.metadata.name), REGIONS.map((r) => `meshkv-${r}`));
  for (const [i, set] of sets.entries()) {
    const region = REGIONS[i]!;
    const pod = set.spec.template;
    assert.is(set.spec.serviceName, headless.metadata.name);
    for (const [k, v] of Object.entries({ ...set.spec.selector.matchLabels, ...headless.spec.selector })) {
      assert.is(pod.metadata.labels[k], v, `pods carry label ${k}`);
    }
    const container = pod.spec.containers[0];
    assert.is(container.args[0], "start");
    const { flags } = parseFlags(container.args.slice(1), startTable);
    assert.is(flags.advertise, `$(POD_NAME).${headless.metadata.name}:7400`);
    const env = Object.fromEntries(container.env.map((e: Obj) => [e.name, e]));
    assert.is(env.POD_NAME.valueFrom.fieldRef.fieldPath, "metadata.name");
    assert.is(env.MESHKV_SECRET.valueFrom.secretKeyRef.name, "meshkv");
    assert.is(env.MESHKV_TOKENS.valueFrom.secretKeyRef.name, "meshkv");
    const mount = container.volumeMounts.find((m: Obj) => env.MESHKV_CONFIG.value.startsWith(`${m.mountPath}/`));
    const volume = pod.spec.volumes.find((v: Obj) => v.name === mount.name);
    assert.is(volume.configMap.name, config.metadata.name);
    const file = config.data[env.MESHKV_CONFIG.value.slice(mount.mountPath.length + 1)];
    const values = parseConfig(file, START_FLAGS, `${region} config`); // throws on a key or type meshkv start refuses
    assert.is(values.datacenter, region);
    assert.is(values.host, "0.0.0.0");
    assert.is(values.replication, "us-east:1,eu-west:1,ap-south:1");
    assert.is(
      replicationOptions(mergeFlags(START_FLAGS, values, flags)).replication.n,
      3,
      "meshkv start reads one replica per region",
    );
    assert.equal(values.seeds, sets.map((s) => `${s.metadata.name}-0.${headless.metadata.name}:7400`));
    const dataMount = container.volumeMounts.find((m: Obj) =>
      m.name === set.spec.volumeClaimTemplates[0].metadata.name
    );
    assert.is(dataMount.mountPath, values.data);
    assert.is(container.readinessProbe.httpGet.path, "/health");
  }
});

test.run();
