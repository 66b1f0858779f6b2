/**
 * The FileSystem conformance suite (convention 4): one contract, run against every implementation. A new
 * adapter passes this before anything else uses it.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { FileSystem } from "../../src/runtime/types.ts";
import { bytes, rejectsWith, text } from "../_helpers.ts";

export function fileSystemSuite(name: string, make: () => Promise<{ fs: FileSystem; dir: string; cleanup(): Promise<void> }>) {
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
      assert.ok(["PERMISSION_DENIED", "IO_ERROR", "CLOSED"].includes((err as { code?: string }).code ?? ""), String(err));
    } finally {
      await f.close();
    }
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
