import { C1, Packr, Unpackr } from 'msgpackr';
import { ProtocolError } from '../errors.js';

/** Largest frame body accepted; a bigger length prefix closes the socket. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
const HEADER_BYTES = 4;

const packr = new Packr({ useRecords: false });
/** Shared by every idle decoder: a decoder per socket must not keep a buffer (or its last chunk) alive. */
const EMPTY = Buffer.alloc(0);
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

/** One message as a frame body: plain MessagePack (what a WebSocket message carries). */
export function encodeBody(message: unknown): Buffer {
  return packr.pack(message);
}

/** One message as a frame: a 4-byte big-endian body length, then a MessagePack body. */
export function encodeFrame(message: unknown): Buffer {
  const body = packr.pack(message);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, HEADER_BYTES);
  return frame;
}

/**
 * One frame body (exactly one MessagePack value; a WebSocket message is one body without the
 * length prefix). Throws ProtocolError when it is not.
 */
export function decodeBody(body: Buffer): unknown {
  if (body.length === 0) throw new ProtocolError('empty frame');
  let message: unknown;
  try {
    message = unpackr.unpack(body);
  } catch (cause) {
    throw new ProtocolError('undecodable frame', { cause });
  }
  // msgpackr maps the never-used byte 0xc1 to a marker object instead of failing.
  if (message === C1) throw new ProtocolError('undecodable frame (0xc1)');
  return message;
}

/**
 * Takes every whole frame off the front of `bytes` (decoded, into `out`) and returns the bytes of
 * an incomplete frame left over (a shared empty buffer when none): a connection keeps only that.
 * Throws ProtocolError on an oversize length or a body that is not exactly one MessagePack value.
 */
export function takeFrames(bytes: Buffer, maxFrameBytes: number, out: unknown[]): Buffer {
  for (;;) {
    if (bytes.length < HEADER_BYTES) return bytes.length === 0 ? EMPTY : bytes;
    const len = bytes.readUInt32BE(0);
    if (len > maxFrameBytes) throw new ProtocolError(`frame of ${len} bytes exceeds ${maxFrameBytes}`);
    if (len === 0) throw new ProtocolError('empty frame');
    if (bytes.length < HEADER_BYTES + len) return bytes;
    const body = bytes.subarray(HEADER_BYTES, HEADER_BYTES + len);
    bytes = bytes.length === HEADER_BYTES + len ? EMPTY : bytes.subarray(HEADER_BYTES + len);
    out.push(decodeBody(body));
  }
}

/** `pending` (an incomplete frame, or empty) followed by `chunk`, copied only when both hold bytes. */
export function appendChunk(pending: Buffer, chunk: Buffer): Buffer {
  return pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
}

/** The empty leftover every connection without an incomplete frame shares. */
export const NO_PENDING_BYTES: Buffer = EMPTY;

/**
 * Reassembles frames from arbitrary chunks. Throws ProtocolError on an oversize length or a body
 * that is not exactly one MessagePack value; the caller closes that socket only.
 */
export class FrameDecoder {
  private buffered: Buffer = EMPTY;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    this.buffered = takeFrames(appendChunk(this.buffered, chunk), this.maxFrameBytes, out);
    return out;
  }

  /** Bytes of an incomplete frame still waiting for the rest. */
  get pendingBytes(): number {
    return this.buffered.length;
  }
}

export interface PingMessage {
  type: 'ping';
  seq: number;
  /** Set by a client that arrived here because another server sent it `migrate`: exempt it from moving again for a while. */
  migrated?: boolean;
}

export interface PongMessage {
  type: 'pong';
  seq: number;
  /** Id of the server that answered. */
  id: string;
}

/**
 * Server → client: please move. A fulcrum client re-picks excluding the sender and every server
 * in `exclude`, connects, and closes this connection only once the new one answers (make-before-break).
 */
export interface MigrateMessage {
  type: 'migrate';
  /** Why, for logs (e.g. 'rebalance'). */
  reason: string;
  /** Servers (node names) not to move to: the ones at or above their share. */
  exclude?: string[];
}

export function isMigrate(m: unknown): m is MigrateMessage {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as { type?: unknown; reason?: unknown; exclude?: unknown };
  return o.type === 'migrate' && typeof o.reason === 'string' && (o.exclude === undefined || (Array.isArray(o.exclude) && o.exclude.every((x) => typeof x === 'string')));
}

export function isPing(m: unknown): m is PingMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'ping' && Number.isInteger((m as { seq?: unknown }).seq);
}

export function isPong(m: unknown): m is PongMessage {
  return (
    typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'pong' && typeof (m as { id?: unknown }).id === 'string' && Number.isInteger((m as { seq?: unknown }).seq)
  );
}
