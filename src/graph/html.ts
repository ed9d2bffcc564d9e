/**
 * The graph as one self-contained HTML page: totals, then every node indented by scope, with op,
 * attributes, shape, precision (binary values highlighted), parameters and source line.
 * `graphToDrawnHtml` puts the drawing (./draw.ts) first and keeps this table as a second view.
 */
import type { Summary } from '../cost.js';
import { ARROW_DEFS, drawingElements, type Drawing } from './draw.js';
import { describeAttrs } from './print.js';
import type { Graph } from './types.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** One table row per node. */
function tableRows(graph: Graph): string[] {
  return graph.nodes.map((node) => {
    const depth = node.name.split('/').length - 1;
    const params = node.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    const binary = node.params.some((p) => p.binary);
    const where = node.source ? `${node.source.file}:${node.source.line}:${node.source.column}` : '';
    const inputs = node.inputs.map((i) => graph.nodes[i].name).join(', ');
    return `<tr class="${node.precision}${binary ? ' binkernel' : ''}"><td>${node.id}</td><td style="padding-left:${0.4 + depth * 1.2}em" title="inputs: ${esc(inputs)}">${esc(node.name)}</td><td>${esc(node.op)}</td><td>${esc(describeAttrs(node))}</td><td>${node.precision}[${node.shape.join('×')}]</td><td class="num">${params ? params.toLocaleString('en-US') : ''}</td><td class="src">${esc(where)}</td></tr>`;
  });
}

const TABLE_HEAD = '<table><thead><tr><th>#</th><th>name</th><th>op</th><th>attributes</th><th>output</th><th>params</th><th>source</th></tr></thead>';

function totals(graph: Graph, summary: Summary): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  return `<dl><dt>input</dt><dd>${graph.input.join('×')}</dd><dt>classes</dt><dd>${graph.classes}</dd>
<dt>params</dt><dd>${fmt(summary.params.total)} (${fmt(summary.params.binary)} binary, ${fmt(summary.params.float)} float)</dd>
<dt>model size</dt><dd>${fmt(summary.memoryBytes)} bytes</dd>
<dt>MACs</dt><dd>${summary.macs.binary.toExponential(3)} binary, ${summary.macs.float.toExponential(3)} float</dd>
<dt>OPs</dt><dd>${summary.ops.toExponential(3)}</dd><dt>nodes</dt><dd>${fmt(summary.nodes)}</dd></dl>`;
}

const TABLE_STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
td.num{text-align:right}td.src{color:#888}tr.bin td:nth-child(5){background:#ffe0b2}tr.binkernel td:nth-child(3){background:#ffcc80;font-weight:600}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{color:#666}`;

export function graphToHtml(graph: Graph, summary: Summary): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(graph.name)} — SoFAr graph</title>
<style>
${TABLE_STYLE}
</style></head><body>
<h1>${esc(graph.name)}</h1>
${totals(graph, summary)}
<p>Orange: binary values ({−1,+1}) and binary kernels.</p>
${TABLE_HEAD}
<tbody>
${tableRows(graph).join('\n')}
</tbody></table></body></html>
`;
}

/** Where params and OPs go: one bar per top-level scope (nodes outside any scope count as `(top)`). */
function costBars(drawing: Drawing, summary: Summary): string {
  const parts = new Map<string, { params: number; ops: number }>();
  for (const n of drawing.nodes) {
    const top = n.group ? n.group.split('/')[0].replace(/#\d+$/, '') : '(top)';
    const p = parts.get(top) ?? { params: 0, ops: 0 };
    p.params += n.params;
    p.ops += n.ops;
    parts.set(top, p);
  }
  const rows = [...parts].map(([name, p]) => {
    const share = (v: number, total: number) => (total ? (100 * v) / total : 0);
    const bar = (cls: string, pct: number, text: string) => `<div class="bar"><div class="${cls}" style="width:${pct.toFixed(2)}%"></div><span>${text}</span></div>`;
    return `<tr data-stage="${esc(name)}"><td>${esc(name)}</td><td>${bar('params', share(p.params, summary.params.total), `${p.params.toLocaleString('en-US')} params (${share(p.params, summary.params.total).toFixed(1)}%)`)}</td><td>${bar('ops', share(p.ops, summary.ops), `${p.ops.toExponential(2)} OPs (${share(p.ops, summary.ops).toFixed(1)}%)`)}</td></tr>`;
  });
  return `<table class="costs"><thead><tr><th>stage</th><th>params</th><th>OPs</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const DRAWN_SCRIPT = `
const data = JSON.parse(document.getElementById('sofar-data').textContent);
const tip = document.getElementById('tip');
const svg = document.querySelector('svg.drawing');
for (const b of document.querySelectorAll('nav button')) b.onclick = () => {
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== b.dataset.view;
  for (const o of document.querySelectorAll('nav button')) o.classList.toggle('on', o === b);
};
const collapsed = new Set();
function refresh() {
  for (const el of svg.querySelectorAll('[data-in]')) {
    const within = el.dataset.in ? el.dataset.in.split(' ') : [];
    el.classList.toggle('hidden', within.some((p) => collapsed.has(p)));
  }
  for (const g of svg.querySelectorAll('g.group')) g.classList.toggle('collapsed', collapsed.has(g.dataset.path));
}
for (const g of svg.querySelectorAll('g.group')) g.querySelector('text').onclick = (ev) => {
  ev.stopPropagation();
  const p = g.dataset.path;
  collapsed.has(p) ? collapsed.delete(p) : collapsed.add(p);
  refresh();
};
window.sofarCollapse = (path, on = true) => { on ? collapsed.add(path) : collapsed.delete(path); refresh(); };
for (const el of svg.querySelectorAll('g.node')) {
  const n = data.nodes[el.dataset.id];
  el.onmousemove = (ev) => {
    tip.hidden = false;
    tip.style.left = ev.pageX + 14 + 'px';
    tip.style.top = ev.pageY + 14 + 'px';
    tip.textContent = [n.name, n.op + ' ' + n.attrs, n.precision + '[' + n.shape.join('×') + ']' + (n.binaryKernel ? ', binary kernel' : ''),
      'params ' + n.params.toLocaleString('en-US'), 'MACs ' + n.macs.toLocaleString('en-US'), n.source ? 'source ' + n.source : 'no source line'].join('\\n');
  };
  el.onmouseleave = () => { tip.hidden = true; };
  el.onclick = () => showSource(n);
}
function showSource(n) {
  const pane = document.getElementById('source');
  if (!n.source) { pane.hidden = true; return; }
  const file = n.source.replace(/:\\d+:\\d+$/, '');
  const text = data.sources[file];
  pane.hidden = false;
  pane.replaceChildren();
  const head = document.createElement('h3');
  head.textContent = n.source + ' — ' + n.name;
  pane.append(head);
  if (text === undefined) return;
  const pre = document.createElement('pre');
  text.split('\\n').forEach((line, i) => {
    const div = document.createElement('div');
    div.textContent = String(i + 1).padStart(4) + '  ' + line;
    if (i + 1 === n.line) div.className = 'here';
    pre.append(div);
  });
  pane.append(pre);
  pre.querySelector('.here')?.scrollIntoView({ block: 'center' });
}
`;

