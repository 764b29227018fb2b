// The run board's page: polls /api/runs, draws the selected runs with uPlot, and keeps them live.
'use strict';

const LN2 = Math.LN2;
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];
const POLL_MS = 1000;

const state = {
  key: sessionStorage.getItem('board-key') || '',
  version: null,
  runs: [],              // summaries, as /api/runs sends them
  selected: [],          // ids, in the order they were picked
  details: new Map(),    // id -> detail from /api/run
  charts: new Map(),     // id -> {loss, loads: []}
  compare: null,         // the overlay chart
  sortKey: 'updated', sortDir: -1,
  filter: '',
  xMode: 'step',
  log: false,
};

const $ = (sel, el = document) => el.querySelector(sel);
const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));

// ---- talking to the board ----

class Unauthorized extends Error {}

async function api(path) {
  const headers = state.key ? {Authorization: 'Bearer ' + state.key} : {};
  const r = await fetch(path, {headers, cache: 'no-store'});
  if (r.status === 401) throw new Unauthorized((await r.json()).error);
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
  return r.json();
}

async function poll() {
  try {
    const since = state.version == null ? '' : '?since=' + state.version;
    const list = await api('/api/runs' + since);
    $('#keybar').hidden = true;
    setStatus('live', 'live · checked ' + new Date().toLocaleTimeString());
    if (!list.unchanged) await applyList(list);
  } catch (e) {
    if (e instanceof Unauthorized) {
      $('#keybar').hidden = false;
      $('#keyerr').textContent = state.key ? e.message : '';
      setStatus('', 'API key needed');
    } else {
      setStatus('', 'board not reachable (' + e.message + '); retrying');
    }
  }
  setTimeout(poll, POLL_MS);
}

function setStatus(cls, text) {
  const s = $('#status');
  s.className = cls;
  s.textContent = text;
}

async function applyList(list) {
  const first = state.version == null;
  state.version = list.version;
  state.runs = list.runs;
  $('#dirs').textContent = list.dirs.join('  ');
  const known = new Set(list.runs.map(r => r.id));
  state.selected = state.selected.filter(id => known.has(id));
  if (first) {
    const fromHash = decodeURIComponent(location.hash.slice(1)).split(',').filter(id => known.has(id));
    if (fromHash.length) state.selected = fromHash;
    else {
      const latest = list.runs.filter(r => !r.error).sort((a, b) => b.updated - a.updated)[0];
      if (latest) state.selected = [latest.id];
    }
  }
  renderTable();
  await refreshDetails();
  // milliseconds from navigation to the first list and charts, for scripts that time the page
  if (first) document.body.dataset.loadedMs = Math.round(performance.now());
}

/** Fetches the selected runs whose revision changed, then redraws. */
async function refreshDetails() {
  const byId = new Map(state.runs.map(r => [r.id, r]));
  const stale = state.selected.filter(id => {
    const d = state.details.get(id);
    return !d || d.summary.rev !== byId.get(id).rev;
  });
  const fetched = await Promise.all(stale.map(id => api('/api/run?id=' + encodeURIComponent(id)).catch(() => null)));
  stale.forEach((id, i) => { if (fetched[i]) state.details.set(id, fetched[i]); });
  for (const id of state.details.keys()) if (!state.selected.includes(id)) state.details.delete(id);
  renderPanels(new Set(stale));
  renderCompare();
}

// ---- the run list ----

function colorOf(id) {
  const i = state.selected.indexOf(id);
  return i < 0 ? null : COLORS[i % COLORS.length];
}

function fmt(v, digits) { return v == null ? '' : v.toFixed(digits); }

// one formatter each: toLocaleString() builds a new one per call, too slow for hundreds of rows
const INTEGER = new Intl.NumberFormat(undefined, {maximumFractionDigits: 0});
const DATE_TIME = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'medium'});
const DATE = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium'});

function ago(ms) {
  if (!ms) return '';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return Math.round(s) + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return (s / 3600).toFixed(1) + ' h ago';
  return DATE.format(ms);
}

function visibleRuns() {
  const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const rows = state.runs.filter(r => {
    const text = [r.name, r.mixer, r.mlp, r.shape, r.state, r.error].join(' ').toLowerCase();
    return words.every(w => text.includes(w));
  });
  const k = state.sortKey, dir = state.sortDir;
  rows.sort((a, b) => {
    const x = a[k], y = b[k];
    if (x == null && y == null) return 0;
    if (x == null) return 1;
    if (y == null) return -1;
    return (typeof x === 'string' ? x.localeCompare(y) : x - y) * dir;
  });
  return rows;
}

