// Frontend of the nli_app_sharpness TensorBoard plugin (an ES module loaded in TensorBoard's plugin iframe).
//
// Views (Keskar et al., ICLR 2017): sharpness (Metric 2.1) over steps per run with epsilon / subspace / maximiser
// selectors and the SB and LB runs side by side; the latest sharpness (both maximisers), Hessian lambda_max and trace
// per run and mean +- sample std per run group (Tables 3-4); filter-normalised 2-D loss surfaces as contour plots
// (Li et al. 2018); parametric interpolation curves (Figure 3); batch-size sweeps (Figure 4). Data comes from the
// plugin's JSON routes.
import {contourChart, lineChart, seriesExtent, PALETTE} from './svgchart.js';

const BASE = new URL('../', import.meta.url);  // .../data/plugin/nli_app_sharpness/

async function getJson(route, params = {}) {
  const url = new URL(route, BASE);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const response = await fetch(url);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `${route}: HTTP ${response.status}`);
  return body;
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function formatValue(v) {
  if (v === null || v === undefined) return '—';
  if (v !== 0 && Math.abs(v) < 0.01) return v.toExponential(2);
  return v.toFixed(2);
}

const METHOD_LABEL = {default: 'φ (our maximiser)', paper: 'φ (paper: L-BFGS-B)'};
const QUANTITY_LABEL = {lambda_max: 'Hessian λ_max', trace: 'Hessian trace'};

function settingLabel(s) {
  if (s.kind === 'curvature') return QUANTITY_LABEL[s.quantity] || s.quantity;
  const method = s.method ? `${METHOD_LABEL[s.method] || s.method}, ` : '';
  return `${method}ε = ${s.epsilon}, ${s.subspace_dim ? `p = ${s.subspace_dim}` : 'full space'}`;
}

// The name given to nli_app.summary.sharpness / curvature: the tag without its settings suffix
// ("/eps=.../(full|p=...)[/method]" or "/lambda_max", "/trace").
function tagName(tag) {
  return tag.replace(/\/eps=[^/]*\/[^/]*(\/(default|paper))?$/, '').replace(/\/(lambda_max|trace)$/, '');
}

function regimeOf(entry) {
  return entry.regime || 'runs';
}

// Names sharing a parent path (e.g. F1/...) together; within it SB before LB before the rest, then by name.
const REGIME_RANK = {SB: 0, LB: 1};
function byRegimeThenName(a, b, regimeA, regimeB) {
  const parent = (name) => name.replace(/[^/]*$/, '');
  return parent(a).localeCompare(parent(b)) || (REGIME_RANK[regimeA] ?? 2) - (REGIME_RANK[regimeB] ?? 2) ||
    a.localeCompare(b);
}

// Two charts side by side when the frame is wide enough (body and card padding, panel borders, the gap).
function chartWidth() {
  const available = (document.body.clientWidth || 1200) - 2 * 20 - 2 * 17 - 2 * 2 - 12 - 16;
  return Math.max(400, Math.min(680, Math.floor(available / 2)));
}

// Stable colours per run across all panels.
function colourer(runs) {
  const index = new Map(runs.map((r, i) => [r, i]));
  return (run) => PALETTE[(index.get(run) ?? 0) % PALETTE.length];
}

function section(title, subtitle, id) {
  return h('section', {class: 'card', id},
    h('h2', {}, title), subtitle ? h('p', {class: 'subtitle'}, subtitle) : null);
}

function emptyNote(text) {
  return h('p', {class: 'empty'}, text);
}

// ---- sharpness over steps -------------------------------------------------------------------------------------

