/**
 * The FileSystem conformance suite (convention 4): one contract, run against every implementation. A new
 * adapter passes this before anything else uses it.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { FileSystem } from "../../src/runtime/types.ts";
import { bytes, rejectsWith, text } from "../_helpers.ts";

/**
 * `syncReads`: whether the implementation offers `readIntoSync` (the real runtimes' adapters do; the memory
 * file system keeps its reads asynchronous).
 */
export function fileSystemSuite(
  name: string,
  make: () => Promise<{ fs: FileSystem; dir: string; cleanup(): Promise<void> }>,
  options: { syncReads: boolean },
) {
  const s = suite<{ fs: FileSystem; dir: string; cleanup(): Promise<void> }>(`FileSystem conformance: ${name}`);
  s.before.each(async (ctx) => {
    Object.assign(ctx, await make());
  });
  s.after.each(async (ctx) => ctx.cleanup());

  s("a created file reads back what was written at offsets", async ({ fs, dir }) => {
    const f = await fs.open(`${dir}/a`, { create: true });
    await f.write(0, bytes("hello world"));
    await f.write(6, bytes("WORLD"));
    assert.is(text(await f.read(0, 11)), "hello WORLD");
    assert.is(text(await f.read(3, 4)), "lo W");
    assert.is(await f.size(), 11);
    await f.close();
    assert.is(text(await fs.readFile(`${dir}/a`)), "hello WORLD");
  });

  s("append returns the offset each chunk landed at, even when appends overlap in time", async ({ fs, dir }) => {
    const f = await fs.open(`${dir}/log`, { create: true });
    const offsets = await Promise.all(["aa", "bbb", "c"].map((c) => f.append(bytes(c))));
    assert.equal(offsets, [0, 2, 5]);
    assert.is(text(await f.read(0, 6)), "aabbbc");
    await f.sync();
    await f.close();
  });

  s("reading past the end returns a short or empty array, not an error", async ({ fs, dir }) => {
    const f = await fs.open(`${dir}/short`, { create: true });
    await f.append(bytes("abc"));
    assert.is(text(await f.read(1, 100)), "bc");
    assert.is((await f.read(3, 10)).length, 0);
    assert.is((await f.read(1000, 10)).length, 0);
    await f.close();
  });

  s("writing past the end extends the file with zeros", async ({ fs, dir }) => {
    const f = await fs.open(`${dir}/gap`, { create: true });
    await f.write(4, bytes("x"));
    assert.equal([...(await f.read(0, 5))], [0, 0, 0, 0, 120]);
    await f.close();
  });

  s("opening a missing file is NOT_FOUND, and so is reading, stating or removing one", async ({ fs, dir }) => {
    await rejectsWith(() => fs.open(`${dir}/missing`), "NOT_FOUND");
    await rejectsWith(() => fs.readFile(`${dir}/missing`), "NOT_FOUND");
    await rejectsWith(() => fs.stat(`${dir}/missing`), "NOT_FOUND");
    await rejectsWith(() => fs.remove(`${dir}/missing`), "NOT_FOUND");
    await rejectsWith(() => fs.list(`${dir}/missing`), "NOT_FOUND");
  });

  s("exclusive create fails with ALREADY_EXISTS on an existing file", async ({ fs, dir }) => {
    await (await fs.open(`${dir}/x`, { create: true })).close();
    await rejectsWith(() => fs.open(`${dir}/x`, { create: true, exclusive: true }), "ALREADY_EXISTS");
  });

  s("truncate on open and truncate() cut the file", async ({ fs, dir }) => {
    let f = await fs.open(`${dir}/t`, { create: true });
    await f.append(bytes("0123456789"));
    await f.truncate(4);
    assert.is(text(await f.read(0, 100)), "0123");
    await f.close();
    f = await fs.open(`${dir}/t`, { create: true, truncate: true });
    assert.is(await f.size(), 0);
    await f.close();
  });

  s("rename replaces an existing file atomically", async ({ fs, dir }) => {
    const a = await fs.open(`${dir}/new`, { create: true });
    await a.append(bytes("new"));
    await a.sync();
    await a.close();
    const b = await fs.open(`${dir}/current`, { create: true });
    await b.append(bytes("old contents"));
    await b.close();
    await fs.rename(`${dir}/new`, `${dir}/current`);
    await fs.syncDir(dir);
    assert.is(text(await fs.readFile(`${dir}/current`)), "new");
    assert.equal(await fs.list(dir), ["current"]);
    await rejectsWith(() => fs.rename(`${dir}/gone`, `${dir}/current`), "NOT_FOUND");
  });

  s("list returns sorted names and mkdir/remove manage directories", async ({ fs, dir }) => {
    await fs.mkdir(`${dir}/sub/deep`, { recursive: true });
    await fs.mkdir(`${dir}/sub/deep`, { recursive: true });
    await rejectsWith(() => fs.mkdir(`${dir}/sub`), "ALREADY_EXISTS");
    for (const n of ["b", "a", "c"]) await (await fs.open(`${dir}/sub/${n}`, { create: true })).close();
    assert.equal(await fs.list(`${dir}/sub`), ["a", "b", "c", "deep"]);
    assert.ok((await fs.stat(`${dir}/sub`)).isDirectory);
    assert.ok((await fs.stat(`${dir}/sub/a`)).isFile);
    await rejectsWith(() => fs.remove(`${dir}/sub`), "NOT_EMPTY");
    await fs.remove(`${dir}/sub/a`);
    await fs.remove(`${dir}/sub`, { recursive: true });
    await rejectsWith(() => fs.stat(`${dir}/sub`), "NOT_FOUND");
  });

  s("directory misuse is reported with IS_DIRECTORY or NOT_DIRECTORY", async ({ fs, dir }) => {
    await fs.mkdir(`${dir}/d`);
    await rejectsWith(() => fs.open(`${dir}/d`), "IS_DIRECTORY");
    await (await fs.open(`${dir}/f`, { create: true })).close();
    await rejectsWith(() => fs.list(`${dir}/f`), "NOT_DIRECTORY");
    await rejectsWith(() => fs.open(`${dir}/f/inner`, { create: true }), "NOT_DIRECTORY");
  });

  s("a closed handle answers CLOSED, and closing twice is fine", async ({ fs, dir }) => {
    const f = await fs.open(`${dir}/c`, { create: true });
    await f.close();
    await f.close();
    await rejectsWith(() => f.read(0, 1), "CLOSED");
    await rejectsWith(() => f.append(bytes("x")), "CLOSED");
  });

  s("a read-only handle refuses writes", async ({ fs, dir }) => {
    await (await fs.open(`${dir}/ro`, { create: true })).close();
    const f = await fs.open(`${dir}/ro`, { readOnly: true });
    try {
      await f.append(bytes("x"));
      assert.unreachable("write on a read-only handle succeeded");
    } catch (err) {
      assert.ok(
        ["PERMISSION_DENIED", "IO_ERROR", "CLOSED"].includes((err as { code?: string }).code ?? ""),
        String(err),
      );
    } finally {
      await f.close();
    }
  });

  s("readInto fills the caller's buffer at an offset and says how much it read", async ({ fs, dir }) => {
    const f = await fs.open(`${dir}/into`, { create: true });
    await f.append(bytes("0123456789abcdef"));
    assert.type(f.readInto, "function", `${name} offers readInto`);
    const buf = new Uint8Array(32).fill(120);
    assert.is(await f.readInto!(4, buf.subarray(2, 8)), 6);
    assert.is(text(buf.subarray(0, 10)), "xx456789xx", "only the view is written");
    assert.is(await f.readInto!(12, buf), 4, "fewer bytes at the end of the file");
    assert.is(text(buf.subarray(0, 4)), "cdef");
    assert.is(await f.readInto!(16, buf), 0, "nothing at the end");
    assert.is(await f.readInto!(100, buf), 0, "nothing past the end");
    assert.is(await f.readInto!(0, buf.subarray(0, 0)), 0, "an empty buffer reads nothing");
    await f.write(2, bytes("AB"));
    assert.is(await f.readInto!(0, buf.subarray(0, 5)), 5);
    assert.is(text(buf.subarray(0, 5)), "01AB4", "sees writes made through the same handle");
    await f.close();
    await rejectsWith(() => f.readInto!(0, buf), "CLOSED");
  });

  s(
    "readInto reads a large file whole, and concurrent readIntos at different offsets each get their bytes",
    async ({ fs, dir }) => {
      const all = new Uint8Array(300_000);
      for (let i = 0; i < all.length; i++) all[i] = (i * 31) & 0xff;
      const f = await fs.open(`${dir}/big`, { create: true });
      await f.append(all);
      const whole = new Uint8Array(all.length);
      assert.is(await f.readInto!(0, whole), all.length);
      assert.equal(whole, all);
      const offsets = [0, 4096, 131_072, 299_000, 77_777];
      const bufs = offsets.map(() => new Uint8Array(1000));
      const got = await Promise.all(offsets.map((o, i) => f.readInto!(o, bufs[i]!)));
      assert.equal(got, [1000, 1000, 1000, 1000, 1000]);
      offsets.forEach((o, i) => assert.equal(bufs[i], all.subarray(o, o + 1000), `bytes at ${o}`));
      await f.close();
    },
  );

  s("readIntoSync reads like readInto where it is offered", async ({ fs, dir }) => {
    const f = await fs.open(`${dir}/sync`, { create: true });
    await f.append(bytes("0123456789abcdef"));
    if (!options.syncReads) {
      assert.is(f.readIntoSync, undefined, `${name} has no synchronous reads`);
      await f.close();
      return;
    }
    assert.type(f.readIntoSync, "function", `${name} offers readIntoSync`);
    const buf = new Uint8Array(32).fill(120);
    // Nothing is in flight on the handle now, so no adapter may decline.
    assert.is(f.readIntoSync!(4, buf.subarray(2, 8)), 6);
    assert.is(text(buf.subarray(0, 10)), "xx456789xx", "only the view is written");
    assert.is(f.readIntoSync!(12, buf), 4, "fewer bytes at the end of the file");
    assert.is(text(buf.subarray(0, 4)), "cdef");
    assert.is(f.readIntoSync!(100, buf), 0, "nothing past the end");
    // While asynchronous operations are in flight, a synchronous read either declines (null) or reads the
    // right bytes; it never sees a cursor another operation moved.
    const pending = [f.readInto!(0, new Uint8Array(4)), f.write(16, bytes("ghij")), f.readInto!(8, new Uint8Array(4))];
    const mid = f.readIntoSync!(10, buf.subarray(0, 4));
    if (mid !== null) {
      assert.is(mid, 4);
      assert.is(text(buf.subarray(0, 4)), "abcd");
    }
    await Promise.all(pending);
    assert.is(f.readIntoSync!(14, buf.subarray(0, 6)), 6, "sees the completed write");
    assert.is(text(buf.subarray(0, 6)), "efghij");
    await f.close();
    assert.throws(() => f.readIntoSync!(0, buf), (e: unknown) => (e as { code?: string }).code === "CLOSED");
  });

  s("appendSync appends like append where it is offered, in order with asynchronous appends", async ({ fs, dir }) => {
    const f = await fs.open(`${dir}/log`, { create: true });
    if (!options.syncReads) {
      assert.is(f.appendSync, undefined, `${name} has no synchronous writes`);
      await f.close();
      return;
    }
    assert.type(f.appendSync, "function", `${name} offers appendSync`);
    assert.is(await f.append(bytes("0123")), 0);
    // Nothing is in flight now, so no adapter may decline.
    assert.is(f.appendSync!(bytes("4567")), 4, "returns the offset it wrote at");
    assert.is(await f.size(), 8, "the size counts it at once");
    // While an asynchronous append is in flight, a synchronous one either declines (null) or lands after it.
    const pending = f.append(bytes("89"));
    const mid = f.appendSync!(bytes("ab"));
    await pending;
    if (mid === null) assert.is(await f.append(bytes("ab")), 10);
    else assert.is(mid, 10);
    assert.is(f.appendSync!(bytes("cdef")), 12);
    await f.sync();
    await f.close();
    assert.is(text(await fs.readFile(`${dir}/log`)), "0123456789abcdef", "every append where it said, none lost");
    assert.throws(() => f.appendSync!(bytes("x")), (e: unknown) => (e as { code?: string }).code === "CLOSED");
  });

  s("bytes of every value survive a round trip", async ({ fs, dir }) => {
    const all = new Uint8Array(256 * 64);
    for (let i = 0; i < all.length; i++) all[i] = i & 0xff;
    const f = await fs.open(`${dir}/bin`, { create: true });
    await f.append(all);
    await f.sync();
    await f.close();
    assert.equal(await fs.readFile(`${dir}/bin`), all);
  });

  return s;
}
