import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { UnauthorizedError } from './http-errors.js';

const ADMIN_CONTEXT = 'fulcrum-admin\n';

/**
 * The bearer token that authorizes the allocation service's mutating endpoints (push, publish,
 * broadcast, kick): `base64url(HMAC-SHA256(secret, "fulcrum-admin\n"))`. An operator can hand it
 * to a tool without handing out the secret itself, which would also let it mint login tokens
 * and pose as a gateway peer. Shell: `printf 'fulcrum-admin\n' | openssl dgst -sha256 -hmac "$SECRET" -binary | basenc --base64url | tr -d =`.
 */
export function adminToken(secret: string): string {
  return createHmac('sha256', secret).update(ADMIN_CONTEXT).digest('base64url');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Checks `Authorization: Bearer <admin token or the secret>` when a secret is configured; without
 * one every caller is let through (the service then listens on loopback unless told otherwise).
 */
export function requireAdmin(req: IncomingMessage, secret: string | undefined): void {
  if (secret === undefined) return;
  const header = req.headers.authorization;
  if (header === undefined) throw new UnauthorizedError('missing Authorization: Bearer <admin token>');
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (!m) throw new UnauthorizedError('Authorization must be "Bearer <admin token>"');
  const given = m[1]!;
  // Compare against both, always, so the time taken does not tell which one nearly matched.
  const okToken = same(given, adminToken(secret));
  const okSecret = same(given, secret);
  if (!okToken && !okSecret) throw new UnauthorizedError('wrong admin token');
}