async function sharpnessView(runs, colour) {
  const card = section('Sharpness over training',
    'Metric 2.1: φ(ε, A) in percent, per run. Small-batch (SB) and large-batch (LB) runs side by side.',
    'sharpness-steps');
  const entries = [];
  for (const [run, kinds] of Object.entries(runs)) for (const e of kinds.sharpness) entries.push({run, ...e});
  if (!entries.length) {
    card.append(emptyNote('No sharpness summaries yet: write them with nli_app.summary.sharpness(...).'));
    return card;
  }
  const methods = [...new Set(entries.map((e) => e.method || 'paper'))].sort();
  const epsilons = [...new Set(entries.map((e) => e.epsilon))].sort((a, b) => b - a);
  const spaces = [...new Set(entries.map((e) => e.subspace_dim ?? 'full'))]
    .sort((a, b) => (a === 'full' ? -1 : b === 'full' ? 1 : a - b));

  const epsSelect = h('select', {id: 'epsilon-select'},
    epsilons.map((e) => h('option', {value: e}, `ε = ${e}`)));
  const spaceSelect = h('select', {id: 'subspace-select'},
    spaces.map((s) => h('option', {value: s}, s === 'full' ? 'full space (A = I)' : `random subspace, p = ${s}`)));
  const methodSelect = h('select', {id: 'method-select'},
    methods.map((m) => h('option', {value: m}, METHOD_LABEL[m] || m)));
  const logBox = h('input', {type: 'checkbox', id: 'log-scale', checked: true});
  const sharedBox = h('input', {type: 'checkbox', id: 'shared-axis', checked: true});
  const controls = h('div', {class: 'controls'},
    h('label', {}, 'Box size ', epsSelect), h('label', {}, 'Subspace ', spaceSelect),
    h('label', {}, 'Maximiser ', methodSelect),
    h('label', {}, logBox, ' log scale'), h('label', {}, sharedBox, ' same y-axis for all panels'));
  const panels = h('div', {class: 'panels'});
  card.append(controls, panels);

  const cache = new Map();
  async function series(entry) {
    const key = `${entry.run}\u0000${entry.tag}`;
    if (!cache.has(key)) cache.set(key, getJson('sharpness', {run: entry.run, tag: entry.tag}));
    return cache.get(key);
  }

  async function draw() {
    const eps = Number(epsSelect.value);
    const space = spaceSelect.value;
    const chosen = entries.filter((e) => e.epsilon === eps && String(e.subspace_dim ?? 'full') === space &&
      (e.method || 'paper') === methodSelect.value);
    panels.replaceChildren();
    if (!chosen.length) {
      panels.append(emptyNote(`No runs measured sharpness with ε = ${eps}, ${space === 'full' ? 'the full space'
        : `p = ${space}`} and this maximiser.`));
      return;
    }
    const byRegime = new Map();
    for (const e of chosen) {
      if (!byRegime.has(regimeOf(e))) byRegime.set(regimeOf(e), []);
      byRegime.get(regimeOf(e)).push(e);
    }
    const order = [...byRegime.keys()].sort((a, b) => byRegimeThenName(a, b, a, b));
    const kind = logBox.checked ? 'log10' : 'linear';
    const names = [...new Set(chosen.map((e) => tagName(e.tag)))].sort();
    const manyNames = names.length > 1;
    const specs = [];
    for (const regime of order) {
      const data = await Promise.all(byRegime.get(regime).map(series));
      const s = data.map((d) => ({name: manyNames ? `${d.run} · ${tagName(d.tag)}` : d.run, color: colour(d.run),
        dash: manyNames && tagName(d.tag) !== names[0], points: d.points.map((p) => [p.step, p.value])}));
      const batch = [...new Set(byRegime.get(regime).map((e) => e.batch_size).filter((b) => b))];
      specs.push({title: `${regime}${batch.length === 1 ? ` (batch ${batch[0]})` : ''} · ${settingLabel(chosen[0])}`,
        xLabel: 'step', xInteger: true, yLabel: 'sharpness φ (%)', yScale: kind, series: s, width: chartWidth(), height: 320});
    }
    if (sharedBox.checked) {
      const all = specs.flatMap((sp) => sp.series);
      const dom = seriesExtent(all, 'left', kind);
      if (dom) for (const sp of specs) sp.yDomain = dom;
    }
    for (const sp of specs) panels.append(h('div', {class: 'panel'}, lineChart(sp)));
  }
  for (const c of [epsSelect, spaceSelect, methodSelect, logBox, sharedBox]) c.addEventListener('change', draw);
  await draw();
  return card;
}

// ---- table of latest values -----------------------------------------------------------------------------------

