import type { BalanceSample } from './balance-recorder.js';

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(max: number, ticks: number): number {
  const raw = Math.max(1, max) / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag);
}

/** A standalone SVG line chart: one line per server (balance over time), vertical marks for events. */
export function renderBalancePlot(samples: readonly BalanceSample[], marks: readonly { t: number; label: string }[], title: string, width = 900, height = 420): string {
  const pad = { l: 56, r: 190, t: 36, b: 44 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.balances)))].sort();
  const tMax = Math.max(1, ...samples.map((s) => s.t), ...marks.map((m) => m.t));
  const yMax = Math.max(1, ...samples.flatMap((s) => Object.values(s.balances)));
  const yStep = niceStep(yMax, 5);
  const yTop = Math.ceil(yMax / yStep) * yStep;
  const x = (t: number) => pad.l + (t / tMax) * w;
  const y = (v: number) => pad.t + h - (v / yTop) * h;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${pad.l}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);
  for (let v = 0; v <= yTop; v += yStep) {
    out.push(`<line x1="${pad.l}" x2="${pad.l + w}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${v}</text>`);
  }
  const tStep = niceStep(tMax / 1000, 8);
  for (let s = 0; s * 1000 <= tMax; s += tStep) out.push(`<text x="${x(s * 1000)}" y="${pad.t + h + 18}" text-anchor="middle" fill="#555">${+s.toFixed(2)}s</text>`);
  out.push(`<line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${pad.t + h}" stroke="#333"/><line x1="${pad.l}" x2="${pad.l + w}" y1="${pad.t + h}" y2="${pad.t + h}" stroke="#333"/>`);
  out.push(`<text x="${pad.l + w / 2}" y="${height - 8}" text-anchor="middle" fill="#333">time</text>`);
  out.push(`<text transform="translate(14 ${pad.t + h / 2}) rotate(-90)" text-anchor="middle" fill="#333">balance (live connections)</text>`);
  marks.forEach((m, i) => {
    out.push(`<line x1="${x(m.t)}" x2="${x(m.t)}" y1="${pad.t}" y2="${pad.t + h}" stroke="#999" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${x(m.t) + 3}" y="${pad.t + 12 + 14 * (i % 3)}" fill="#666">${esc(m.label)}</text>`);
  });
  names.forEach((name, i) => {
    const color = COLORS[i % COLORS.length];
    // A line breaks where the server was not registered (e.g. after a crash).
    const segments: string[][] = [];
    let cur: string[] = [];
    for (const s of samples) {
      const v = s.balances[name];
      if (v === undefined) {
        if (cur.length) segments.push(cur);
        cur = [];
        continue;
      }
      cur.push(`${x(s.t).toFixed(1)},${y(v).toFixed(1)}`);
    }
    if (cur.length) segments.push(cur);
    for (const seg of segments) out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${seg.join(' ')}"/>`);
    const ly = pad.t + 10 + i * 18;
    out.push(`<line x1="${pad.l + w + 14}" x2="${pad.l + w + 34}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${pad.l + w + 40}" y="${ly + 4}">${esc(name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
