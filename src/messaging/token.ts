import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { isName, WIRE_ERRORS } from '../protocol/messages.js';

/** Lifetime of a token when the issuer does not say. @default 3_600_000 (1 h) */
export const DEFAULT_TOKEN_TTL_MS = 3_600_000;

const TOKEN_CONTEXT = 'fulcrum-token\n';

function mac(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(TOKEN_CONTEXT + payload).digest();
}

function checkSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length === 0) throw InvalidArgumentError.format('secret', 'must be a non-empty string');
}

/**
 * A login token for `user`: `base64url(JSON {u, exp}) "." base64url(HMAC-SHA256(secret, …))`.
 * Any backend holding the secret can issue one; servers configured with the same secret accept it until `exp`.
 */
export function issueToken(secret: string, user: string, ttlMs: number = DEFAULT_TOKEN_TTL_MS, now: number = Date.now()): string {
  checkSecret(secret);
  if (!isName(user)) throw InvalidArgumentError.format('user', 'must be a non-empty string of at most 128 bytes');
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw InvalidArgumentError.format('ttlMs', `must be positive, got ${ttlMs}`);
  const payload = Buffer.from(JSON.stringify({ u: user, exp: Math.floor(now + ttlMs) })).toString('base64url');
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

export type TokenProblem = (typeof WIRE_ERRORS)['tokenMissing' | 'tokenInvalid' | 'tokenExpired' | 'tokenWrongUser'];

/** Undefined when `token` is a valid, unexpired token for `user`; otherwise the stable wire code saying why not. */
export function checkToken(secret: string, user: string, token: string | undefined, now: number = Date.now()): TokenProblem | undefined {
  if (token === undefined || token === '') return WIRE_ERRORS.tokenMissing;
  const dot = token.indexOf('.');
  if (dot <= 0) return WIRE_ERRORS.tokenInvalid;
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = mac(secret, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return WIRE_ERRORS.tokenInvalid;
  let claims: { u?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { u?: unknown; exp?: unknown };
  } catch {
    return WIRE_ERRORS.tokenInvalid;
  }
  if (typeof claims.exp !== 'number' || typeof claims.u !== 'string') return WIRE_ERRORS.tokenInvalid;
  if (claims.exp <= now) return WIRE_ERRORS.tokenExpired;
  if (claims.u !== user) return WIRE_ERRORS.tokenWrongUser;
  return undefined;
}