function tableView(data) {
  const card = section('Latest sharpness and curvature (Tables 3–4)',
    'Latest φ (both maximisers), Hessian λ_max and trace per run; groups are runs whose names differ only in a ' +
    'trial index (e.g. F1/SB/trial_0, trial_1), shown as mean ± sample std (n − 1 in the denominator) over the ' +
    'N trials of each group.', 'sharpness-table');
  if (!data.rows.length) {
    card.append(emptyNote('No sharpness summaries yet.'));
    return card;
  }
  const settings = new Map();
  const kindRank = (r) => (r.kind === 'curvature' ? 1 : 0);
  const columnOrder = (a, b) => kindRank(a) - kindRank(b) || tagName(a.tag).localeCompare(tagName(b.tag)) ||
    (b.epsilon ?? 0) - (a.epsilon ?? 0) || (a.subspace_dim ?? 0) - (b.subspace_dim ?? 0) ||
    String(a.method ?? a.quantity).localeCompare(String(b.method ?? b.quantity));
  for (const r of [...data.rows].sort(columnOrder)) {
    if (!settings.has(r.tag)) settings.set(r.tag, r);
  }
  const tags = [...settings.keys()];
  const manyNames = new Set(tags.map(tagName)).size > 1;
  const header = (first) => h('tr', {}, first.map((t) => h('th', {}, t)),
    tags.map((t) => h('th', {class: 'num', title: t},
      manyNames ? [h('span', {class: 'tag-name'}, tagName(t)), h('br'), settingLabel(settings.get(t))]
        : settingLabel(settings.get(t)))));

  const groups = new Map();
  for (const g of data.groups) {
    if (!groups.has(g.group)) groups.set(g.group, {regime: g.regime, batch: g.batch_size, count: g.count, byTag: {}});
    groups.get(g.group).byTag[g.tag] = g;
  }
  const groupOrder = [...groups.keys()].sort((a, b) =>
    byRegimeThenName(a, b, groups.get(a).regime, groups.get(b).regime));
  const grouped = h('table', {id: 'sharpness-groups', class: 'data'},
    h('caption', {}, `mean ± ${data.std || 'sample std'} over N trials`),
    h('thead', {}, header(['Group', 'Regime', 'Batch', 'N trials'])),
    h('tbody', {}, groupOrder.map((name) => {
      const g = groups.get(name);
      return h('tr', {'data-group': name},
        h('td', {}, name), h('td', {}, h('span', {class: `badge ${g.regime || ''}`}, g.regime || '—')),
        h('td', {class: 'num'}, g.batch ?? '—'), h('td', {class: 'num'}, g.count),
        tags.map((t) => {
          const v = g.byTag[t];
          return h('td', {class: 'num', 'data-tag': t},
            v ? [h('span', {class: 'mean'}, formatValue(v.mean)),
              v.count > 1 ? h('span', {class: 'pm'}, ` ± ${formatValue(v.std)}`) : null]
              : '—');
        }));
    })));

  const runs = new Map();
  for (const r of data.rows) {
    if (!runs.has(r.run)) runs.set(r.run, {regime: r.regime, batch: r.batch_size, step: r.step, byTag: {}});
    runs.get(r.run).byTag[r.tag] = r;
    runs.get(r.run).step = Math.max(runs.get(r.run).step, r.step);
  }
  const perRun = h('table', {id: 'sharpness-runs', class: 'data'},
    h('thead', {}, header(['Run', 'Regime', 'Batch', 'Step'])),
    h('tbody', {}, [...runs.keys()].sort((a, b) => byRegimeThenName(a, b, runs.get(a).regime, runs.get(b).regime))
      .map((name) => {
      const r = runs.get(name);
      return h('tr', {'data-run': name},
        h('td', {}, name), h('td', {}, h('span', {class: `badge ${r.regime || ''}`}, r.regime || '—')),
        h('td', {class: 'num'}, r.batch ?? '—'), h('td', {class: 'num'}, r.step),
        tags.map((t) => h('td', {class: 'num', 'data-tag': t}, formatValue(r.byTag[t]?.value))));
    })));
  card.append(grouped, h('details', {}, h('summary', {}, `Per run (${runs.size} runs)`), perRun));
  return card;
}

// ---- 2-D loss surfaces ----------------------------------------------------------------------------------------

async function surfaceView(runs) {
  const card = section('Loss surface (Li et al., 2018)',
    'Training loss f(θ + α δ + β η) around the minimiser θ along two random directions δ, η normalised filter by ' +
    'filter to the weights\' norms (biases and BatchNorm parameters fixed): contours of equal loss.', 'surface');
  const items = [];
  for (const [run, kinds] of Object.entries(runs)) for (const e of kinds.surface || []) items.push({run, ...e});
  if (!items.length) {
    card.append(emptyNote('No loss surfaces yet: write them with nli_app.summary.loss_surface(...).'));
    return card;
  }
  items.sort((a, b) => byRegimeThenName(a.run, b.run, a.regime, b.regime));
  const surfaces = await Promise.all(items.map((e) => getJson('surface', {run: e.run, tag: e.tag})));
  const panels = h('div', {class: 'panels'});
  surfaces.forEach((s, i) => {
    const regime = items[i].regime ? ` (${items[i].regime})` : '';
    panels.append(h('div', {class: 'panel'}, contourChart({
      title: `${s.run}${regime} · ${s.tag} (step ${s.step})`, xLabel: 'α (direction δ)', yLabel: 'β (direction η)',
      xs: s.alphas, ys: s.betas, z: s.loss, marker: [0, 0], width: Math.min(460, chartWidth()), height: 400,
    })));
  });
  card.append(panels);
  return card;
}

// ---- interpolation curves -------------------------------------------------------------------------------------

