/**
 * Loss gradients from the generated training-mode model, without an update: the entry tests use to
 * compare against the tfjs backend and finite differences.
 */
import type { Graph, WeightMap } from '../../src/graph/types.js';
import type { Batch, StepNoise } from '../../src/train/engine.js';
import { batchFeeds } from './feeds.js';
import { pack, unpack } from './layout.js';
import { float32, openSession, type SessionSettings } from './session.js';
import { nchwcBlockSize } from './nchwc.js';
import { buildStepModel, IO } from './step-model.js';

export interface LossAndGradients {
  loss: number;
  /** Distillation only: the mean KL(teacher ‖ student). */
  distillation?: number;
  /** dL/dparam for every trainable parameter, keyed by its name. */
  gradients: WeightMap;
}

export async function ortLossAndGradients(
  graph: Graph,
  weights: WeightMap,
  batch: Batch,
  noise: StepNoise,
  threads?: number,
  provider?: SessionSettings['provider'],
  /** Distil with this weight from `batch.teacher` (docs/semantics.md). */
  distillWeight?: number,
  /** Binary products on ±1 inputs as integer operators (step-model.ts; default on). */
  integer = true,
  /** onnxruntime's blocked (NCHWc) convolutions where the channels allow, on the CPU (default on). */
  blocked = true,
  /** The CPU provider's contributed operators (per-sample weight-gradient GEMMs; step-model.ts): default on the CPU. */
  cpuOps = (provider ?? 'cpu') === 'cpu',
  /** Batch statistics from onnxruntime's training-mode BatchNormalization (step-model.ts): default with `cpuOps`. */
  trainingBatchNorm = cpuOps,
): Promise<LossAndGradients> {
  const nchwcBlock = (provider ?? 'cpu') === 'cpu' && blocked ? await nchwcBlockSize() : 0;
  const model = buildStepModel(graph, 'gradients', undefined, distillWeight, integer, nchwcBlock, cpuOps, trainingBatchNorm);
  const { layout } = model;
  const session = await openSession(model.bytes, { threads, provider });
  try {
    const feeds = batchFeeds(graph, model.maskedNodes, batch, noise, distillWeight !== undefined);
    if (layout.trainableSize > 0) {
      const params = new Float32Array(layout.trainableSize);
      pack(layout.trainable, weights, params);
      feeds[IO.params] = float32(params, [layout.trainableSize]);
    }
    if (layout.stateSize > 0) {
      const state = new Float32Array(layout.stateSize);
      pack(layout.state, weights, state);
      feeds[IO.state] = float32(state, [layout.stateSize]);
    }
    const out = await session.run(feeds);
    const gradients: WeightMap = new Map();
    if (layout.trainableSize > 0) unpack(layout.trainable, out[IO.grads].data as Float32Array, gradients);
    const distillation = out[IO.distillation] ? { distillation: (out[IO.distillation].data as Float32Array)[0] } : {};
    return { loss: (out[IO.loss].data as Float32Array)[0], gradients, ...distillation };
  } finally {
    await session.release();
  }
}

/** dL/dparam for every trainable parameter (mean softmax cross-entropy, training-mode forward). */
export async function ortGradients(graph: Graph, weights: WeightMap, batch: Batch, noise: StepNoise): Promise<WeightMap> {
  return (await ortLossAndGradients(graph, weights, batch, noise)).gradients;
}
