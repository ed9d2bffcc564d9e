/**
 * Loss and gradients of one training batch: the forward pass in training mode (batch statistics, the
 * step's drop-path and dropout masks), mean cross-entropy, and d loss / d parameter for every trainable
 * parameter. Shared by the training engine and by `gradients`, the reference other engines are checked
 * against.
 */
import type { Graph, WeightMap } from '../../src/graph/types.js';
import type { Batch, StepNoise } from '../../src/train/engine.js';
import { checkNoise, forward } from './forward.js';
import { activationsToBackend, paramFromBackend } from './layout.js';
import { crossEntropy, oneHotLabels } from './loss.js';
import type { BatchStatistics } from './ops.js';
import { ParamStore } from './params.js';
import { defaultTf, type Tensor, type Tf } from './tf.js';

export interface BatchGradients {
  loss: Tensor;
  logits: Tensor;
  /** By parameter name, backend layout. A parameter the batch does not reach (a dropped path) gets zeros. */
  grads: Map<string, Tensor>;
  batchStatistics: Map<string, BatchStatistics>;
}

/** Every tensor of the result; the caller disposes them. */
export function disposeBatchGradients(r: BatchGradients): void {
  r.loss.dispose();
  r.logits.dispose();
  for (const g of r.grads.values()) g.dispose();
  for (const s of r.batchStatistics.values()) {
    s.mean.dispose();
    s.variance.dispose();
  }
}

export function batchGradients(tf: Tf, graph: Graph, store: ParamStore, batch: Batch, noise: StepNoise): BatchGradients {
  // Labels and masks are checked before anything is allocated.
  if (batch.y.length !== batch.n) throw new RangeError(`a batch of ${batch.n} samples needs ${batch.n} labels, got ${batch.y.length}`);
  checkNoise(graph, noise, batch.n);
  const targets = oneHotLabels(tf, batch.y, graph.classes);
  let x: Tensor | undefined;
  try {
    x = activationsToBackend(tf, batch.x, batch.n, graph.input);
    const input = x;
    let logits: Tensor | undefined;
    let batchStatistics = new Map<string, BatchStatistics>();
    const variables = store.trainableVariables();
    const { value, grads } = tf.variableGrads(() => {
      const result = forward(tf, graph, store.lookup, input, { training: true, noise });
      logits = tf.keep(result.output);
      for (const s of result.batchStatistics.values()) {
        tf.keep(s.mean);
        tf.keep(s.variance);
      }
      batchStatistics = result.batchStatistics;
      return crossEntropy(tf, result.output, targets) as ReturnType<Tf['scalar']>;
    }, variables);
    const byName = new Map<string, Tensor>();
    store.trainable.forEach((spec, i) => {
      const v = variables[i];
      byName.set(spec.name, grads[v.name] ?? tf.zerosLike(v));
    });
    return { loss: value, logits: logits!, grads: byName, batchStatistics };
  } finally {
    x?.dispose();
    targets.dispose();
  }
}

/**
 * The gradient of the mean cross-entropy with respect to every trainable parameter, for one batch with
 * the given noise, in the graph's layouts; nothing is updated. Moving statistics are not trainable and
 * have no entry.
 */
export async function gradients(graph: Graph, weights: WeightMap, batch: Batch, noise: StepNoise, tf: Tf = defaultTf): Promise<WeightMap> {
  const store = new ParamStore(tf, graph, weights);
  try {
    const result = batchGradients(tf, graph, store, batch, noise);
    try {
      const out: WeightMap = new Map();
      for (const spec of store.trainable) out.set(spec.name, await paramFromBackend(tf, spec, result.grads.get(spec.name)!));
      return out;
    } finally {
      disposeBatchGradients(result);
    }
  } finally {
    store.dispose();
  }
}
