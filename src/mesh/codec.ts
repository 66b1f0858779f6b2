/**
 * Mesh frames to and from bytes (msgpack, see `kinds.ts`). Decoding treats its input as hostile: anything
 * that is not one well-formed frame is a `PROTOCOL_ERROR`, which closes that connection and nothing else.
 */
import { decode, encode } from "@msgpack/msgpack";
import { MeshkvError } from "../errors.ts";
import { FRAME_TYPES, type Role } from "./kinds.ts";

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
export type Frame = HelloFrame | AuthFrame | RequestFrame | ResponseFrame | ErrorFrame | OnewayFrame;

/** Longest id, cluster name, address or datacenter a hello may carry. */
export const HELLO_TEXT_MAX = 256;
/** Bytes in a handshake nonce. */
export const NONCE_BYTES = 16;
/** Longest error message relayed from a peer. */
const ERROR_MESSAGE_MAX = 4096;

const F = FRAME_TYPES;

export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case "hello":
      return encode([F.hello, frame.version, frame.cluster, frame.nodeId, frame.nonce, frame.address, frame.datacenter, frame.role]);
    case "auth":
      return encode([F.auth, frame.proof]);
    case "request":
      return encode([F.request, frame.id, frame.kind, frame.body ?? null]);
    case "response":
      return encode([F.response, frame.id, frame.body ?? null]);
    case "error":
      return encode([F.error, frame.id, frame.code, frame.message]);
    case "oneway":
      return encode([F.oneway, frame.kind, frame.body ?? null]);
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
    value = decode(bytes);
  } catch (err) {
    throw new MeshkvError("PROTOCOL_ERROR", `Malformed mesh frame: not msgpack (${(err as Error).message})`, { cause: err });
  }
  if (!Array.isArray(value) || value.length < 2) throw bad("not an array with a type");
  const [type, a, b, c, d, e, f, g] = value as unknown[];
  switch (type) {
    case F.hello: {
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
    default:
      throw bad(`unknown frame type ${JSON.stringify(type)}`);
  }
}
