import { createHmac, webcrypto } from 'node:crypto';
import { errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { InvalidArgumentError } from '../errors.js';
import { isName, WIRE_ERRORS } from '../protocol/messages.js';

/** Lifetime of a token when the issuer does not say. @default 3_600_000 (1 h) */
export const DEFAULT_TOKEN_TTL_MS = 3_600_000;
/** Longest key id a token may name. */
export const MAX_KID_LENGTH = 64;

/** The keys a server accepts tokens signed with: the cluster secret for tokens without `kid`, and `keys[kid]` for tokens naming one. */
export interface TokenKeys {
  /** Verifies tokens without a `kid` header. */
  secret?: string;
  /** Key id → HMAC secret; a token whose header names a `kid` is verified with that key only. */
  keys?: Readonly<Record<string, string>>;
}

/** How a token is signed: a secret (no `kid`), or a key with its id. */
export type SigningKey = string | { kid: string; secret: string };

function checkSecret(name: string, secret: unknown): asserts secret is string {
  if (typeof secret !== 'string' || secret.length === 0) throw InvalidArgumentError.format(name, 'must be a non-empty string');
}

function checkKid(kid: unknown): asserts kid is string {
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) throw InvalidArgumentError.format('kid', `must be a non-empty string of at most ${MAX_KID_LENGTH} characters`);
}

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * A login token for `user`: a JWT (RFC 7519) signed with HMAC-SHA256 (JWS `HS256`). Header
 * `{alg:'HS256', typ:'JWT', kid?}`, claims `{sub: user, iat, exp}` in seconds since the epoch
 * (`exp` = now + ttlMs, rounded down to the second). Any backend holding the key can mint the
 * same with any JWT library; servers configured with that key accept it until `exp`.
 */
export function issueToken(key: SigningKey, user: string, ttlMs: number = DEFAULT_TOKEN_TTL_MS, opts: number | { now?: number } = {}): string {
  const now = typeof opts === 'number' ? opts : (opts.now ?? Date.now());
  const secret = typeof key === 'string' ? key : key?.secret;
  checkSecret('secret', secret);
  if (typeof key !== 'string') checkKid(key.kid);
  if (!isName(user)) throw InvalidArgumentError.format('user', 'must be a non-empty string of at most 128 bytes');
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw InvalidArgumentError.format('ttlMs', `must be positive, got ${ttlMs}`);
  const header = typeof key === 'string' ? { alg: 'HS256', typ: 'JWT' } : { alg: 'HS256', typ: 'JWT', kid: key.kid };
  const input = `${b64(header)}.${b64({ sub: user, iat: Math.floor(now / 1000), exp: Math.floor((now + ttlMs) / 1000) })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export type TokenProblem = (typeof WIRE_ERRORS)['tokenMissing' | 'tokenInvalid' | 'tokenExpired' | 'tokenWrongUser'];

/** A checked token: whose it is and until when (epoch ms), or the stable wire code saying why not. */
export type TokenCheck = { ok: true; user: string; expiresAt: number } | { ok: false; problem: TokenProblem };

/** Checks a `keys` option once: non-empty secrets, usable key ids. */
export function checkTokenKeys(keys: TokenKeys): void {
  if (keys.secret !== undefined) checkSecret('secret', keys.secret);
  for (const [kid, secret] of Object.entries(keys.keys ?? {})) {
    checkKid(kid);
    checkSecret(`tokenKeys.${kid}`, secret);
  }
}

/**
 * Verifies login tokens against a set of keys, with jose: HS256 only (any other `alg`, `none`
 * included, is invalid), the key chosen by the header's `kid` (none: the cluster secret), `exp`
 * required and checked against the clock, `sub` the user.
 */
export class TokenVerifier {
  private readonly imported = new Map<string, Promise<webcrypto.CryptoKey>>();
  private readonly getKey: JWTVerifyGetKey;

  constructor(private readonly keys: TokenKeys) {
    checkTokenKeys(keys);
    this.getKey = (header) => {
      const secret = header.kid === undefined ? this.keys.secret : Object.hasOwn(this.keys.keys ?? {}, header.kid) ? this.keys.keys![header.kid] : undefined;
      if (secret === undefined) throw new errors.JWKSNoMatchingKey();
      return this.key(secret);
    };
  }

  /** True when tokens are checked at all (some key is configured). */
  get enabled(): boolean {
    return this.keys.secret !== undefined || Object.keys(this.keys.keys ?? {}).length > 0;
  }

  private key(secret: string): Promise<webcrypto.CryptoKey> {
    let k = this.imported.get(secret);
    if (!k) {
      k = webcrypto.subtle.importKey('raw', Buffer.from(secret, 'utf8'), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
      this.imported.set(secret, k);
    }
    return k;
  }

  /** Whether `token` is a valid, unexpired token for `user` (any user when undefined), and until when. */
  async verify(token: string | undefined, user: string | undefined, now: number = Date.now()): Promise<TokenCheck> {
    if (token === undefined || token === '') return { ok: false, problem: WIRE_ERRORS.tokenMissing };
    let claims: { sub?: unknown; exp?: unknown };
    try {
      ({ payload: claims } = await jwtVerify(token, this.getKey, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'], currentDate: new Date(now) }));
    } catch (e) {
      return { ok: false, problem: e instanceof errors.JWTExpired ? WIRE_ERRORS.tokenExpired : WIRE_ERRORS.tokenInvalid };
    }
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number') return { ok: false, problem: WIRE_ERRORS.tokenInvalid };
    if (user !== undefined && claims.sub !== user) return { ok: false, problem: WIRE_ERRORS.tokenWrongUser };
    return { ok: true, user: claims.sub, expiresAt: claims.exp * 1000 };
  }
}

/** Undefined when `token` is a valid, unexpired token for `user` under `keys` (a secret, or a key set); otherwise the wire code saying why not. */
export async function checkToken(keys: string | TokenKeys, user: string, token: string | undefined, now: number = Date.now()): Promise<TokenProblem | undefined> {
  const r = await new TokenVerifier(typeof keys === 'string' ? { secret: keys } : keys).verify(token, user, now);
  return r.ok ? undefined : r.problem;
}
