// What the Socket.IO side of the peer bench shares between its server processes and its pusher:
// the Redis adapter over ioredis, and the room each user joins at connection.
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';

/** The room a user's sockets join at connection: `io.to(userRoom(u))` reaches the user wherever it is connected. */
export function userRoom(user: string): string {
  return `user:${user}`;
}

/**
 * The Redis adapter as its README sets it up with ioredis (a publishing and a subscribing
 * connection). Responses to requests (acks of a broadcast, server counts) go to the asking
 * process only (`publishOnSpecificResponseChannel`, a documented option), not to every server.
 */
export function redisAdapter(url: string): { adapter: ReturnType<typeof createAdapter>; close: () => void } {
  const pub = new Redis(url);
  const sub = pub.duplicate();
  return {
    adapter: createAdapter(pub, sub, { publishOnSpecificResponseChannel: true }),
    close: () => {
      pub.disconnect();
      sub.disconnect();
    },
  };
}
