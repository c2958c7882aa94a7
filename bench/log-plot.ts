// A standalone SVG log-log line chart (several panels side by side), for the ZooKeeper load model.

export interface Series {
  label: string;
  points: { x: number; y: number }[];
  color: string;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Horizontal reference lines (capacities). */
  limits?: { y: number; label: string }[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  if (v >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

function panelSvg(p: Panel, ox: number, width: number, height: number): string[] {
  const pad = { l: 60, r: 16, t: 34, b: 44 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b - 20 * Math.ceil((p.series.length + (p.limits?.length ?? 0)) / 2);
  const xs = p.series.flatMap((s) => s.points.map((q) => q.x));
  const ys = [...p.series.flatMap((s) => s.points.map((q) => q.y)), ...(p.limits ?? []).map((l) => l.y)].filter((y) => y > 0);
  const x0 = Math.floor(Math.log10(Math.min(...xs)));
  const x1 = Math.ceil(Math.log10(Math.max(...xs)));
  const y0 = Math.floor(Math.log10(Math.min(...ys)));
  const y1 = Math.ceil(Math.log10(Math.max(...ys)));
  const X = (v: number) => ox + pad.l + ((Math.log10(v) - x0) / Math.max(1, x1 - x0)) * w;
  const Y = (v: number) => pad.t + h - ((Math.log10(Math.max(v, 10 ** y0)) - y0) / Math.max(1, y1 - y0)) * h;
  const out: string[] = [];
  out.push(`<text x="${ox + pad.l}" y="22" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
  for (let e = y0; e <= y1; e++) {
    out.push(`<line x1="${ox + pad.l}" x2="${ox + pad.l + w}" y1="${Y(10 ** e)}" y2="${Y(10 ** e)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${ox + pad.l - 6}" y="${Y(10 ** e) + 4}" text-anchor="end" fill="#555">${fmt(10 ** e)}</text>`);
  }
  for (let e = x0; e <= x1; e++) out.push(`<text x="${X(10 ** e)}" y="${pad.t + h + 16}" text-anchor="middle" fill="#555">${fmt(10 ** e)}</text>`);
  out.push(`<line x1="${ox + pad.l}" x2="${ox + pad.l}" y1="${pad.t}" y2="${pad.t + h}" stroke="#333"/><line x1="${ox + pad.l}" x2="${ox + pad.l + w}" y1="${pad.t + h}" y2="${pad.t + h}" stroke="#333"/>`);
  out.push(`<text x="${ox + pad.l + w / 2}" y="${pad.t + h + 34}" text-anchor="middle" fill="#333">${esc(p.xLabel)}</text>`);
  out.push(`<text transform="translate(${ox + 14} ${pad.t + h / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(p.yLabel)}</text>`);
  for (const l of p.limits ?? []) out.push(`<line x1="${ox + pad.l}" x2="${ox + pad.l + w}" y1="${Y(l.y)}" y2="${Y(l.y)}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  for (const s of p.series) {
    const pts = s.points.map((q) => `${X(q.x).toFixed(1)},${Y(q.y).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts}"/>`);
  }
  const legend = [...p.series.map((s) => ({ label: s.label, color: s.color, dashed: s.dashed })), ...(p.limits ?? []).map((l) => ({ label: l.label, color: '#d62728', dashed: true }))];
  legend.forEach((it, i) => {
    const lx = ox + pad.l + (i % 2) * (w / 2);
    const ly = pad.t + h + 52 + Math.floor(i / 2) * 20;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${it.color}" stroke-width="2"${it.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}" fill="#333">${esc(it.label)}</text>`);
  });
  return out;
}

/** Panels side by side in one SVG document. */
export function renderLogLogPanels(panels: Panel[], panelWidth = 520, height = 520): string {
  const width = panelWidth * panels.length;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`, `<rect width="${width}" height="${height}" fill="#fff"/>`];
  panels.forEach((p, i) => out.push(...panelSvg(p, i * panelWidth, panelWidth, height)));
  out.push('</svg>');
  return out.join('\n');
}
