/**
 * Config files for `meshkv start --config node.json` (or `MESHKV_CONFIG`): a JSON object whose keys are the
 * long flag names and whose values have the flag's type, so a file says exactly what a command line would
 * (`{ "port": 7400, "seeds": ["10.0.0.1:7400"], "datacenter": "us-east" }`). Precedence, as in most servers
 * (Cassandra's yaml plus `-D`, Consul's `-config-file` plus flags): a flag's default, then the file, then the
 * command line. The same flag table that drives parsing and `--help` (`args.ts`) checks the file, so a new
 * flag is accepted in files without touching this module. A bad file is `INVALID_ARGUMENT` naming the key.
 */
import { MeshkvError } from "../errors.ts";
import type { Runtime } from "../runtime/types.ts";
import { applyDefaults, type FlagSpec, type FlagTable, type FlagValues } from "./args.ts";

/** The flag `meshkv start` adds to the node's own flags. */
export const CONFIG_FLAGS: FlagTable = {
  config: {
    type: "string",
    description:
      'JSON file of flag values keyed by long flag name, e.g. {"port":7400,"seeds":["a:7400"]}; command-line flags win (default: $MESHKV_CONFIG)',
  },
};

/** A command's flags plus `--config`, placed before `--help` so the help reads in order. */
export function withConfigFlag(table: FlagTable): FlagTable {
  const { help, ...rest } = table;
  return { ...rest, ...CONFIG_FLAGS, ...(help ? { help } : {}) };
}

/** Keys a config file may not set: they are about the command, not the node. */
const NOT_IN_FILES = new Set(["help", "config"]);

/** Largest config file read, so a wrong path (a log, a device) fails fast instead of filling memory. */
export const CONFIG_BYTES_MAX = 1024 * 1024;

const bad = (message: string) => new MeshkvError("INVALID_ARGUMENT", message);

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

function checkValue(where: string, key: string, spec: FlagSpec, v: unknown): string | number | boolean | string[] {
  const wrong = (want: string) => bad(`${where}: key "${key}" must be ${want}: got ${typeName(v)}`);
  switch (spec.type) {
    case "string":
      if (typeof v !== "string") throw wrong("a string");
      return v;
    case "bool":
      if (typeof v !== "boolean") throw wrong("true or false");
      return v;
    case "int": {
      if (typeof v !== "number" || !Number.isSafeInteger(v)) throw wrong("a whole number");
      if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) {
        throw bad(`${where}: key "${key}" must be between ${spec.min ?? "-∞"} and ${spec.max ?? "∞"}: got ${v}`);
      }
      return v;
    }
    case "list":
      // A comma-separated string is accepted too, as on the command line (and in MESHKV_TOKENS).
      if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter(Boolean);
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw wrong("an array of strings");
      return v.map((s) => s.trim()).filter(Boolean);
  }
}

/**
 * Checks a parsed config file against a flag table and returns its values (no defaults filled in).
 * `where` names the file in messages.
 */
export function configValues(parsed: unknown, table: FlagTable, where: string): FlagValues {
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw bad(`${where}: must hold a JSON object of flag names and values: got ${typeName(parsed)}`);
  }
  const out: FlagValues = {};
  for (const [key, v] of Object.entries(parsed)) {
    const spec = Object.hasOwn(table, key) && !NOT_IN_FILES.has(key) ? table[key] : undefined;
    if (!spec) {
      const hint = key.startsWith("-") ? ` (write it without dashes: "${key.replace(/^-+/, "")}")` : "";
      throw bad(`${where}: unknown key "${key}"${hint}: keys are the long flag names of meshkv start --help`);
    }
    out[key] = checkValue(where, key, spec, v);
  }
  return out;
}

/** Parses config file text (JSON) against a flag table. */
export function parseConfig(text: string, table: FlagTable, where: string): FlagValues {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw bad(`${where}: not valid JSON: ${(err as Error).message}`);
  }
  return configValues(parsed, table, where);
}

/** Reads and checks a config file through the runtime's files. */
export async function loadConfig(rt: Runtime, path: string, table: FlagTable): Promise<FlagValues> {
  const where = `Config file ${path}`;
  let bytes: Uint8Array;
  try {
    bytes = await rt.fs.readFile(path);
  } catch (err) {
    throw new MeshkvError("INVALID_ARGUMENT", `${where}: cannot read it: ${(err as Error).message}`, { cause: err });
  }
  if (bytes.byteLength > CONFIG_BYTES_MAX) {
    throw bad(`${where}: larger than ${CONFIG_BYTES_MAX} bytes (CONFIG_BYTES_MAX)`);
  }
  return parseConfig(new TextDecoder().decode(bytes), table, where);
}

/** Defaults, then the file, then the flags given on the command line (parsed without defaults). */
export function mergeFlags(table: FlagTable, fromFile: FlagValues, given: FlagValues): FlagValues {
  const out: FlagValues = { ...fromFile };
  for (const [name, v] of Object.entries(given)) if (v !== undefined) out[name] = v;
  return applyDefaults(out, table);
}