/**
 * The drawn page: totals, a cost bar per stage, the drawing (click a box's label to collapse or expand
 * it, hover a node for its params, MACs and source line, click it to read the spec at that line), and
 * the table of nodes as a second view. Self-contained: the spec text travels in the page.
 */
export function graphToDrawnHtml(graph: Graph, summary: Summary, drawing: Drawing, sources: ReadonlyMap<string, string> = new Map()): string {
  const width = Math.ceil(drawing.width);
  const height = Math.ceil(drawing.height);
  const data = { nodes: drawing.nodes, sources: Object.fromEntries(sources) };
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(graph.name)} — SoFAr graph</title>
<style>
${TABLE_STYLE}
nav button{font:inherit;padding:4px 12px;border:1px solid #aaa;background:#f5f5f5;cursor:pointer}nav button.on{background:#333;color:#fff}
.bar{position:relative;width:320px;height:18px;background:#f0f0f0}.bar div{position:absolute;left:0;top:0;bottom:0}.bar .params{background:#90caf9}.bar .ops{background:#ffb74d}.bar span{position:relative;padding-left:4px;font-size:12px}
svg.drawing{font-family:sans-serif;font-size:11px}svg .hidden{display:none}g.node{cursor:pointer}g.group text{cursor:pointer}
g.group.collapsed rect{fill:#cfd8dc}g.group.collapsed text::after{content:' +'}
#tip{position:absolute;background:#fff;border:1px solid #888;padding:4px 8px;white-space:pre;font-size:12px;pointer-events:none;box-shadow:0 2px 6px #0003}
#source{position:fixed;right:1em;top:1em;width:40em;max-height:60vh;overflow:auto;background:#fff;border:1px solid #888;box-shadow:0 2px 8px #0004;padding:0 8px}
#source pre{margin:0;font-size:12px}#source .here{background:#fff59d}
</style></head><body>
<h1>${esc(graph.name)}</h1>
${totals(graph, summary)}
<h2>Where params and OPs go</h2>
${costBars(drawing, summary)}
<nav><button data-view="drawing" class="on">Drawing</button> <button data-view="table">Table</button></nav>
<section id="drawing" class="view">
<p>Orange: binary values (±1); deep orange: binary kernels; blue-grey: float. Dashed green edges: shortcuts; purple: into a join. Click a box's label to collapse or expand it; hover a node for details; click it for its spec line.</p>
<svg class="drawing" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
${ARROW_DEFS}
${drawingElements(drawing).join('\n')}
</svg>
</section>
<section id="table" class="view" hidden>
${TABLE_HEAD}
<tbody>
${tableRows(graph).join('\n')}
</tbody></table>
</section>
<div id="tip" hidden></div>
<aside id="source" hidden></aside>
<script type="application/json" id="sofar-data">${json}</script>
<script>${DRAWN_SCRIPT}</script>
</body></html>
`;
}
