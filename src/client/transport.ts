/** Where a transport delivers each decoded frame, in order. */
export type FrameReceiver = (frame: unknown) => void;

/**
 * One connection to a server as the client's messaging session sees it: frames out, frames in,
 * close. Raw framed TCP (`TcpTransport`) is the implementation today; a WebSocket one fits the
 * same shape.
 */
export interface Transport {
  /** The server's address, for messages. */
  readonly peer: string;
  readonly isOpen: boolean;
  /** Sends one frame; false (nothing sent) once the transport is closed. */
  send(frame: object): boolean;
  /** From now on decoded frames go to `receiver`; frames that arrive while none is set wait for the next one. */
  receive(receiver: FrameReceiver | undefined): void;
  /** Resolves once, when the transport has closed; with the reason when it broke (an undecodable stream, a socket error). */
  readonly closed: Promise<Error | undefined>;
  /** Graceful close; destroyed if the peer has not closed within `lingerMs`. */
  end(lingerMs: number): void;
  destroy(): void;
}

/**
 * Waits for the first frame `pick` accepts, taking the receiver while it waits and letting go of
 * it in the same tick the frame is found, so frames behind it wait for the next receiver.
 * Rejects with `onTimeout()` / `onClose()` when neither comes first.
 */
export function nextFrame<T>(t: Transport, pick: (frame: unknown) => frame is T, timeoutMs: number, errors: { onTimeout: () => Error; onClose: () => Error }): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, frame?: T) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      t.receive(undefined);
      if (err) reject(err);
      else resolve(frame!);
    };
    const timer = setTimeout(() => finish(errors.onTimeout()), timeoutMs);
    // Only while waiting: a close long after the answer must not build an error (a stack) for nobody.
    void t.closed.then(() => done || finish(errors.onClose()));
    t.receive((frame) => {
      if (pick(frame)) finish(undefined, frame);
    });
  });
}
