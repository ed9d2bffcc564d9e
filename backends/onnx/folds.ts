/**
 * Inference-mode batch norms folded into the layer before them, keyed by that layer's node id. Folding
 * is exact in real arithmetic when the batch norm is the layer's only consumer: a conv (or the affine
 * output of a binary layer) followed by γ(y − μ)/√(σ² + ε) + β is again one affine map.
 *
 * - Float convs, in the training engine's inference model: onnxruntime fuses Conv + BatchNormalization
 *   when it loads an exported model, whose weights are constants, but cannot in the engine's model,
 *   whose weights are fed each step; unfused, the two would round differently and flip the odd sign
 *   downstream. The engine folds them in the graph with the arithmetic of that fusion (ParamSource
 *   .foldedConv), so its validation and `sofar eval` of the exported model compute the same numbers.
 * - Binary layers, into `ai.sofar` operators (`--binary-ops`), whose output transform has room for it.
 */
import type { Graph, NodeOf } from '../../src/graph/types.js';

export function foldableBatchNorms(graph: Graph, options: { binaryLayers: boolean; floatConvs: boolean }): Map<number, NodeOf<'batchnorm'>> {
  const consumers = new Map<number, number>();
  for (const node of graph.nodes) for (const i of node.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const folds = new Map<number, NodeOf<'batchnorm'>>();
  for (const node of graph.nodes) {
    if (node.op !== 'batchnorm') continue;
    const producer = graph.nodes[node.inputs[0]];
    // Binary layers on ±1 inputs only: a quantized kernel on a real input stays a standard Conv.
    const binary = (producer.op === 'conv' || producer.op === 'dense') && producer.attrs.kernelQuantizer !== null && graph.nodes[producer.inputs[0]].precision === 'bin';
    const floatConv = producer.op === 'conv' && producer.attrs.kernelQuantizer === null;
    const foldable = (floatConv && options.floatConvs) || (binary && options.binaryLayers);
    if (foldable && producer.id !== graph.output && consumers.get(producer.id) === 1) folds.set(producer.id, node);
  }
  return folds;
}
