import http from 'node:http';

/** GETs a URL; resolves with the status, content type and body. */
export function httpGet(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Samples of a Prometheus text exposition, keyed by name plus labels exactly as written (`a_bucket{le="1"}`). */
export function parseExposition(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    m.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return m;
}

/** Scrapes a /metrics URL into samples; rejects on a non-200 answer. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const r = await httpGet(url);
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status} ${r.body}`);
  return parseExposition(r.body);
}
