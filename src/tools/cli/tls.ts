import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';

export const TLS_OPTIONS = {
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

export const TLS_HELP = `  --tls-cert FILE                serve TLS: PEM certificate (chain); needs --tls-key
  --tls-key FILE                 PEM private key of --tls-cert`;

function read(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`--${flag}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * The certificate and key of --tls-cert / --tls-key, checked before anything starts: both or
 * neither, each parses as PEM, and the key belongs to the certificate.
 */
export function tlsOf(values: { 'tls-cert'?: string; 'tls-key'?: string }): { cert: Buffer; key: Buffer } | undefined {
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new UsageError('--tls-cert and --tls-key go together');
  const cert = read('tls-cert', certFile);
  const key = read('tls-key', keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new UsageError(`--tls-cert: ${certFile} is not a PEM certificate`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new UsageError(`--tls-key: ${keyFile} is not a PEM private key (or it is encrypted)`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new UsageError(`--tls-key: ${keyFile} is not the key of ${certFile}`);
  return { cert, key };
}

/** A PEM CA bundle given by `--flag FILE`, checked before anything starts. */
export function caOf(flag: string, file: string): Buffer {
  const ca = read(flag, file);
  try {
    new X509Certificate(ca);
  } catch {
    throw new UsageError(`--${flag}: ${file} is not a PEM certificate`);
  }
  return ca;
}

export const GATEWAY_CA_OPTIONS = { 'gateway-ca': { type: 'string' } } as const;
export const GATEWAY_CA_HELP = `  --gateway-ca FILE              PEM CA certificate(s) trusted for servers' TLS gateways
                                 (default: Node's CA roots)`;

/** `{ ca }` from --gateway-ca, or undefined. */
export function gatewayTrustOf(values: { 'gateway-ca'?: string }): { ca: Buffer } | undefined {
  const file = values['gateway-ca'];
  return file === undefined ? undefined : { ca: caOf('gateway-ca', file) };
}
