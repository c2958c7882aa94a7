import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';

export const SECRET_OPTIONS = {
  'secret-file': { type: 'string' },
} as const;

export const SECRET_HELP = `  --secret-file PATH             messaging secret: the first line of the file (env FULCRUM_SECRET otherwise);
                                 never a flag of its own, which every user could read in ps`;

/** The messaging secret from --secret-file, else FULCRUM_SECRET, else none; the same rule as `npm run servers`. */
export function secretOf(values: { 'secret-file'?: string }): string | undefined {
  const file = values['secret-file'];
  if (file === undefined) return process.env.FULCRUM_SECRET || undefined;
  let secret: string;
  try {
    secret = readFileSync(file, 'utf8').split('\n')[0]!.trim();
  } catch (e) {
    throw new UsageError(`--secret-file: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!secret) throw new UsageError(`--secret-file: ${file} is empty`);
  return secret;
}

export const TOKEN_KEYS_OPTIONS = {
  'token-keys-file': { type: 'string' },
} as const;

export const TOKEN_KEYS_HELP = `  --token-keys-file PATH         more keys login tokens may be signed with: a JSON object {"kid": "secret", …};
                                 a token naming a kid in its header is checked with that key (rotation)`;

/** The key set of --token-keys-file (a JSON object of non-empty strings), or undefined. */
export function tokenKeysOf(values: { 'token-keys-file'?: string }): Record<string, string> | undefined {
  const file = values['token-keys-file'];
  if (file === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--token-keys-file: ${code ? `cannot read ${file} (${code})` : `${file} is not JSON`}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`--token-keys-file: ${file} must hold a JSON object {"kid": "secret", …}`);
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length === 0) throw new UsageError(`--token-keys-file: ${file} names no key`);
  for (const [kid, secret] of entries) {
    if (kid.length === 0 || kid.length > 64 || typeof secret !== 'string' || secret.length === 0) throw new UsageError(`--token-keys-file: key ${JSON.stringify(kid)} must be a kid of 1-64 characters with a non-empty string secret`);
  }
  return parsed as Record<string, string>;
}
