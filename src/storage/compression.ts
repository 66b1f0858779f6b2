/**
 * Optional block compression. The only codec all three runtimes ship is `CompressionStream` (deflate), which
 * is asynchronous and streams-based, so each block costs a few promise hops. `bench/storage.ts` measures it;
 * on random 100-byte values it saves nothing and on repetitive JSON it saves about half the bytes at a large
 * CPU cost, so it is off by default (`compression: "none"`). See docs/storage.md.
 */

async function run(stream: CompressionStream | DecompressionStream, data: Uint8Array): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  void writer.write(data as Uint8Array<ArrayBuffer>).catch(() => {});
  void writer.close().catch(() => {});
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = stream.readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export function compressBlock(data: Uint8Array): Promise<Uint8Array> {
  return run(new CompressionStream("deflate-raw"), data);
}

export function decompressBlock(data: Uint8Array): Promise<Uint8Array> {
  return run(new DecompressionStream("deflate-raw"), data);
}
