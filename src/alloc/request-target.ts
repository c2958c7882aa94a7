import { BadRequestError } from './http-errors.js';

/** Longest request target the service looks at; real ones are a few dozen bytes. */
export const MAX_TARGET_LENGTH = 4_096;

export interface RequestTarget {
  /** Percent-decoded path, e.g. `/register/[::1]:9000`. */
  path: string;
  /** The raw query (after `?`, without `#`), still encoded. */
  rawQuery: string;
}

/**
 * Splits `req.url` into path and query. Not `new URL(raw, base)`: that would read `//x/servers`
 * as host `x` and path `/servers`. Malformed percent-encoding is a 400, never an exception.
 */
export function parseTarget(raw: string | undefined): RequestTarget {
  const target = raw ?? '/';
  if (target.length > MAX_TARGET_LENGTH) throw new BadRequestError(`request target longer than ${MAX_TARGET_LENGTH} characters`);
  if (!target.startsWith('/')) throw new BadRequestError('request target must be an absolute path');
  const hash = target.indexOf('#');
  const noHash = hash === -1 ? target : target.slice(0, hash);
  const q = noHash.indexOf('?');
  const rawPath = q === -1 ? noHash : noHash.slice(0, q);
  const rawQuery = q === -1 ? '' : noHash.slice(q + 1);
  return { path: decode(rawPath, 'path'), rawQuery };
}

function decode(text: string, what: string, plusIsSpace = false): string {
  try {
    return decodeURIComponent(plusIsSpace ? text.replace(/\+/g, ' ') : text);
  } catch {
    throw new BadRequestError(`${what} is not valid percent-encoding`);
  }
}

/** Decodes `a=1&b=2` into name → values; malformed encoding is a 400 naming the parameter. */
export function parseQuery(rawQuery: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (rawQuery === '') return out;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq === -1 ? part : part.slice(0, eq), 'query parameter name', true);
    const value = decode(eq === -1 ? '' : part.slice(eq + 1), `query parameter ${JSON.stringify(name)}`, true);
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

/** The single value of an optional parameter; a repeated one is ambiguous and refused. */
export function singleParam(query: Map<string, string[]>, name: string): string | undefined {
  const values = query.get(name);
  if (!values) return undefined;
  if (values.length > 1) throw BadRequestError.field(name, 'must be given at most once');
  return values[0];
}
