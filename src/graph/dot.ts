/** The graph in Graphviz DOT: one box per node, clustered by top-level scope, coloured by precision. */
import { shapeToString } from './shapes.js';
import { describeAttrs } from './print.js';
import type { Graph } from './types.js';

/** A DOT string literal; a newline in `s` becomes DOT's `\n` line break. */
const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

export function graphToDot(graph: Graph): string {
  const lines = [`digraph ${quote(graph.name)} {`, '  rankdir=TB;', '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];'];
  const clusters = new Map<string, string[]>();
  for (const node of graph.nodes) {
    const attrs = describeAttrs(node);
    const label = `${node.name}\n${node.op}${attrs ? ` ${attrs}` : ''}\n${node.precision} ${shapeToString(node.shape)}`;
    const fill = node.precision === 'bin' ? '#ffe0b2' : node.op === 'conv' && node.attrs.kernelQuantizer ? '#ffcc80' : '#e3f2fd';
    const line = `    n${node.id} [label=${quote(label)}, fillcolor=${quote(fill)}];`;
    const top = node.name.includes('/') ? node.name.split('/')[0] : '';
    clusters.set(top, [...(clusters.get(top) ?? []), line]);
  }
  let k = 0;
  for (const [name, members] of clusters) {
    if (name === '') lines.push(...members.map((m) => m.slice(2)));
    else lines.push(`  subgraph cluster_${k++} {`, `    label=${quote(name)};`, ...members, '  }');
  }
  for (const node of graph.nodes) for (const input of node.inputs) lines.push(`  n${input} -> n${node.id};`);
  lines.push('}');
  return lines.join('\n') + '\n';
}
