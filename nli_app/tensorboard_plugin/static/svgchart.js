// svgchart.js: a small SVG chart library for the nli_app_sharpness TensorBoard plugin (no dependencies).
//
// lineChart(spec) returns an <svg class="chart"> element:
//   spec = {
//     title, xLabel, yLabel, y2Label,
//     width = 560, height = 320,
//     xScale = 'linear' | 'log2' | 'log10', yScale = 'linear' | 'log10', y2Scale = 'linear' | 'log10',
//     xTicks: optional array of x values to label (e.g. the batch sizes of a sweep),
//     xInteger: whole-number x ticks only (e.g. training steps),
//     yDomain / y2Domain: optional [min, max] (e.g. to share an axis between charts),
//     vlines: [{x, label}] vertical reference lines,
//     series: [{name, color, dash: false|true, axis: 'left'|'right', points: [[x, y], ...]}],
//   }
// Points with a non-finite coordinate (or a non-positive one on a log axis) are skipped; a line breaks there.
//
// contourChart(spec) returns an <svg class="chart contour"> element with iso-lines of a gridded surface:
//   spec = {title, xLabel, yLabel, width = 420, height = 380, xs: [...], ys: [...], z: [[...]] (rows: ys,
//           columns: xs), levels = 12, marker: optional [x, y] point to mark (e.g. the minimiser)}
// Levels are evenly spaced in log10 when every z > 0 (loss surfaces rise steeply), else linearly; one
// <path class="contour-line" data-level> per level, drawn by marching squares (saddles split by the cell mean).

const SVG_NS = 'http://www.w3.org/2000/svg';

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
  '#bcbd22', '#17becf'];

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, str, attrs) {
  const node = el('text', attrs, parent);
  node.textContent = str;
  return node;
}

// A scale maps a domain value to [0, 1]; log scales work in log space.
function makeScale(kind, domain) {
  const f = kind === 'log2' ? Math.log2 : kind === 'log10' ? Math.log10 : (v) => v;
  let [lo, hi] = [f(domain[0]), f(domain[1])];
  if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
  const map = (v) => (f(v) - lo) / (hi - lo);
  map.kind = kind;
  map.valid = (v) => Number.isFinite(v) && (kind === 'linear' || v > 0);
  return map;
}

