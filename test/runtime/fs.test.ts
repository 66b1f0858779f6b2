import { MemoryFileSystem } from "../../src/runtime/memory.ts";
import { realRuntime, tempDir } from "../_helpers.ts";
import { fileSystemSuite } from "./_fs_suite.ts";

const rt = await realRuntime();

fileSystemSuite("memory", async () => {
  const fs = new MemoryFileSystem();
  await fs.mkdir("/data");
  return { fs, dir: "/data", cleanup: async () => {} };
}, { syncReads: false }).run();

fileSystemSuite(rt.name, async () => {
  const dir = await tempDir(rt.fs, "fs");
  return { fs: rt.fs, dir, cleanup: () => rt.fs.remove(dir, { recursive: true }) };
}, { syncReads: true }).run();
