/**
 * HTTP/1.1 answers as they come off a raw socket, for tests that speak HTTP by hand (one connection, answers in
 * order): whole answers only, bodies framed by Content-Length or chunked (none for 204 and 304).
 */
/** One answer off the wire: status line, head lines but Date (in order), body. */
export interface Answer {
  status: string;
  head: string[];
  body: string;
}

/** Splits what came back into whole answers (Content-Length or chunked bodies; none for 204). */
export function answers(got: string): Answer[] {
  const out: Answer[] = [];
  let at = 0;
  while (at < got.length) {
    const end = got.indexOf("\r\n\r\n", at);
    if (end < 0) break;
    const [status, ...head] = got.slice(at, end).split("\r\n");
    let body = "";
    at = end + 4;
    if (head.some((l) => /^transfer-encoding: *chunked$/i.test(l))) {
      for (;;) {
        const line = got.indexOf("\r\n", at);
        if (line < 0) return out;
        const size = parseInt(got.slice(at, line), 16);
        if (got.length < line + 2 + size + 2) return out;
        body += got.slice(line + 2, line + 2 + size);
        at = line + 2 + size + 2;
        if (size === 0) break;
      }
    } else {
      const length = Number(/^content-length: *(\d+)$/im.exec(head.join("\n"))?.[1] ?? 0);
      if (got.length < at + length) return out;
      body = got.slice(at, at + length);
      at += length;
    }
    out.push({ status: status!, head: head.filter((l) => !/^date: /i.test(l)), body });
  }
  return out;
}
