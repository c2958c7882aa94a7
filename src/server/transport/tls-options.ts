import { InvalidArgumentError } from '../../errors.js';

/** A certificate and key to serve TLS with (PEM). */
export interface TlsServerOptions {
  /** PEM certificate chain. */
  cert: string | Buffer;
  /** PEM private key of `cert`. */
  key: string | Buffer;
}

/** What a connecting side trusts when the other end speaks TLS (passed to tls.connect). */
export interface TlsClientOptions {
  /** PEM CA certificate(s) to trust instead of Node's bundled roots. @default Node's roots */
  ca?: string | Buffer | (string | Buffer)[];
  /** Name checked against the certificate. @default the address connected to */
  servername?: string;
  /** @default true; false accepts any certificate (tests only). */
  rejectUnauthorized?: boolean;
}

/** A TLS handshake must finish within this, or the socket is closed uncounted. @default 10000 */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Checks a `tls` option once, at construction. */
export function checkTlsServerOptions(name: string, tls: TlsServerOptions | undefined): void {
  if (tls === undefined) return;
  if (typeof tls !== 'object' || tls === null || !tls.cert || !tls.key) throw InvalidArgumentError.format(name, 'needs both cert and key (PEM)');
}