async function interpolationView(runs) {
  const card = section('Parametric plots (Figure 3)',
    'f(α x_l + (1 − α) x_s) (linear) and f(sin(απ/2) x_l + cos(απ/2) x_s) (curved) between the SB minimiser ' +
    'x_s (α = 0) and the LB minimiser x_l (α = 1). Loss on the left axis, accuracy on the right.', 'interpolation');
  const items = [];
  for (const [run, kinds] of Object.entries(runs)) for (const e of kinds.interpolation) items.push({run, ...e});
  if (!items.length) {
    card.append(emptyNote('No interpolation summaries yet: write them with nli_app.summary.interpolation(...).'));
    return card;
  }
  items.sort((a, b) => a.run.localeCompare(b.run) || (a.path === 'linear' ? -1 : 1));
  const curves = await Promise.all(items.map((e) => getJson('interpolation', {run: e.run, tag: e.tag})));
  const panels = h('div', {class: 'panels'});
  for (const c of curves) {
    const pts = (ys) => c.alpha.map((a, i) => [a, ys[i]]);
    panels.append(h('div', {class: 'panel'}, lineChart({
      title: `${c.run} · ${c.tag} (${c.path}, step ${c.step})`, xLabel: 'α', yLabel: 'cross-entropy loss',
      y2Label: 'accuracy', width: chartWidth(), height: 330,
      vlines: [{x: 0, label: 'x_s'}, {x: 1, label: 'x_l'}],
      series: [
        {name: 'train loss', color: PALETTE[0], points: pts(c.train_loss)},
        {name: 'test loss', color: PALETTE[0], dash: true, points: pts(c.test_loss)},
        {name: 'train accuracy', color: PALETTE[3], axis: 'right', points: pts(c.train_accuracy)},
        {name: 'test accuracy', color: PALETTE[3], dash: true, axis: 'right', points: pts(c.test_accuracy)},
      ],
    })));
  }
  card.append(panels);
  return card;
}

// ---- batch-size sweeps ----------------------------------------------------------------------------------------

async function sweepView(runs) {
  const card = section('Batch-size sweep (Figure 4)',
    'Test accuracy (left axis) and sharpness (right axis) at the final iterate against the batch size.', 'sweep');
  const items = [];
  for (const [run, kinds] of Object.entries(runs)) for (const e of kinds.sweep) items.push({run, ...e});
  if (!items.length) {
    card.append(emptyNote('No sweep summaries yet: write them with nli_app.summary.sweep(...).'));
    return card;
  }
  const sweeps = await Promise.all(items.map((e) => getJson('sweep', {run: e.run, tag: e.tag})));
  const panels = h('div', {class: 'panels'});
  for (const s of sweeps) {
    panels.append(h('div', {class: 'panel'}, lineChart({
      title: `${s.run} · ${s.tag} (step ${s.step})`, xLabel: 'batch size', yLabel: 'test accuracy',
      y2Label: 'sharpness φ (%)', xScale: 'log2', xTicks: s.batch_size, y2Scale: 'log10', width: chartWidth(), height: 330,
      series: [
        {name: 'test accuracy', color: PALETTE[0], points: s.batch_size.map((b, i) => [b, s.test_accuracy[i]])},
        {name: 'sharpness', color: PALETTE[1], dash: true, axis: 'right',
          points: s.batch_size.map((b, i) => [b, s.sharpness[i]])},
      ],
    })));
  }
  card.append(panels);
  return card;
}

// ---- page -----------------------------------------------------------------------------------------------------

async function renderInto(root) {
  root.replaceChildren(h('p', {class: 'loading'}, 'Loading…'));
  const [{runs}, tableData] = await Promise.all([getJson('tags'), getJson('sharpness_table')]);
  const colour = colourer(Object.keys(runs).sort());
  const views = await Promise.all([sharpnessView(runs, colour), tableView(tableData), surfaceView(runs),
    interpolationView(runs), sweepView(runs)]);
  root.replaceChildren(...views);
}

export async function render() {
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = new URL('./style.css', import.meta.url).href;
  document.head.append(link);
  const reload = h('button', {id: 'reload', type: 'button', title: 'Read the logs again'}, 'Reload');
  const header = h('header', {},
    h('div', {}, h('h1', {}, 'Sharpness & loss landscape'),
      h('p', {class: 'subtitle'}, 'Keskar et al., On Large-Batch Training for Deep Learning: ' +
        'Generalization Gap and Sharp Minima (ICLR 2017)')),
    reload);
  const root = h('main', {id: 'views'});
  document.body.replaceChildren(header, root);
  async function refresh() {
    document.body.dataset.ready = 'false';
    try {
      await renderInto(root);
    } catch (e) {
      root.replaceChildren(h('p', {class: 'error', id: 'error'}, `Could not load the plugin data: ${e.message}`));
    }
    document.body.dataset.ready = 'true';
  }
  reload.addEventListener('click', refresh);
  await refresh();
}
