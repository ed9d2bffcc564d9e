/** Inference through the Keras model: NCHW values in, the graph output (logits) out. */
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { activationsFromBackend, activationsToBackend } from './layout.js';
import { buildTfjsModel } from './lower.js';
import { defaultTf, type LayersModel, type Tensor, type Tf } from './tf.js';

/** Runs a built model on `n` NCHW samples; returns the output row-major (`[n, classes]` for logits). */
export async function predictNchw(model: LayersModel, graph: Graph, x: Float32Array, n: number, tf: Tf = defaultTf): Promise<Float32Array> {
  const input = activationsToBackend(tf, x, n, graph.input);
  let output: Tensor | undefined;
  try {
    output = model.predict(input) as Tensor;
    return await activationsFromBackend(tf, output);
  } finally {
    input.dispose();
    output?.dispose();
  }
}

/** Builds the graph's model with `weights`, runs it on `n` NCHW samples and frees it again. */
export async function runTfjs(graph: Graph, weights: WeightMap, x: Float32Array, n: number, tf: Tf = defaultTf): Promise<Float32Array> {
  const model = buildTfjsModel(graph, weights, tf);
  try {
    return await predictNchw(model, graph, x, n, tf);
  } finally {
    model.dispose();
  }
}
