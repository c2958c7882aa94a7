import type { IncomingHttpHeaders } from 'node:http';
import { isAdmin } from './admin-auth.js';

/** What the application's hook sees of a `GET /allocate?user=U` request. */
export interface TokenRequest {
  /** The user a token would be issued for. */
  user: string;
  /** The request's headers (a session cookie, an application token…). */
  headers: IncomingHttpHeaders;
  /** The caller's address. */
  remoteAddress: string | undefined;
}

/**
 * Decides whether `/allocate?user=U` hands out a login token for `U`: true issues it. Throwing
 * answers 500 (the decision could not be made), so a broken hook never issues tokens.
 */
export type AuthorizeToken = (req: TokenRequest) => boolean | Promise<boolean>;

/**
 * Whether to issue a login token with an allocation. Never without a secret (there is nothing
 * to sign with, and the servers accept any claimed name anyway). With one, a request carrying the
 * admin token always gets it (what the CLI offers); any other only when the application's hook
 * says so — by default nobody else, so a stranger who reaches the service cannot log in as anyone.
 */
export async function mayIssueToken(secret: string | undefined, hook: AuthorizeToken | undefined, req: TokenRequest): Promise<boolean> {
  if (secret === undefined) return false;
  if (isAdmin(req.headers.authorization, secret)) return true;
  return hook !== undefined && (await hook(req)) === true;
}
