/**
 * The graph as one self-contained HTML page: totals, then every node indented by scope, with op,
 * attributes, shape, precision (binary values highlighted), parameters and source line.
 */
import type { Summary } from '../cost.js';
import { describeAttrs } from './print.js';
import type { Graph } from './types.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function graphToHtml(graph: Graph, summary: Summary): string {
  const rows = graph.nodes.map((node) => {
    const depth = node.name.split('/').length - 1;
    const params = node.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    const binary = node.params.some((p) => p.binary);
    const where = node.source ? `${node.source.file}:${node.source.line}:${node.source.column}` : '';
    const inputs = node.inputs.map((i) => graph.nodes[i].name).join(', ');
    return `<tr class="${node.precision}${binary ? ' binkernel' : ''}"><td>${node.id}</td><td style="padding-left:${0.4 + depth * 1.2}em" title="inputs: ${esc(inputs)}">${esc(node.name)}</td><td>${esc(node.op)}</td><td>${esc(describeAttrs(node))}</td><td>${node.precision}[${node.shape.join('×')}]</td><td class="num">${params ? params.toLocaleString('en-US') : ''}</td><td class="src">${esc(where)}</td></tr>`;
  });
  const fmt = (n: number) => n.toLocaleString('en-US');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(graph.name)} — SoFAr graph</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
td.num{text-align:right}td.src{color:#888}tr.bin td:nth-child(5){background:#ffe0b2}tr.binkernel td:nth-child(3){background:#ffcc80;font-weight:600}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{color:#666}
</style></head><body>
<h1>${esc(graph.name)}</h1>
<dl><dt>input</dt><dd>${graph.input.join('×')}</dd><dt>classes</dt><dd>${graph.classes}</dd>
<dt>params</dt><dd>${fmt(summary.params.total)} (${fmt(summary.params.binary)} binary, ${fmt(summary.params.float)} float)</dd>
<dt>model size</dt><dd>${fmt(summary.memoryBytes)} bytes</dd>
<dt>MACs</dt><dd>${summary.macs.binary.toExponential(3)} binary, ${summary.macs.float.toExponential(3)} float</dd>
<dt>OPs</dt><dd>${summary.ops.toExponential(3)}</dd><dt>nodes</dt><dd>${fmt(summary.nodes)}</dd></dl>
<p>Orange: binary values ({−1,+1}) and binary kernels.</p>
<table><thead><tr><th>#</th><th>name</th><th>op</th><th>attributes</th><th>output</th><th>params</th><th>source</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table></body></html>
`;
}
