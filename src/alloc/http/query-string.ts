/** Set on a parsed query when part of it is not valid percent-encoding; the hook answers 400. */
export const BAD_QUERY = Symbol('fulcrum.badQuery');

export type ParsedQuery = Record<string, string | string[]> & { [BAD_QUERY]?: string };

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * `a=1&b=2&b=3` → `{a: '1', b: ['2', '3']}` (a repeated name becomes a list, which the route
 * schemas refuse where one value is expected). The router calls this before any hook runs and
 * cannot take an exception, so malformed encoding is recorded, not thrown.
 */
export function parseQueryString(raw: string): ParsedQuery {
  const out: ParsedQuery = Object.create(null) as ParsedQuery;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq === -1 ? part : part.slice(0, eq));
    if (name === undefined) {
      out[BAD_QUERY] ??= 'query parameter name is not valid percent-encoding';
      continue;
    }
    const value = decode(eq === -1 ? '' : part.slice(eq + 1));
    if (value === undefined) {
      out[BAD_QUERY] ??= `query parameter ${JSON.stringify(name)} is not valid percent-encoding`;
      continue;
    }
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}
