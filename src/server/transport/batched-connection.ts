import type { Socket } from 'node:net';

/**
 * Frames written to a connection wait for the end of the event-loop turn, then go to the socket
 * in one write: a turn that delivers many messages to one connection (several publishes read in
 * one chunk, a replay) costs one write, and a turn that writes to thousands of connections costs
 * one setImmediate. Frames keep their order; end() hands the waiting ones over first.
 */
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

  write(frame: Buffer): void {
    if (!this.open) return;
    const p = this.pending;
    if (p === undefined) {
      this.pending = frame;
      flushAtEndOfTurn(this);
    } else if (Array.isArray(p)) p.push(frame);
    else this.pending = [p, frame];
    this.pendingBytes += frame.length;
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

function flushAtEndOfTurn(c: BatchedConnection): void {
  dirty.push(c);
  if (scheduled) return;
  scheduled = true;
  setImmediate(flushAll);
}

function flushAll(): void {
  scheduled = false;
  try {
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  } finally {
    dirty.length = 0;
  }
}
