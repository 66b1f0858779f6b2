/**
 * Mesh frames to and from bytes (msgpack, see `kinds.ts`). Decoding treats its input as hostile: anything
 * that is not one well-formed frame is a `PROTOCOL_ERROR`, which closes that connection and nothing else.
 *
 * One encoder and one decoder serve every frame: msgpack's `encode()`/`decode()` build a new one per call,
 * and the encoder's first act is allocating a 2 KiB buffer, which `encode()` then hands out (so each small
 * frame kept a 2 KiB buffer alive). The library clones an instance when it is re-entered, so sharing is safe.
 */
import { Decoder, Encoder } from "@msgpack/msgpack";
import { copyBytes } from "../core/_bytes.ts";
import { MeshkvError } from "../errors.ts";
import { BATCH_FRAMES_MAX, FRAME_TYPES, type Role } from "./kinds.ts";

export interface HelloFrame {
  type: "hello";
  version: number;
  cluster: string;
  nodeId: string;
  nonce: Uint8Array;
  address: string;
  datacenter: string;
  role: Role;
}
export interface AuthFrame {
  type: "auth";
  proof: Uint8Array;
}
export interface RequestFrame {
  type: "request";
  id: number;
  kind: number;
  body: unknown;
}
export interface ResponseFrame {
  type: "response";
  id: number;
  body: unknown;
}
export interface ErrorFrame {
  type: "error";
  id: number;
  code: string;
  message: string;
}
export interface OnewayFrame {
  type: "oneway";
  kind: number;
  body: unknown;
}
/** A frame that may travel inside a batch. */
export type MessageFrame = RequestFrame | ResponseFrame | ErrorFrame | OnewayFrame;
export interface BatchFrame {
  type: "batch";
  frames: MessageFrame[];
}
export type Frame = HelloFrame | AuthFrame | MessageFrame | BatchFrame;

/** Longest id, cluster name, address or datacenter a hello may carry. */
export const HELLO_TEXT_MAX = 256;
/** Bytes in a handshake nonce. */
export const NONCE_BYTES = 16;
/** Longest error message relayed from a peer. */
const ERROR_MESSAGE_MAX = 4096;

const F = FRAME_TYPES;
const encoder = new Encoder();
const decoder = new Decoder();

function frameArray(frame: Frame): unknown[] {
  switch (frame.type) {
    case "hello":
      return [
        F.hello,
        frame.version,
        frame.cluster,
        frame.nodeId,
        frame.nonce,
        frame.address,
        frame.datacenter,
        frame.role,
      ];
    case "auth":
      return [F.auth, frame.proof];
    case "request":
      return [F.request, frame.id, frame.kind, frame.body ?? null];
    case "response":
      return [F.response, frame.id, frame.body ?? null];
    case "error":
      return [F.error, frame.id, frame.code, frame.message];
    case "oneway":
      return [F.oneway, frame.kind, frame.body ?? null];
    case "batch":
      return [F.batch, ...frame.frames.map(frameArray)];
  }
}

/** The frame's bytes, in a buffer of their own (callers may keep them). */
export function encodeFrame(frame: Frame): Uint8Array {
  return encoder.encode(frameArray(frame));
}

/**
 * The frame's bytes as a view of the shared encoder's buffer, valid only until the next frame is encoded: for
 * a caller that copies them at once (into a `FrameBatch`), which saves an allocation and a copy per frame.
 */
export function encodeFrameShared(frame: Frame): Uint8Array {
  return encoder.encodeSharedRef(frameArray(frame));
}

/** Bytes of a batch frame's header: a 5-byte msgpack array header and the type. */
export const BATCH_HEADER_BYTES = 6;
const BATCH_BUFFER_BYTES = 4096;

/**
 * Encoded frames waiting to leave together, copied into one buffer that becomes the batch frame without
 * decoding or encoding them again: a msgpack array `[7, ...frames]` is its header followed by the elements'
 * own encodings. The header is always the 5-byte array32 form (msgpack decoders accept a longer form than
 * needed), so room for it is kept in front and its size is known in advance.
 */
export class FrameBatch {
  #buf = new Uint8Array(BATCH_BUFFER_BYTES);
  #pos = BATCH_HEADER_BYTES;
  #count = 0;

  /** Frames held. */
  get count(): number {
    return this.#count;
  }
  /** Bytes of the frames held, without the header. */
  get bytes(): number {
    return this.#pos - BATCH_HEADER_BYTES;
  }

