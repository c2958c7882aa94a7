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
