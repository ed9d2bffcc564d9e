/**
 * The graph as readable text (like PyTorch FX's `print(gm.graph)`): one line per node with its name,
 * op, inputs, attributes, output shape and precision, and where it came from.
 */
import { formatQuantizer } from '../quantizers.js';
import type { Graph, GraphNode, NodeOf, OpTable } from './types.js';
import { dispatch } from './types.js';

export function printGraph(graph: Graph): string {
  const lines = [`graph ${graph.name}(input: f32[${graph.input.join(',')}]) -> ${graph.classes} classes`];
  for (const node of graph.nodes) {
    const args = node.inputs.map((i) => `%${i}`).join(', ');
    const attrs = describeAttrs(node);
    const params = node.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    const where = node.source ? `  @ ${node.source.file}:${node.source.line}:${node.source.column}` : '';
    lines.push(
      `  %${node.id} = ${node.op}(${args})${attrs ? ` {${attrs}}` : ''} : ${node.precision}[${node.shape.join(',')}]  ${node.name}${params ? `  (${params} params)` : ''}${where}`,
    );
  }
  lines.push(`  return %${graph.output}`);
  return lines.join('\n');
}

const none = () => '';
/** Max and average pooling print alike. */
const pool = ({ attrs: a }: NodeOf<'maxpool' | 'avgpool'>) =>
  `${a.kernel.join('x')} stride=${a.stride.join('x')}${a.pads.some((p) => p !== 0) ? ` pads=${a.pads.join(',')}` : ''}`;

/**
 * How each node kind's attributes read in the printers (text, DOT, HTML, drawings); the empty string
 * for kinds without any. An OpTable, so a new node kind does not compile until it has an entry.
 */
const ATTRS: OpTable<[], string> = {
  input: none,
  conv: ({ attrs: a }) => {
    const parts = [`${a.kernel.join('x')}`, `filters=${a.filters}`];
    if (a.stride[0] !== 1 || a.stride[1] !== 1) parts.push(`stride=${a.stride.join('x')}`);
    if (a.pads.some((p) => p !== 0)) parts.push(`pads=${a.pads.join(',')}`);
    if (a.dilation[0] !== 1 || a.dilation[1] !== 1) parts.push(`dilation=${a.dilation.join('x')}`);
    if (a.groups !== 1) parts.push(`groups=${a.groups}`);
    if (a.bias) parts.push('bias');
    if (a.kernelQuantizer) parts.push(`kernel=${formatQuantizer(a.kernelQuantizer)}`);
    if (a.kernelClip !== null) parts.push(`clip=${a.kernelClip}`);
    if (a.padValue !== 0) parts.push(`pad_value=${a.padValue}`);
    return parts.join(' ');
  },
  dense: ({ attrs: a }) => {
    const parts = [`units=${a.units}`];
    if (a.bias) parts.push('bias');
    if (a.kernelQuantizer) parts.push(`kernel=${formatQuantizer(a.kernelQuantizer)}`);
    return parts.join(' ');
  },
  batchnorm: ({ attrs: a }) => `momentum=${a.momentum} epsilon=${a.epsilon}${a.scale ? '' : ' scale=false'}${a.center ? '' : ' center=false'}`,
  quantize: ({ attrs: a }) => formatQuantizer(a.quantizer),
  relu: none,
  prelu: none,
  hardtanh: ({ attrs: a }) => `min=${a.min} max=${a.max}`,
  bias: none,
  sigmoid: none,
  maxpool: pool,
  avgpool: pool,
  global_avgpool: none,
  flatten: none,
  dropout: ({ attrs: a }) => `rate=${a.rate}`,
  add: none,
  concat: none,
  multiply: none,
  add_into: ({ attrs: a }) => `offset=${a.offset}`,
  join: ({ attrs: a }) =>
    `${a.mode} columns=${a.columns.join(',')}${a.dropPath.local ? ` drop_path=${a.dropPath.local}` : ''}${a.dropPath.global ? ` global=${a.dropPath.global}` : ''}`,
};

/** A node's attributes as one line of text, e.g. `3x3 filters=64 stride=2x2 pads=1,1,1,1`. */
export function describeAttrs(node: GraphNode): string {
  return dispatch(ATTRS, node);
}