  /** Copies one encoded frame in. */
  push(frame: Uint8Array): void {
    const end = this.#pos + frame.length;
    if (end > this.#buf.length) {
      const grown = new Uint8Array(Math.max(end, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, this.#pos));
      this.#buf = grown;
    }
    this.#buf.set(frame, this.#pos);
    this.#pos = end;
    this.#count++;
  }

  /** The message to send and empties the batch: the only frame as it is, or a batch frame; null when empty. */
  take(): Uint8Array | null {
    const count = this.#count;
    if (count === 0) return null;
    const end = this.#pos;
    this.#pos = BATCH_HEADER_BYTES;
    this.#count = 0;
    if (count === 1) return copyBytes(this.#buf, BATCH_HEADER_BYTES, end);
    const buf = this.#buf;
    const elements = count + 1;
    buf[0] = 0xdd;
    buf[1] = elements >>> 24;
    buf[2] = (elements >>> 16) & 0xff;
    buf[3] = (elements >>> 8) & 0xff;
    buf[4] = elements & 0xff;
    buf[5] = F.batch;
    // A copy of exactly the batch: the socket may keep the bytes until they are written, and handing out the
    // buffer itself would mean allocating a whole new one per batch.
    return copyBytes(buf, 0, end);
  }

  /** Drops what is held. */
  clear(): void {
    this.#pos = BATCH_HEADER_BYTES;
    this.#count = 0;
  }
}

function bad(what: string): MeshkvError {
  return new MeshkvError("PROTOCOL_ERROR", `Malformed mesh frame: ${what}`);
}

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isText = (v: unknown, max = HELLO_TEXT_MAX): v is string => typeof v === "string" && v.length <= max;

/** Decodes one frame; throws `PROTOCOL_ERROR` naming what was wrong. */
export function decodeFrame(bytes: Uint8Array): Frame {
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (err) {
    throw new MeshkvError("PROTOCOL_ERROR", `Malformed mesh frame: not msgpack (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (!Array.isArray(value) || value.length < 2) throw bad("not an array with a type");
  if (value[0] === F.batch) return batchOf(value);
  return frameOf(value);
}

function batchOf(value: unknown[]): BatchFrame {
  if (value.length - 1 > BATCH_FRAMES_MAX) throw bad(`batch of ${value.length - 1} frames: over ${BATCH_FRAMES_MAX}`);
  const frames: MessageFrame[] = [];
  for (let i = 1; i < value.length; i++) {
    const inner = value[i];
    if (!Array.isArray(inner) || inner.length < 2) throw bad(`batch element ${i - 1} is not an array with a type`);
    const frame = frameOf(inner);
    if (frame.type === "hello" || frame.type === "auth" || frame.type === "batch") {
      throw bad(`${frame.type} frame inside a batch`);
    }
    frames.push(frame);
  }
  return { type: "batch", frames };
}

function frameOf(value: unknown[]): Frame {
  // Indexing, not destructuring: array destructuring goes through the iterator protocol, once per frame.
  const a = value[1];
  const b = value[2];
  const c = value[3];
  switch (value[0]) {
    case F.hello: {
      const [d, e, f, g] = value.slice(4);
      if (!isId(a)) throw bad("hello version");
      if (!isText(b) || !isText(c) || c === "") throw bad("hello cluster or node id");
      if (!(d instanceof Uint8Array) || d.length !== NONCE_BYTES) throw bad("hello nonce");
      if (!isText(e) || !isText(f)) throw bad("hello address or datacenter");
      if (g !== "dial" && g !== "accept") throw bad("hello role");
      return { type: "hello", version: a, cluster: b, nodeId: c, nonce: d, address: e, datacenter: f, role: g };
    }
    case F.auth:
      if (!(a instanceof Uint8Array) || a.length > 64) throw bad("auth proof");
      return { type: "auth", proof: a };
    case F.request:
      if (!isId(a) || !isId(b) || value.length !== 4) throw bad("request header");
      return { type: "request", id: a, kind: b, body: c };
    case F.response:
      if (!isId(a) || value.length !== 3) throw bad("response header");
      return { type: "response", id: a, body: b };
    case F.error:
      if (!isId(a) || !isText(b, 64) || !isText(c, ERROR_MESSAGE_MAX)) throw bad("error frame");
      return { type: "error", id: a, code: b, message: c };
    case F.oneway:
      if (!isId(a) || value.length !== 3) throw bad("one-way header");
      return { type: "oneway", kind: a, body: b };
    case F.batch:
      throw bad("batch inside a batch");
    default:
      throw bad(`unknown frame type ${JSON.stringify(value[0])}`);
  }
}
