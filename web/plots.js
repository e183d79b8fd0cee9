// Small SVG plots drawn here (no library): histograms, cumulative distributions, box plots.

const NS = "http://www.w3.org/2000/svg";
export const COLOURS = ["#1f77b4", "#d62728", "#7f7f7f", "#2ca02c", "#9467bd", "#ff7f0e"];

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// About `count` round tick values covering [lo, hi].
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

const tickLabel = t => Math.abs(t) >= 1e4 ? t.toExponential(0).replace("+", "") : String(t);

// A frame with axes; returns the svg and scale functions for the plot area.
function frame({width = 360, height = 220, x, y, xLabel, yLabel, title, xTicks = true}) {
  const m = {left: 52, right: 12, top: title ? 22 : 10, bottom: 38};
  const root = svg("svg", {class: "plot", width, height, viewBox: `0 0 ${width} ${height}`,
                           role: "img", "aria-label": title || yLabel || ""});
  const w = width - m.left - m.right, h = height - m.top - m.bottom;
  const sx = v => m.left + (x[1] > x[0] ? (v - x[0]) / (x[1] - x[0]) : 0.5) * w;
  const sy = v => m.top + h - (y[1] > y[0] ? (v - y[0]) / (y[1] - y[0]) : 0) * h;
  const axis = svg("g", {class: "axis"});
  axis.append(svg("path", {d: `M${m.left},${m.top}V${m.top + h}H${m.left + w}`, fill: "none"}));
  for (const t of xTicks ? ticks(x[0], x[1]) : []) {
    axis.append(svg("line", {x1: sx(t), x2: sx(t), y1: m.top + h, y2: m.top + h + 4}));
    axis.append(svg("text", {x: sx(t), y: m.top + h + 15, "text-anchor": "middle"}, tickLabel(t)));
  }
  for (const t of ticks(y[0], y[1], 4)) {
    axis.append(svg("line", {x1: m.left - 4, x2: m.left, y1: sy(t), y2: sy(t)}));
    axis.append(svg("text", {x: m.left - 6, y: sy(t) + 4, "text-anchor": "end"}, tickLabel(t)));
  }
  if (xLabel) axis.append(svg("text", {x: m.left + w / 2, y: height - 4, "text-anchor": "middle"}, xLabel));
  if (yLabel) {
    axis.append(svg("text", {x: 12, y: m.top + h / 2, "text-anchor": "middle",
                             transform: `rotate(-90 12 ${m.top + h / 2})`}, yLabel));
  }
  if (title) axis.append(svg("text", {x: m.left, y: 14, "font-weight": "bold"}, title));
  root.append(axis);
  return {root, sx, sy};
}

const finite = values => values.filter(v => v !== null && v !== undefined && Number.isFinite(v));

// A histogram of `values` (nulls skipped) in `bins` equal bins.
export function histogram(values, {bins = 20, colour = COLOURS[0], ...opts} = {}) {
  const v = finite(values);
  let lo = v.length ? Math.min(...v) : 0, hi = v.length ? Math.max(...v) : 1;
  if (hi === lo) { lo -= 0.5; hi += 0.5; }
  const width = (hi - lo) / bins, counts = new Array(bins).fill(0);
  for (const x of v) counts[Math.min(bins - 1, Math.floor((x - lo) / width))]++;
  const f = frame({...opts, x: [lo, hi], y: [0, Math.max(1, ...counts)], yLabel: opts.yLabel ?? "count"});
  counts.forEach((c, i) => {
    if (!c) return;
    const x0 = f.sx(lo + i * width), x1 = f.sx(lo + (i + 1) * width);
    f.root.append(svg("rect", {x: x0 + 0.5, width: Math.max(1, x1 - x0 - 1), y: f.sy(c),
                               height: f.sy(0) - f.sy(c), fill: colour, class: "bar"}));
  });
  return f.root;
}

// Cumulative distributions of several samples: series = [{label, values, colour}].
export function cdf(series, opts = {}) {
  const all = series.flatMap(s => finite(s.values));
  const lo = Math.min(0, ...all), hi = all.length ? Math.max(...all) : 1;
  const f = frame({...opts, x: [lo, hi > lo ? hi : lo + 1], y: [0, 1], yLabel: opts.yLabel ?? "fraction ≤ x"});
  series.forEach((s, i) => {
    const v = finite(s.values).sort((a, b) => a - b);
    if (!v.length) return;
    let d = `M${f.sx(lo)},${f.sy(0)}`;
    v.forEach((x, k) => { d += `H${f.sx(x)}V${f.sy((k + 1) / v.length)}`; });
    d += `H${f.sx(hi)}`;
    f.root.append(svg("path", {d, fill: "none", stroke: s.colour ?? COLOURS[i % COLOURS.length],
                               "stroke-width": 1.6, class: "cdf", "data-label": s.label}));
  });
  return f.root;
}

// Box plots (quartiles, median, whiskers at the extremes) of several samples side by side.
export function boxes(series, opts = {}) {
  const all = series.flatMap(s => finite(s.values));
  const hi = all.length ? Math.max(...all) : 1;
  const f = frame({...opts, x: [0, series.length], y: [0, hi || 1], xTicks: false});
  series.forEach((s, i) => {
    const v = finite(s.values).sort((a, b) => a - b);
    if (!v.length) return;
    const q = p => v[Math.min(v.length - 1, Math.floor(p * (v.length - 1) + 0.5))];
    const cx = f.sx(i + 0.5), half = Math.min(24, (f.sx(1) - f.sx(0)) * 0.3);
    const colour = s.colour ?? COLOURS[i % COLOURS.length];
    f.root.append(svg("line", {x1: cx, x2: cx, y1: f.sy(v[0]), y2: f.sy(v[v.length - 1]), stroke: colour}));
    f.root.append(svg("rect", {x: cx - half, width: 2 * half, y: f.sy(q(0.75)),
                               height: Math.max(1, f.sy(q(0.25)) - f.sy(q(0.75))),
                               fill: "#fff", stroke: colour, "stroke-width": 1.5}));
    f.root.append(svg("line", {x1: cx - half, x2: cx + half, y1: f.sy(q(0.5)), y2: f.sy(q(0.5)),
                               stroke: colour, "stroke-width": 2}));
    f.root.append(svg("text", {x: cx, y: f.sy(0) + 15, "text-anchor": "middle"}, s.label));
  });
  return f.root;
}

export function legend(series) {
  const div = document.createElement("div");
  div.className = "legend";
  series.forEach((s, i) => {
    const span = document.createElement("span"), swatch = document.createElement("i");
    swatch.style.background = s.colour ?? COLOURS[i % COLOURS.length];
    span.append(swatch, s.label);
    div.append(span);
  });
  return div;
}
