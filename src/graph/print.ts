/**
 * The graph as readable text (like PyTorch FX's `print(gm.graph)`): one line per node with its name,
 * op, inputs, attributes, output shape and precision, and where it came from.
 */
import { formatQuantizer } from '../quantizers.js';
import type { Graph, GraphNode } from './types.js';

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

export function describeAttrs(node: GraphNode): string {
  switch (node.op) {
    case 'conv': {
      const a = node.attrs;
      const parts = [`${a.kernel.join('x')}`, `filters=${a.filters}`];
      if (a.stride[0] !== 1 || a.stride[1] !== 1) parts.push(`stride=${a.stride.join('x')}`);
      if (a.pads.some((p) => p !== 0)) parts.push(`pads=${a.pads.join(',')}`);
      if (a.dilation[0] !== 1 || a.dilation[1] !== 1) parts.push(`dilation=${a.dilation.join('x')}`);
      if (a.groups !== 1) parts.push(`groups=${a.groups}`);
      if (a.bias) parts.push('bias');
      if (a.kernelQuantizer) parts.push(`kernel=${formatQuantizer(a.kernelQuantizer)}`);
      if (a.kernelClip !== null) parts.push(`clip=${a.kernelClip}`);
      return parts.join(' ');
    }
    case 'dense': {
      const a = node.attrs;
      const parts = [`units=${a.units}`];
      if (a.bias) parts.push('bias');
      if (a.kernelQuantizer) parts.push(`kernel=${formatQuantizer(a.kernelQuantizer)}`);
      return parts.join(' ');
    }
    case 'batchnorm':
      return `momentum=${node.attrs.momentum} epsilon=${node.attrs.epsilon}`;
    case 'quantize':
      return formatQuantizer(node.attrs.quantizer);
    case 'hardtanh':
      return `min=${node.attrs.min} max=${node.attrs.max}`;
    case 'maxpool':
    case 'avgpool': {
      const a = node.attrs;
      return `${a.kernel.join('x')} stride=${a.stride.join('x')}${a.pads.some((p) => p !== 0) ? ` pads=${a.pads.join(',')}` : ''}`;
    }
    case 'dropout':
      return `rate=${node.attrs.rate}`;
    case 'join': {
      const a = node.attrs;
      return `${a.mode} columns=${a.columns.join(',')}${a.dropPath.local ? ` drop_path=${a.dropPath.local}` : ''}${a.dropPath.global ? ` global=${a.dropPath.global}` : ''}`;
    }
    default:
      return '';
  }
}
