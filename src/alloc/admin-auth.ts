import { createHmac, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from './http-errors.js';

const ADMIN_CONTEXT = 'fulcrum-admin\n';

/**
 * The bearer token that authorizes the allocation service's mutating endpoints (push, publish,
 * broadcast, kick, heartbeat registration): `base64url(HMAC-SHA256(secret, "fulcrum-admin\n"))`. An operator can hand it
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

/** Why an Authorization header does not carry the admin token, or undefined when it does. */
function refusal(header: string | undefined, secret: string): string | undefined {
  if (header === undefined) return 'missing Authorization: Bearer <admin token>';
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (!m) return 'Authorization must be "Bearer <admin token>"';
  const given = m[1]!;
  // Compare against both, always, so the time taken does not tell which one nearly matched.
  const okToken = same(given, adminToken(secret));
  const okSecret = same(given, secret);
  return okToken || okSecret ? undefined : 'wrong admin token';
}

/** True when `Authorization` carries the admin token (or the secret itself). */
export function isAdmin(header: string | undefined, secret: string): boolean {
  return refusal(header, secret) === undefined;
}

/**
 * Checks `Authorization: Bearer <admin token or the secret>` when a secret is configured; without
 * one every caller is let through (the service then listens on loopback unless told otherwise).
 */
export function requireAdmin(header: string | undefined, secret: string | undefined): void {
  if (secret === undefined) return;
  const why = refusal(header, secret);
  if (why !== undefined) throw new UnauthorizedError(why);
}
