/**
 * `readInto(offset, buffer)`, which the real runtime adapters' file handles offer beside the `FileHandle`
 * contract and the engine uses to read table blocks into reused buffers.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bytes, realRuntime, rejectsWith, tempDir, text } from "../_helpers.ts";

const rt = await realRuntime();

type ReadsInto = { readInto(offset: number, into: Uint8Array): Promise<number> };

test(`${rt.name}: readInto fills the caller's buffer at an offset and says how much it read`, async () => {
  const dir = await tempDir(rt.fs, "read-into");
  try {
    const f = await rt.fs.open(`${dir}/t`, { create: true });
    await f.append(bytes("0123456789abcdef"));
    const r = f as typeof f & Partial<ReadsInto>;
    assert.type(r.readInto, "function", `the ${rt.name} adapter offers readInto`);
    const buf = new Uint8Array(32).fill(120);
    assert.is(await r.readInto!(4, buf.subarray(2, 8)), 6);
    assert.is(text(buf.subarray(0, 10)), "xx456789xx", "only the view is written");
    assert.is(await r.readInto!(12, buf), 4, "fewer bytes at the end of the file");
    assert.is(text(buf.subarray(0, 4)), "cdef");
    assert.is(await r.readInto!(100, buf), 0, "nothing past the end");
    await f.close();
    await rejectsWith(() => r.readInto!(0, buf), "CLOSED");
  } finally {
    await rt.fs.remove(dir, { recursive: true });
  }
});

test.run();