function renderTable() {
  const rows = visibleRuns();
  const html = rows.map(r => {
    const c = colorOf(r.id);
    const sw = c ? `<span class="swatch" style="background:${c}"></span>` : '<span class="swatch"></span>';
    const steps = r.step < 0 ? '–' : r.step + (r.steps ? ' / ' + r.steps : '');
    const tail = r.error
      ? `<td class="error" colspan="3" title="${esc(r.error)}">${esc(r.error)}</td><td><span class="state unreadable">unreadable</span></td>`
      : `<td class="num">${fmt(r.best_val, 4)}</td><td class="num">${fmt(r.best_bpc, 3)}</td><td class="num">${r.tokens_per_s == null ? '' : INTEGER.format(r.tokens_per_s)}</td>`
        + `<td><span class="state ${r.state}">${r.state}</span></td>`;
    return `<tr data-run="${esc(r.id)}" class="${c ? 'selected' : ''}"><td><input type="checkbox" ${c ? 'checked' : ''} tabindex="-1"></td>`
      + `<td class="name">${sw}${esc(r.name)}</td><td>${esc(r.mixer)}</td><td>${esc(r.mlp)}</td><td>${esc(r.shape)}</td>`
      + `<td class="num steps" data-step="${r.step}">${steps}</td>`
      + tail
      + `<td title="${r.updated ? DATE_TIME.format(r.updated) : ''}">${ago(r.updated)}</td></tr>`;
  }).join('');
  $('#runs tbody').innerHTML = html;
  $('#count').textContent = rows.length === state.runs.length ? state.runs.length + ' runs' : rows.length + ' of ' + state.runs.length + ' runs';
  for (const th of document.querySelectorAll('#runs th[data-key]')) {
    th.classList.toggle('sorted-asc', th.dataset.key === state.sortKey && state.sortDir > 0);
    th.classList.toggle('sorted-desc', th.dataset.key === state.sortKey && state.sortDir < 0);
  }
}

function toggle(id) {
  const i = state.selected.indexOf(id);
  if (i >= 0) state.selected.splice(i, 1);
  else state.selected.push(id);
  history.replaceState(null, '', '#' + encodeURIComponent(state.selected.join(',')));
  renderTable();
  refreshDetails();
}

// ---- charts ----

/** Joins [x[], y[]] tables on their x values (each ascending) into uPlot's [x, y1, y2, ...] with nulls. */
function join(tables) {
  const xs = new Set();
  for (const [x] of tables) for (const v of x) if (v != null) xs.add(v);
  const x = Float64Array.from(xs).sort();
  const at = new Map();
  x.forEach((v, i) => at.set(v, i));
  const out = [Array.from(x)];
  for (const [tx, ty] of tables) {
    const y = new Array(x.length).fill(null);
    for (let i = 0; i < tx.length; i++) if (tx[i] != null) y[at.get(tx[i])] = ty[i];
    out.push(y);
  }
  return out;
}

function duration(s) {
  if (s == null) return '';
  s = Math.round(s);
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
  return Math.floor(s / 3600) + 'h' + String(Math.floor(s % 3600 / 60)).padStart(2, '0') + 'm';
}

function xSeries() {
  return state.xMode === 'step'
    ? {label: 'step', value: (u, v) => v == null ? '–' : Math.round(v)}
    : {label: 'wall-clock', value: (u, v) => v == null ? '–' : duration(v)};
}

const lossValue = (u, v) => v == null ? '–' : v.toFixed(4) + ' (' + (v / LN2).toFixed(3) + ' bpc)';

function chartOpts(width, height, series, yLabel, withBpc) {
  const axes = [
    {label: state.xMode === 'step' ? 'step' : 'wall-clock time', values: state.xMode === 'step' ? undefined : (u, vals) => vals.map(duration)},
    {label: yLabel, size: 56},
  ];
  if (withBpc) axes.push({scale: 'y', side: 1, label: 'bpc', size: 56, grid: {show: false}, values: (u, vals) => vals.map(v => v == null ? '' : (v / LN2).toFixed(2))});
  return {
    width, height,
    // on a log scale, the range hugs the data (uPlot's default widens it to whole decades)
    scales: {x: {time: false}, y: withBpc && state.log ? {distr: 3, log: 10, range: (u, min, max) => [min / 1.05, max * 1.05]} : {}},
    series: [xSeries(), ...series],
    axes,
    legend: {live: true},
    cursor: {drag: {x: true, y: false}},
  };
}

