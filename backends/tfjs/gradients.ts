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
import { crossEntropy, distillationLoss, oneHotLabels } from './loss.js';
import type { BatchStatistics } from './ops.js';
import { ParamStore } from './params.js';
import { defaultTf, type Tensor, type Tf } from './tf.js';

export interface BatchGradients {
  /** The objective: cross-entropy, plus w · KL when distilling. */
  loss: Tensor;
  /** Distillation only: the mean KL(teacher ‖ student), unweighted. */
  distillation?: Tensor;
  logits: Tensor;
  /** By parameter name, backend layout. A parameter the batch does not reach (a dropped path) gets zeros. */
  grads: Map<string, Tensor>;
  batchStatistics: Map<string, BatchStatistics>;
}

/** Every tensor of the result; the caller disposes them. */
export function disposeBatchGradients(r: BatchGradients): void {
  r.loss.dispose();
  r.distillation?.dispose();
  r.logits.dispose();
  for (const g of r.grads.values()) g.dispose();
  for (const s of r.batchStatistics.values()) {
    s.mean.dispose();
    s.variance.dispose();
  }
}

/** `distillWeight`: add w · KL(softmax(batch.teacher) ‖ softmax(logits)) to the loss (docs/semantics.md). */
export function batchGradients(tf: Tf, graph: Graph, store: ParamStore, batch: Batch, noise: StepNoise, distillWeight?: number): BatchGradients {
  // Labels, masks and teacher logits are checked before anything is allocated.
  if (batch.y.length !== batch.n) throw new RangeError(`a batch of ${batch.n} samples needs ${batch.n} labels, got ${batch.y.length}`);
  checkNoise(graph, noise, batch.n);
  const distils = distillWeight !== undefined;
  if (distils && !(batch.teacher && batch.teacher.length >= batch.n * graph.classes)) {
    throw new RangeError(`a distilling step needs ${batch.n * graph.classes} teacher logits, got ${batch.teacher?.length ?? 'none'}`);
  }
  const targets = oneHotLabels(tf, batch.y, graph.classes);
  const teacher = distils ? tf.tensor2d(batch.teacher!.subarray(0, batch.n * graph.classes), [batch.n, graph.classes]) : undefined;
  let x: Tensor | undefined;
  try {
    x = activationsToBackend(tf, batch.x, batch.n, graph.input);
    const input = x;
    let logits: Tensor | undefined;
    let distillation: Tensor | undefined;
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
      const ce = crossEntropy(tf, result.output, targets);
      if (!teacher) return ce as ReturnType<Tf['scalar']>;
      distillation = tf.keep(distillationLoss(tf, result.output, teacher));
      return tf.add(ce, tf.mul(distillWeight!, distillation)) as ReturnType<Tf['scalar']>;
    }, variables);
    const byName = new Map<string, Tensor>();
    store.trainable.forEach((spec, i) => {
      const v = variables[i];
      byName.set(spec.name, grads[v.name] ?? tf.zerosLike(v));
    });
    return { loss: value, logits: logits!, grads: byName, batchStatistics, ...(distillation ? { distillation } : {}) };
  } finally {
    x?.dispose();
    teacher?.dispose();
    targets.dispose();
  }
}

/**
 * The gradient of the mean cross-entropy with respect to every trainable parameter, for one batch with
 * the given noise, in the graph's layouts; nothing is updated. Moving statistics are not trainable and
 * have no entry.
 */
export async function gradients(graph: Graph, weights: WeightMap, batch: Batch, noise: StepNoise, tf: Tf = defaultTf, distillWeight?: number): Promise<WeightMap> {
  const store = new ParamStore(tf, graph, weights);
  try {
    const result = batchGradients(tf, graph, store, batch, noise, distillWeight);
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
