/**
 * The size a browser or edge app pays for `meshkv/client`: the SDK bundled by esbuild for the browser
 * platform, minified and gzipped (level 9), with superjson (what an app ships) and with superjson left out
 * (the SDK's own code). The README quotes the first figure and test/package/sdk_size.test.ts holds both to a
 * budget, so the SDK cannot grow unnoticed.
 *
 *   node --import tsx bench/sdk_size.ts     (or: npm run bench -- --runtime node sdk_size)
 */
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const entry = fileURLToPath(new URL("../src/client/mod.ts", import.meta.url));

export interface SdkSize {
  /** Minified bundle in bytes. */
  minifiedBytes: number;
  /** The minified bundle gzipped at level 9, in bytes. */
  gzipBytes: number;
  /** Every file esbuild put in the bundle, relative to the working directory. */
  inputs: string[];
}

/** Bundles src/client/mod.ts for the browser (superjson included unless `withSuperjson` is false). */
export async function measureClientSize(withSuperjson: boolean): Promise<SdkSize> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
    external: withSuperjson ? [] : ["superjson"],
  });
  const code = result.outputFiles[0]!.contents;
  return {
    minifiedBytes: code.byteLength,
    gzipBytes: gzipSync(code, { level: 9 }).byteLength,
    inputs: Object.keys(result.metafile.inputs),
  };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

if ((import.meta as { main?: boolean }).main || process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log("meshkv/client bundled for the browser by esbuild, minified (gzip -9):\n");
  console.log("| bundle | minified | gzipped |\n|---|---|---|");
  for (
    const [label, withSuperjson] of [["with superjson", true], ["without superjson (SDK code only)", false]] as const
  ) {
    const s = await measureClientSize(withSuperjson);
    console.log(`| ${label} | ${kb(s.minifiedBytes)} | ${kb(s.gzipBytes)} |`);
  }
}