// "Nice" linear ticks covering [lo, hi] (about `count` of them), extending the domain to tick boundaries;
// `integer` keeps them whole numbers (training steps, batch sizes).
function niceTicks(lo, hi, count = 5, integer = false) {
  if (!(hi > lo)) {
    const pad = integer ? 1 : lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad; hi += pad;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const err = raw / mag;
  let step = mag * (err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1);
  if (integer) step = Math.max(1, Math.round(step));
  const start = Math.floor(lo / step + 1e-9) * step;
  const stop = Math.ceil(hi / step - 1e-9) * step;
  const ticks = [];
  for (let v = start; v <= stop + step * 1e-6; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

function logTicks(lo, hi) {
  const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
  const ticks = [];
  for (let e = a; e <= b; e++) ticks.push(10 ** e);
  return ticks;
}

function formatNumber(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  if (a >= 100) return v.toFixed(0);
  return String(Number(v.toPrecision(3)));
}

function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return lo <= hi ? [lo, hi] : null;
}

// Domain and ticks of one axis from its values (or a fixed domain).
function axis(kind, values, fixed, forcedTicks, integer = false) {
  const valid = values.filter((v) => Number.isFinite(v) && (kind === 'linear' || v > 0));
  let dom = fixed || extent(valid) || (kind === 'linear' ? [0, 1] : [1, 10]);
  let ticks;
  if (forcedTicks) {
    ticks = forcedTicks.filter((v) => kind === 'linear' || v > 0);
    dom = extent([...ticks, ...dom]);
  } else if (kind === 'linear') {
    ticks = niceTicks(dom[0], dom[1], 5, integer);
    dom = [ticks[0], ticks[ticks.length - 1]];
  } else {
    ticks = logTicks(dom[0], dom[1]);
    dom = [ticks[0], ticks[ticks.length - 1]];
  }
  return {scale: makeScale(kind, dom), ticks, domain: dom};
}

// The [min, max] of the values that series on `side` would put on an axis of `kind` (for shared axes).
export function seriesExtent(series, side = 'left', kind = 'linear') {
  const ys = [];
  for (const s of series) {
    if ((s.axis || 'left') !== side) continue;
    for (const p of s.points) if (Number.isFinite(p[1]) && (kind === 'linear' || p[1] > 0)) ys.push(p[1]);
  }
  return extent(ys);
}

// Flowing legend: {x, row} per series, items as wide as their label (estimated at 6.2 px per character).
function legendLayout(series, left, right) {
  let x = left, row = 0;
  return series.map((s) => {
    const w = 23 + 6.2 * String(s.name).length + 18;
    if (x > left && x + w > right) { x = left; row += 1; }
    const at = {x, row};
    x += w;
    return at;
  });
}

// Grid lines, tick labels, frame and axis labels of the plot area (m: margins; iw, ih: inner size).
function drawAxes(svg, spec, X, Y, m, iw, ih, height) {
  const grid = el('g', {class: 'grid'}, svg);
  for (const t of Y.ticks) {
    const y = m.top + (1 - Y.scale(t)) * ih;
    el('line', {x1: m.left, x2: m.left + iw, y1: y, y2: y}, grid);
    text(svg, formatNumber(t), {x: m.left - 6, y: y + 4, class: 'tick', 'text-anchor': 'end'});
  }
  for (const t of X.ticks) {
    const x = m.left + X.scale(t) * iw;
    el('line', {x1: x, x2: x, y1: m.top, y2: m.top + ih}, grid);
    text(svg, formatNumber(t), {x, y: m.top + ih + 16, class: 'tick', 'text-anchor': 'middle'});
  }
  el('rect', {x: m.left, y: m.top, width: iw, height: ih, class: 'frame'}, svg);
  if (spec.xLabel) {
    text(svg, spec.xLabel, {x: m.left + iw / 2, y: height - 8, class: 'axis-label', 'text-anchor': 'middle'});
  }
  if (spec.yLabel) {
    text(svg, spec.yLabel, {x: 0, y: 0, class: 'axis-label', 'text-anchor': 'middle',
      transform: `translate(14 ${m.top + ih / 2}) rotate(-90)`});
  }
}

export function lineChart(spec) {
  const width = spec.width || 560, height = spec.height || 320;
  const series = spec.series || [];
  const hasRight = series.some((s) => s.axis === 'right');
  const legend = legendLayout(series, 62, width - 18);
  const legendRows = legend.length ? legend[legend.length - 1].row + 1 : 0;
  const m = {top: 34 + 16 * legendRows, right: hasRight ? 62 : 18, bottom: 44, left: 62};
  const iw = width - m.left - m.right, ih = height - m.top - m.bottom;
  const xKind = spec.xScale || 'linear';
  const yKind = spec.yScale || 'linear';
  const y2Kind = spec.y2Scale || 'linear';

  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const X = axis(xKind, xs, null, spec.xTicks, Boolean(spec.xInteger));
  const Y = axis(yKind, series.filter((s) => s.axis !== 'right').flatMap((s) => s.points.map((p) => p[1])),
    spec.yDomain);
  const Y2 = axis(y2Kind, series.filter((s) => s.axis === 'right').flatMap((s) => s.points.map((p) => p[1])),
    spec.y2Domain);
  const px = (v) => m.left + X.scale(v) * iw;
  const py = (v, right) => m.top + (1 - (right ? Y2 : Y).scale(v)) * ih;

  const svg = el('svg', {class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`,
    role: 'img', 'data-series': series.length});
  if (spec.title) text(svg, spec.title, {x: m.left, y: 18, class: 'chart-title'});

  // Legend.
  series.forEach((s, i) => {
    const lx = legend[i].x, ly = 32 + legend[i].row * 16;
    const g = el('g', {class: 'legend-item'}, svg);
    el('line', {x1: lx, x2: lx + 18, y1: ly - 4, y2: ly - 4, stroke: s.color, 'stroke-width': 2.5,
      'stroke-dasharray': s.dash ? '5 3' : null}, g);
    text(g, s.name, {x: lx + 23, y: ly, class: 'legend-label'});
  });

  drawAxes(svg, spec, X, Y, m, iw, ih, height);
  if (hasRight) {
    for (const t of Y2.ticks) {
      text(svg, formatNumber(t), {x: m.left + iw + 6, y: py(t, true) + 4, class: 'tick', 'text-anchor': 'start'});
    }
  }
  if (hasRight && spec.y2Label) {
    text(svg, spec.y2Label, {x: 0, y: 0, class: 'axis-label', 'text-anchor': 'middle',
      transform: `translate(${width - 10} ${m.top + ih / 2}) rotate(90)`});
  }

  for (const v of spec.vlines || []) {
    if (!X.scale.valid(v.x)) continue;
    const x = px(v.x);
    if (x < m.left || x > m.left + iw) continue;
    el('line', {x1: x, x2: x, y1: m.top, y2: m.top + ih, class: 'vline'}, svg);
    if (v.label) text(svg, v.label, {x: x + 4, y: m.top + 12, class: 'vline-label'});
  }

  // Series: a path broken at invalid points, plus a marker with a tooltip per point.
  const plot = el('g', {class: 'plot'}, svg);
  for (const s of series) {
    const right = s.axis === 'right';
    const yScale = right ? Y2.scale : Y.scale;
    let d = '';
    let pen = false;
    const pts = [];
    for (const [x, y] of s.points) {
      if (!X.scale.valid(x) || !yScale.valid(y)) { pen = false; continue; }
      const sx = px(x).toFixed(1), sy = py(y, right).toFixed(1);
      d += `${pen ? 'L' : 'M'}${sx},${sy}`;
      pen = true;
      pts.push([sx, sy, x, y]);
    }
    el('path', {d, class: 'series', stroke: s.color, 'stroke-dasharray': s.dash ? '6 4' : null,
      'data-name': s.name}, plot);
    if (pts.length <= 60) {
      for (const [sx, sy, x, y] of pts) {
        const c = el('circle', {cx: sx, cy: sy, r: pts.length === 1 ? 4 : 2.6, fill: s.color, class: 'marker'}, plot);
        el('title', {}, c).textContent = `${s.name}\n${spec.xLabel || 'x'} = ${formatNumber(x)}\n` +
          `${(right ? spec.y2Label : spec.yLabel) || 'y'} = ${formatNumber(y)}`;
      }
    }
  }
  return svg;
}

// Colour of level k of n: a blue -> green -> yellow ramp (low to high).
function rampColor(k, n) {
  const stops = [[49, 54, 149], [69, 117, 180], [116, 173, 209], [102, 189, 99], [217, 239, 139], [254, 224, 139],
    [244, 109, 67], [165, 0, 38]];
  const t = n > 1 ? (k / (n - 1)) * (stops.length - 1) : 0;
  const i = Math.min(stops.length - 2, Math.floor(t)), f = t - i;
  const c = stops[i].map((v, j) => Math.round(v + f * (stops[i + 1][j] - v)));
  return `rgb(${c.join(',')})`;
}

// Segments of the iso-line z = level through one grid cell with corners a (x0,y0), b (x1,y0), c (x1,y1),
// d (x0,y1): pairs of [x, y] points, by marching squares.
function cellSegments(level, x0, x1, y0, y1, a, b, c, d) {
  const cut = (za, zb, pa, pb) => {
    const t = (level - za) / (zb - za);
    return [pa[0] + t * (pb[0] - pa[0]), pa[1] + t * (pb[1] - pa[1])];
  };
  const P = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
  const Z = [a, b, c, d];
  const crossings = [];
  for (let e = 0; e < 4; e++) {
    const z1 = Z[e], z2 = Z[(e + 1) % 4];
    if ((z1 < level) !== (z2 < level)) crossings.push(cut(z1, z2, P[e], P[(e + 1) % 4]));
  }
  if (crossings.length === 2) return [crossings];
  if (crossings.length === 4) {  // a saddle: pair the crossings so that the cell mean's side stays connected
    const above = (a + b + c + d) / 4 >= level;
    return (a >= level) === above ? [[crossings[0], crossings[3]], [crossings[1], crossings[2]]]
      : [[crossings[0], crossings[1]], [crossings[2], crossings[3]]];
  }
  return [];
}

export function contourChart(spec) {
  const width = spec.width || 420, height = spec.height || 380;
  const xs = spec.xs, ys = spec.ys, z = spec.z;
  const m = {top: 44, right: 18, bottom: 44, left: 62};
  const iw = width - m.left - m.right, ih = height - m.top - m.bottom;
  const X = axis('linear', xs, [Math.min(...xs), Math.max(...xs)]);
  const Y = axis('linear', ys, [Math.min(...ys), Math.max(...ys)]);
  const px = (v) => m.left + X.scale(v) * iw;
  const py = (v) => m.top + (1 - Y.scale(v)) * ih;
  const svg = el('svg', {class: 'chart contour', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img'});
  if (spec.title) text(svg, spec.title, {x: m.left, y: 18, class: 'chart-title'});
  drawAxes(svg, spec, X, Y, m, iw, ih, height);

  const values = z.flat().filter(Number.isFinite);
  const [lo, hi] = extent(values) || [0, 1];
  const n = spec.levels || 12;
  const useLog = lo > 0;
  const levels = [];
  for (let k = 1; k <= n; k++) {
    const t = k / (n + 1);
    levels.push(useLog ? 10 ** (Math.log10(lo) + t * (Math.log10(hi) - Math.log10(lo))) : lo + t * (hi - lo));
  }
  const plot = el('g', {class: 'plot'}, svg);
  levels.forEach((level, k) => {
    let d = '';
    for (let j = 0; j + 1 < ys.length; j++) {
      for (let i = 0; i + 1 < xs.length; i++) {
        const corners = [z[j][i], z[j][i + 1], z[j + 1][i + 1], z[j + 1][i]];
        if (!corners.every(Number.isFinite)) continue;
        for (const [p, q] of cellSegments(level, xs[i], xs[i + 1], ys[j], ys[j + 1], ...corners)) {
          d += `M${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}L${px(q[0]).toFixed(1)},${py(q[1]).toFixed(1)}`;
        }
      }
    }
    if (!d) return;
    const path = el('path', {d, class: 'contour-line', stroke: rampColor(k, n), 'data-level': level}, plot);
    el('title', {}, path).textContent = `loss = ${formatNumber(level)}`;
  });
  if (spec.marker) {
    const c = el('circle', {cx: px(spec.marker[0]), cy: py(spec.marker[1]), r: 4, class: 'contour-marker'}, plot);
    el('title', {}, c).textContent = `minimiser (${spec.marker.join(', ')})`;
  }
  text(svg, `${levels.length} levels, ${formatNumber(levels[0])} … ${formatNumber(levels[levels.length - 1])}` +
    (useLog ? ' (log-spaced)' : ''), {x: m.left, y: 34, class: 'legend-label'});
  return svg;
}