function lossSeries(run, color, withName) {
  const prefix = withName ? run + ' ' : '';
  return [
    {label: prefix + 'train', stroke: color, width: 1, alpha: 0.55, spanGaps: true, value: lossValue, points: {show: false}},
    {label: prefix + 'val', stroke: color, width: 2, spanGaps: true, value: lossValue, points: {show: true, size: 5, fill: color}},
  ];
}

function lossTables(d) {
  const x = state.xMode;
  return [[d.train[x], d.train.loss], [d.val[x], d.val.loss]];
}

/** New data for a chart; a chart the user zoomed into keeps its zoom while the run grows. */
function update(u, data) {
  const xs = u.data[0], x = u.scales.x;
  const zoomed = xs.length > 0 && (x.min > xs[0] || x.max < xs[xs.length - 1]);
  u.setData(data, !zoomed);
}

/** A uPlot chart in {@code el} that follows the element's width. */
function makeChart(el, height, series, yLabel, withBpc, data) {
  const u = new uPlot(chartOpts(Math.max(300, el.clientWidth), height, series, yLabel, withBpc), data, el);
  const ro = new ResizeObserver(() => {
    const w = Math.max(300, el.clientWidth);
    if (Math.abs(w - u.width) > 2) u.setSize({width: w, height});
  });
  ro.observe(el);
  const destroy = u.destroy.bind(u);
  u.destroy = () => { ro.disconnect(); destroy(); };
  return u;
}

// ---- per-run panels ----

function renderPanels(changed) {
  const host = $('#panels');
  for (const p of [...host.children]) {
    if (!state.selected.includes(p.dataset.run)) {
      destroyCharts(p.dataset.run);
      p.remove();
    }
  }
  for (const id of state.selected) {
    const d = state.details.get(id);
    if (!d) continue;
    let p = host.querySelector(`.panel[data-run="${CSS.escape(id)}"]`);
    if (!p) {
      p = document.createElement('div');
      p.className = 'panel';
      p.dataset.run = id;
      host.appendChild(p);
      buildPanel(p, d);
    } else if (changed.has(id)) {
      updatePanel(p, d);
    }
  }
  // keep the panels in selection order
  for (const id of state.selected) {
    const p = host.querySelector(`.panel[data-run="${CSS.escape(id)}"]`);
    if (p) host.appendChild(p);
  }
}

function destroyCharts(id) {
  const c = state.charts.get(id);
  if (!c) return;
  c.loss?.destroy();
  c.loads.forEach(u => u.destroy());
  state.charts.delete(id);
}

function buildPanel(p, d) {
  destroyCharts(p.dataset.run);
  const s = d.summary, color = colorOf(s.id);
  p.innerHTML = `<h2><span class="swatch" style="background:${color}"></span>${esc(s.name)} <span class="state ${s.state}">${s.state}</span></h2>
    <div class="dir">${esc(d.dir)}</div>
    <div class="error"></div>
    <div class="chart loss-chart"></div>
    <div class="loads"></div>
    <h3>learned weights</h3><div class="heatmaps"></div>
    <h3>end-of-run sample</h3><pre class="sample"></pre>
    <details><summary>config</summary><table class="kv config"></table></details>`;
  const charts = {loss: null, loads: []};
  state.charts.set(s.id, charts);
  if (!s.error) {
    const el = $('.loss-chart', p);
    charts.loss = makeChart(el, 260, lossSeries(s.name, color, false), 'loss (nats)', true, join(lossTables(d)));
  }
  updatePanel(p, d);
}

