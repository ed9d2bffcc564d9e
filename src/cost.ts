/**
 * The cost model, with Larq's and Bi-Real Net's conventions (DESIGN.md): binary parameters are the
 * kernels of binary layers; memory = binary/8 + float·4 bytes; binary MACs are those of layers whose
 * input and kernel are both binary; OPs = binary MACs / 64 + float MACs.
 */
import type { Graph, GraphNode } from './graph/types.js';

export interface LayerCost {
  name: string;
  op: string;
  outputShape: number[];
  params: number;
  binaryParams: number;
  macs: number;
  binaryMacs: number;
  source?: string;
}

export interface Summary {
  name: string;
  input: number[];
  classes: number;
  params: { total: number; trainable: number; nonTrainable: number; binary: number; float: number };
  memoryBytes: number;
  macs: { binary: number; float: number };
  ops: number;
  nodes: number;
  layers: LayerCost[];
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** MACs of one node and whether they are binary. */
export function nodeMacs(node: GraphNode, graph: Graph): { macs: number; binary: boolean } {
  const input = graph.nodes[node.inputs[0]];
  if (node.op === 'conv') {
    const [kh, kw] = node.attrs.kernel;
    const cin = input.shape[0];
    const macs = kh * kw * (cin / node.attrs.groups) * node.attrs.filters * node.shape[1] * node.shape[2];
    return { macs, binary: node.attrs.kernelQuantizer !== null && input.precision === 'bin' };
  }
  if (node.op === 'dense') {
    return { macs: input.shape[0] * node.attrs.units, binary: node.attrs.kernelQuantizer !== null && input.precision === 'bin' };
  }
  return { macs: 0, binary: false };
}

export function summarize(graph: Graph): Summary {
  const params = { total: 0, trainable: 0, nonTrainable: 0, binary: 0, float: 0 };
  const macs = { binary: 0, float: 0 };
  const layers: LayerCost[] = [];
  for (const node of graph.nodes) {
    let count = 0;
    let binaryCount = 0;
    for (const p of node.params) {
      const n = size(p.shape);
      count += n;
      params.total += n;
      if (p.trainable) params.trainable += n;
      else params.nonTrainable += n;
      if (p.binary) {
        params.binary += n;
        binaryCount += n;
      } else params.float += n;
    }
    const cost = nodeMacs(node, graph);
    if (cost.binary) macs.binary += cost.macs;
    else macs.float += cost.macs;
    if (node.op === 'input') continue;
    layers.push({
      name: node.name,
      op: node.op,
      outputShape: node.shape,
      params: count,
      binaryParams: binaryCount,
      macs: cost.macs,
      binaryMacs: cost.binary ? cost.macs : 0,
      ...(node.source ? { source: `${node.source.file}:${node.source.line}:${node.source.column}` } : {}),
    });
  }
  return {
    name: graph.name,
    input: graph.input,
    classes: graph.classes,
    params,
    memoryBytes: params.binary / 8 + params.float * 4,
    macs,
    ops: macs.binary / 64 + macs.float,
    nodes: graph.nodes.length,
    layers,
  };
}
