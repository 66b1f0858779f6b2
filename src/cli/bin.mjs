#!/usr/bin/env node
// The `meshkv` executable for Node (`npx meshkv …`): registers tsx so Node 20 can load the TypeScript
// source, then runs the CLI. Deno and Bun run src/cli/main.ts directly.
import { register } from "tsx/esm/api";

register();
globalThis.__meshkvBin = true;
await import("./main.ts");
