/**
 * Command-line flags: one table per command drives parsing, validation and `--help`, so every flag is
 * documented by construction. Bad flags are a `MeshkvError` with code `INVALID_ARGUMENT` and a message that
 * names the flag; the CLI prints it and exits with status 2.
 */
import { MeshkvError } from "../errors.ts";

export interface FlagSpec {
  type: "string" | "int" | "bool" | "list";
  description: string;
  default?: string | number | boolean;
  /** Inclusive range for ints. */
  min?: number;
  max?: number;
}

export type FlagTable = Record<string, FlagSpec>;
export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

function bad(message: string): MeshkvError {
  return new MeshkvError("INVALID_ARGUMENT", message);
}

function convert(name: string, spec: FlagSpec, raw: string): string | number | boolean | string[] {
  switch (spec.type) {
    case "string":
      return raw;
    case "list":
      return raw.split(",").map((s) => s.trim()).filter(Boolean);
    case "bool":
      if (raw === "true" || raw === "") return true;
      if (raw === "false") return false;
      throw bad(`Flag --${name} takes true or false: got ${JSON.stringify(raw)}`);
    case "int": {
      if (!/^-?\d+$/.test(raw)) throw bad(`Flag --${name} takes a whole number: got ${JSON.stringify(raw)}`);
      const n = Number(raw);
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        throw bad(`Flag --${name} must be between ${spec.min} and ${spec.max}: got ${n}`);
      }
      return n;
    }
  }
}

/** Parses `--name value`, `--name=value` and bare `--flag` for booleans. Positional arguments are returned apart. */
export function parseFlags(argv: string[], table: FlagTable): { flags: FlagValues; positional: string[] } {
  const flags: FlagValues = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = table[name];
    if (!spec) throw bad(`Unknown flag --${name}: see --help`);
    let raw: string;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else if (spec.type === "bool") raw = "true";
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) throw bad(`Flag --${name} needs a value`);
      raw = next;
      i++;
    }
    flags[name] = convert(name, spec, raw);
  }
  return { flags: applyDefaults(flags, table), positional };
}

/** The same table without defaults, to tell the flags a user gave from those filled in. */
export function withoutDefaults(table: FlagTable): FlagTable {
  return Object.fromEntries(Object.entries(table).map(([name, { default: _d, ...spec }]) => [name, spec]));
}

/** Fills in each flag's default where `values` has none (in place; returns `values`). */
export function applyDefaults(values: FlagValues, table: FlagTable): FlagValues {
  for (const [name, spec] of Object.entries(table)) {
    if (values[name] === undefined && spec.default !== undefined) values[name] = spec.default;
  }
  return values;
}

export function helpText(command: string, summary: string, table: FlagTable): string {
  const lines = [`Usage: meshkv ${command} [flags]`, "", summary, "", "Flags:"];
  for (const [name, spec] of Object.entries(table)) {
    const def = spec.default === undefined ? "" : ` (default: ${spec.default})`;
    lines.push(`  --${name.padEnd(18)} ${spec.description}${def}`);
  }
  return lines.join("\n");
}
