/**
 * A minimal server-sent-events reader for tests: parses frames from a response body as they arrive.
 */
export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

export class SseReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder();
  #buffer = "";
  comments = 0;

  constructor(res: Response) {
    this.#reader = res.body!.getReader();
  }

  /** The next event (comments and retry lines are skipped), or null when the stream ends. */
  async next(): Promise<SseEvent | null> {
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const ev: SseEvent = { id: null, event: "message", data: "" };
        let fields = 0;
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) this.comments++;
          else if (line.startsWith("id: ")) (ev.id = line.slice(4), fields++);
          else if (line.startsWith("event: ")) (ev.event = line.slice(7), fields++);
          else if (line.startsWith("data: ")) (ev.data += line.slice(6), fields++);
        }
        if (fields > 0) return ev;
        continue;
      }
      const { done, value } = await this.#reader.read();
      if (done) return null;
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}
