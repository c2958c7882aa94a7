import type { Socket } from 'node:net';

/**
 * Frames written to a connection wait for the end of the event-loop turn, then go to the socket
 * in one write: a turn that delivers many messages to one connection (several publishes read in
 * one chunk, a replay) costs one write, and a turn that writes to thousands of connections costs
 * one setImmediate. Frames keep their order; end() hands the waiting ones over first.
 */
/**
 * A connection's waiting frames go to the socket at once when they reach this many bytes: a burst
 * of big messages reaches the kernel as it comes (its buffer absorbs what a reader takes), and
 * what waits per connection stays small. Small frames of a turn still leave in one write.
 */
export const FLUSH_AT_BYTES = 64 * 1024;

export abstract class BatchedConnection {
  /** Frames waiting for the end of the turn: one, or several in order. */
  private pending: Buffer | Buffer[] | undefined = undefined;
  /** Their bytes (counted in queuedBytes, so the slow-reader bound stays exact). */
  protected pendingBytes = 0;

  abstract readonly socket: Socket;
  /** Whether the peer can still be written to. */
  protected abstract get open(): boolean;
  /** Hands frames to the transport now: one frame, or several in order (`bytes` in all). */
  protected abstract send(frames: Buffer | Buffer[], bytes: number): void;

  /**
   * Several frames as one buffer. A turn's broadcasts give every connection the same frames in the
   * same order: the buffer made for the previous connection serves the next one when they match.
   */
  protected static joined(frames: Buffer[], bytes: number): Buffer {
    if (!flushing) return Buffer.concat(frames, bytes);
    const last = lastJoined;
    if (last && last.frames.length === frames.length && last.bytes === bytes && sameFrames(last.frames, frames)) return last.buffer;
    const buffer = Buffer.concat(frames, bytes);
    lastJoined = { frames, bytes, buffer };
    return buffer;
  }

  write(frame: Buffer): void {
    if (!this.open) return;
    const p = this.pending;
    if (p === undefined) {
      this.pending = frame;
      flushAtEndOfTurn(this);
    } else if (Array.isArray(p)) p.push(frame);
    else this.pending = [p, frame];
    this.pendingBytes += frame.length;
    if (this.pendingBytes >= FLUSH_AT_BYTES) this.flush();
  }

  /** Hands the waiting frames to the socket now (the turn's flush, or before a close). */
  flush(): void {
    const p = this.pending;
    if (p === undefined) return;
    const bytes = this.pendingBytes;
    this.pending = undefined;
    this.pendingBytes = 0;
    if (this.open) this.send(p, bytes);
  }

  /** Drops the waiting frames (the connection is destroyed). */
  protected discard(): void {
    this.pending = undefined;
    this.pendingBytes = 0;
  }
}

/** Connections with frames waiting, flushed together once per turn. */
const dirty: BatchedConnection[] = [];
let scheduled = false;
let flushing = false;
/** The frames joined last in this turn's flush, and their buffer (dropped after the flush). */
let lastJoined: { frames: Buffer[]; bytes: number; buffer: Buffer } | undefined;

function sameFrames(a: Buffer[], b: Buffer[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function flushAtEndOfTurn(c: BatchedConnection): void {
  dirty.push(c);
  if (scheduled) return;
  scheduled = true;
  setImmediate(flushAll);
}

function flushAll(): void {
  scheduled = false;
  flushing = true;
  try {
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  } finally {
    dirty.length = 0;
    flushing = false;
    lastJoined = undefined;
  }
}

/**
 * Writes `chunk` to a socket corked until the current tick's microtasks have run: requests or
 * results written one by one in a burst (a Router's fan-outs in flight, a gateway's answers to
 * them) leave in one write, so the peer reads them in one chunk and handles them in one turn.
 */
export function writeInTick(socket: Socket, chunk: Buffer): void {
  if (socket.writableCorked === 0) {
    socket.cork();
    process.nextTick(uncork, socket);
  }
  socket.write(chunk);
}

function uncork(socket: Socket): void {
  socket.uncork();
}
