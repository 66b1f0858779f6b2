// Runs the compiled build (dist/, `npm run build`), as a user who installed meshkv from npm runs it.
globalThis.__meshkvBin = true;
await import("../dist/src/cli/main.js");