function updatePanel(p, d) {
  const s = d.summary, charts = state.charts.get(s.id);
  const badge = $('h2 .state', p);
  badge.className = 'state ' + s.state;
  badge.textContent = s.state;
  $('.error', p).textContent = s.error || '';
  if (s.error && charts.loss) { charts.loss.destroy(); charts.loss = null; }
  if (!s.error && !charts.loss) { buildPanel(p, d); return; }
  if (charts.loss) update(charts.loss, join(lossTables(d)));
  $('.loss-chart', p).dataset.points = d.train.step.length + d.val.step.length;     // rows drawn, for scripts that watch the page
  renderLoads(p, d, charts);
  renderHeatmaps($('.heatmaps', p), d);
  $('.sample', p).textContent = d.sample ?? (s.state === 'finished'
    ? '(no sample.txt: trained with --sample-tokens 0, or before runs kept their sample)'
    : '(written when the run completes)');
  $('.config', p).innerHTML = d.config ? Object.entries(d.config).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(JSON.stringify(v))}</td></tr>`).join('') : '';
}

function renderLoads(p, d, charts) {
  const host = $('.loads', p);
  if (!d.loads.length) {
    charts.loads.forEach(u => u.destroy());
    charts.loads = [];
    host.innerHTML = '';
    return;
  }
  if (charts.loads.length !== d.loads.length) {
    charts.loads.forEach(u => u.destroy());
    charts.loads = [];
    host.innerHTML = '';
    for (const l of d.loads) {
      const box = document.createElement('div');
      box.innerHTML = `<h3>layer ${l.layer}: expert loads (share of routed tokens)</h3><div class="chart load-chart"></div>`;
      host.appendChild(box);
      const series = l.experts.map((_, e) => ({label: 'expert ' + e, stroke: COLORS[e % COLORS.length], width: 1, spanGaps: true,
        value: (u, v) => v == null ? '–' : (100 * v).toFixed(1) + '%'}));
      charts.loads.push(makeChart($('.load-chart', box), 150, series, 'load', false, loadData(d, l)));
    }
  } else {
    d.loads.forEach((l, i) => update(charts.loads[i], loadData(d, l)));
  }
}

function loadData(d, l) {
  const x = d.train[state.xMode];
  return join(l.experts.map(e => [x, e]));
}

function renderHeatmaps(host, d) {
  host.innerHTML = '';
  if (d.weights_error) host.innerHTML = `<div class="error">${esc(d.weights_error)}</div>`;
  if (!d.heatmaps.length) {
    const why = d.summary.error ? '' : !d.has_model ? 'no model.safetensors yet (written at the first evaluation)'
      : d.summary.mixer === 'dot' ? 'the dot mixer has no lag or window weights' : 'no lag-bias or window weights in this model';
    if (!d.weights_error) host.insertAdjacentHTML('beforeend', `<div class="muted">${why}</div>`);
    return;
  }
  for (const h of d.heatmaps) host.appendChild(heatmap(h));
}

/** A heat map drawn on a canvas: rows × cols cells, blue below zero, red above, scaled to the largest magnitude. */
function heatmap(h) {
  const box = document.createElement('div');
  box.className = 'heatmap';
  const cw = Math.max(8, Math.min(28, Math.floor(360 / h.cols))), ch = 18, left = 26, top = 14;
  const canvas = document.createElement('canvas');
  const dpr = window.devicePixelRatio || 1;
  const W = left + h.cols * cw, H = top + h.rows * ch;
  canvas.width = W * dpr;
  canvas.height = H * dpr;
  canvas.style.width = W + 'px';
  canvas.style.height = H + 'px';
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  const max = Math.max(1e-12, ...h.values.map(v => Math.abs(v ?? 0)));
  g.font = '10px sans-serif';
  g.fillStyle = '#6b7280';
  g.textAlign = 'center';
  const every = Math.ceil(h.cols / 16);
  for (let c = 0; c < h.cols; c += every) g.fillText(String(c + h.first_col), left + c * cw + cw / 2, 10);
  g.textAlign = 'right';
  for (let r = 0; r < h.rows; r++) {
    g.fillStyle = '#6b7280';
    g.fillText('h' + r, left - 4, top + r * ch + 13);
    for (let c = 0; c < h.cols; c++) {
      const v = h.values[r * h.cols + c] ?? 0, t = Math.min(1, Math.abs(v) / max);
      const [R, G, B] = v >= 0 ? [255, 255 - 190 * t, 255 - 200 * t] : [255 - 200 * t, 255 - 140 * t, 255];
      g.fillStyle = `rgb(${R | 0},${G | 0},${B | 0})`;
      g.fillRect(left + c * cw, top + r * ch, cw - 1, ch - 1);
    }
  }
  const title = document.createElement('div');
  title.textContent = `${h.title} (${h.row_label} × ${h.col_label}, ±${max.toPrecision(3)})`;
  const readout = document.createElement('div');
  readout.className = 'readout';
  canvas.addEventListener('mousemove', e => {
    const c = Math.floor((e.offsetX - left) / cw), r = Math.floor((e.offsetY - top) / ch);
    readout.textContent = r >= 0 && r < h.rows && c >= 0 && c < h.cols ? `${h.row_label} ${r}, ${h.col_label} ${c + h.first_col}: ${h.values[r * h.cols + c]?.toFixed(4)}` : '';
  });
  canvas.addEventListener('mouseleave', () => { readout.textContent = ''; });
  box.append(title, canvas, readout);
  return box;
}

// ---- comparing runs ----

function renderCompare() {
  const host = $('#compare');
  const ds = state.selected.map(id => state.details.get(id)).filter(d => d && !d.summary.error);
  if (ds.length < 2) {
    state.compare?.destroy();
    state.compare = null;
    host.hidden = true;
    host.innerHTML = '';
    return;
  }
  host.hidden = false;
  const key = ds.map(d => d.summary.id).join('\n') + '|' + state.xMode + '|' + state.log;
  const data = join(ds.flatMap(lossTables));
  if (state.compare && host.dataset.key === key) {
    update(state.compare, data);
  } else {
    state.compare?.destroy();
    host.dataset.key = key;
    host.innerHTML = `<div><h2>compare: ${ds.map(d => esc(d.summary.name)).join(' vs ')}</h2><div class="chart compare-chart"></div><div class="diff"></div></div>`;
    const series = ds.flatMap(d => lossSeries(d.summary.name, colorOf(d.summary.id), true));
    state.compare = makeChart($('.compare-chart', host), 300, series, 'loss (nats)', true, data);
  }
  $('.diff', host).innerHTML = ds.length === 2 ? configDiff(ds[0], ds[1]) : '<div class="muted">select exactly two runs for a config diff</div>';
}

function configDiff(a, b) {
  const ca = a.config || {}, cb = b.config || {};
  const keys = [...new Set([...Object.keys(ca), ...Object.keys(cb)])].filter(k => k !== 'out');
  const differ = keys.filter(k => JSON.stringify(ca[k]) !== JSON.stringify(cb[k]));
  if (!differ.length) return '<h3>config</h3><div class="muted">the configs are the same (apart from out)</div>';
  return `<h3>config: ${differ.length} difference${differ.length > 1 ? 's' : ''}</h3><table class="kv diff"><tr><td></td><td>${esc(a.summary.name)}</td><td>${esc(b.summary.name)}</td></tr>`
    + differ.map(k => `<tr class="diff"><td>${esc(k)}</td><td>${esc(JSON.stringify(ca[k]))}</td><td>${esc(JSON.stringify(cb[k]))}</td></tr>`).join('') + '</table>';
}

// ---- controls ----

function redrawAll() {
  for (const p of document.querySelectorAll('#panels .panel')) buildPanel(p, state.details.get(p.dataset.run));
  state.compare?.destroy();
  state.compare = null;
  $('#compare').dataset.key = '';
  renderCompare();
}

function init() {
  $('#runs thead').addEventListener('click', e => {
    const k = e.target.closest('th')?.dataset.key;
    if (!k) return;
    state.sortDir = state.sortKey === k ? -state.sortDir : (k === 'name' || k === 'mixer' || k === 'mlp' || k === 'shape' || k === 'state' ? 1 : -1);
    state.sortKey = k;
    renderTable();
  });
  $('#runs tbody').addEventListener('click', e => {
    const tr = e.target.closest('tr[data-run]');
    if (tr) toggle(tr.dataset.run);
  });
  $('#filter').addEventListener('input', e => { state.filter = e.target.value; renderTable(); });
  for (const r of document.querySelectorAll('input[name=xaxis]')) r.addEventListener('change', e => { state.xMode = e.target.value; redrawAll(); });
  $('#logscale').addEventListener('change', e => { state.log = e.target.checked; redrawAll(); });
  $('#clear').addEventListener('click', () => { state.selected = []; history.replaceState(null, '', '#'); renderTable(); refreshDetails(); });
  $('#keygo').addEventListener('click', () => {
    state.key = $('#key').value.trim();
    sessionStorage.setItem('board-key', state.key);
    state.version = null;
  });
  setInterval(() => { if (state.runs.length) renderTable(); }, 15000);      // the "updated" column ages
  poll();
}

init();
