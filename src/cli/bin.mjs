#!/usr/bin/env node
// The `meshkv` executable for Node (`npx meshkv …`). Installed from npm (this file sits under node_modules)
// it runs the compiled JavaScript in dist/, which Node 20 loads with no loader. In a clone of the repository
// it runs the TypeScript source through tsx (a dev dependency), so an edit takes effect without a build; a
// clone installed without dev dependencies falls back to dist/ (`npm run build`). Deno and Bun run
// src/cli/main.ts directly.
const compiled = new URL("../../dist/src/cli/main.js", import.meta.url).href;
globalThis.__meshkvBin = true;
if (import.meta.url.includes("/node_modules/")) {
  await import(compiled);
} else {
  let tsx = null;
  try {
    tsx = await import("tsx/esm/api");
  } catch {
    // No tsx: a clone installed with --omit=dev runs what `npm run build` compiled.
  }
  if (tsx) {
    tsx.register();
    await import("./main.ts");
  } else {
    await import(compiled);
  }
}
