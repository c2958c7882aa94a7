import type { MessageId } from '../../protocol/messages.js';

/** A message on its way to one connection, encoded, with its place in its stream. */
export interface PendingDelivery {
  id: MessageId;
  epoch: string;
  offset: number;
  frame: Buffer;
}

/**
 * Where one connection is in one stream (history on): the last offset written to it. The server
 * holding the connection is the stream's ordering point for it: a delivery continuing the stream
 * is written, one at or below `last` is dropped (already written), one past a gap waits in `queue`
 * while the gap is read from the store. `queue` is also set while a login or join replays.
 */
export class StreamCursor {
  /** Deliveries waiting for a replay or a gap fill; undefined when none runs. */
  queue: PendingDelivery[] | undefined;

  constructor(
    public epoch: string,
    public last: number,
  ) {}
}

/**
 * A user's stream on the connection holding the user, plus what the acked cursor needs: the
 * messages written and not yet acked, in offset order (Map insertion order). Everything up to
 * the first of them, or up to `last` when none waits, is acked (or was lost before it could be
 * written): that is the ack point the store's cursor moves to.
 */
export class UserCursor extends StreamCursor {
  readonly unacked = new Map<MessageId, number>();
  /** The ack point last handed to the store. */
  stored: number;

  constructor(epoch: string, last: number, stored: number) {
    super(epoch, last);
    this.stored = stored;
  }

  get ackPoint(): number {
    for (const offset of this.unacked.values()) return offset - 1;
    return this.last;
  }
}
