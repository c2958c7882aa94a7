import { DELIVERY_CODES } from '../../protocol/messages.js';
import type { GatewayRequestBody, GatewayResult } from '../gateway/gateway-protocol.js';
import { compareLogins } from '../login-order.js';
import { encodeMessage, type HistoryDelivery } from './history-delivery.js';
import type { UserSessions } from './user-sessions.js';

export type GatewayAnswer = Omit<GatewayResult, 'type' | 'rid'>;

const positionOf = (req: { offset?: number; epoch?: string }) => (req.offset !== undefined && req.epoch !== undefined ? { offset: req.offset, epoch: req.epoch } : {});

/**
 * Answers the requests routers and peer servers send to this server's gateway (already
 * validated by the gateway): deliver to one user, publish to a room or everyone, kick, where.
 */
export class GatewayRequests {
  constructor(
    private readonly users: UserSessions,
    private readonly ackTimeoutMs: number,
    private readonly history?: HistoryDelivery,
  ) {}

  /** Answers one request (from a peer, or from this server's own router). */
  async handle(req: GatewayRequestBody): Promise<GatewayAnswer> {
    switch (req.type) {
      case 'deliver':
        return this.deliver(req);
      case 'publish': {
        // Encoded once for every recipient.
        const from = req.from !== undefined ? { from: req.from } : {};
        const bytes = encodeMessage({ type: 'message', id: req.id, body: req.body, ...from, ...(req.room !== undefined ? { room: req.room, ...positionOf(req) } : { broadcast: true }) });
        if (!bytes) return { ok: false, code: DELIVERY_CODES.tooLarge };
        // Written without acks: clients ack only their own stream's messages (an ack for a room message or broadcast is ignored).
        if (req.room === undefined) return { ok: true, recipients: this.users.deliverToEveryone(bytes) };
        if (this.history && req.offset !== undefined && req.epoch !== undefined) {
          // Each member's place in the room's stream decides: written now, after a gap fill, or not again.
          const d = { id: req.id, epoch: req.epoch, offset: req.offset, frame: bytes };
          let n = 0;
          for (const s of this.users.members(req.room)) if (this.history.offerRoom(s, req.room, d)) n++;
          return { ok: true, recipients: n };
        }
        return { ok: true, recipients: this.users.deliverToRoom(req.room, bytes) };
      }
      case 'kick': {
        const s = this.users.get(req.user);
        if (!s?.order || s.state === 'closing') return { ok: true, kicked: false };
        // Ours is the newer login: say so, and the asking server drops its own.
        if (req.before && compareLogins(s.order, req.before) >= 0) return { ok: true, kicked: false, holder: s.order };
        this.users.kick(s, req.reason);
        return { ok: true, kicked: true };
      }
      case 'where': {
        const s = this.users.get(req.user);
        return s?.order && s.state !== 'closing' ? { ok: true, holder: s.order } : { ok: true };
      }
    }
  }

  private async deliver(req: Extract<GatewayRequestBody, { type: 'deliver' }>): Promise<GatewayAnswer> {
    let s = this.users.get(req.user);
    // Routed here before our welcome went out (a router saw the stored route first): nothing reaches a user before its welcome.
    if (s?.state === 'logging-in') {
      await this.users.loginSettled(s);
      s = this.users.get(req.user);
    }
    if (!s || s.state !== 'online') return { ok: false, code: DELIVERY_CODES.offline };
    const bytes = encodeMessage({ type: 'message', id: req.id, body: req.body, ...(req.from !== undefined ? { from: req.from } : {}), ...positionOf(req) });
    if (!bytes) return { ok: false, code: DELIVERY_CODES.tooLarge };
    const acked = req.ack ? this.users.waitAck(s, req.id, req.ackTimeoutMs ?? this.ackTimeoutMs) : undefined;
    if (s.userStream && req.offset !== undefined && req.epoch !== undefined) {
      // The connection's place in the user's stream decides: written now, after a gap fill, or not again (then an earlier ack counts).
      this.history!.offerUser(s, { id: req.id, epoch: req.epoch, offset: req.offset, frame: bytes });
    } else if (!this.users.deliver(s, bytes)) return { ok: false, code: DELIVERY_CODES.offline };
    if (!acked) return { ok: true };
    return (await acked) ? { ok: true, acked: true } : { ok: false, code: DELIVERY_CODES.notAcked };
  }
}
