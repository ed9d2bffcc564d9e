/**
 * The contract between the training loop (src/train) and a training engine (a backend: the TensorFlow.js
 * engine or the ONNX Runtime engine). The loop owns data, schedules, drop-path sampling, progress,
 * metrics and checkpoints; an engine owns the numerics of one step. Everything crossing this boundary
 * is plain data, NCHW, float32, keyed by the graph's parameter names.
 */
import type { Graph, WeightMap } from '../graph/types.js';

export type OptimizerName = 'adam' | 'sgd' | 'bop';

export interface OptimizerConfig {
  name: OptimizerName;
  /** SGD momentum (default 0.9); ignored by Adam. */
  momentum: number;
  /** L2 weight decay on float kernels (see docs/semantics.md). */
  weightDecay: number;
  /** Bop's threshold τ (default BOP_DEFAULTS.threshold); Bop only. */
  bopThreshold?: number;
  /** Bop's adaptivity rate γ (default BOP_DEFAULTS.gamma); Bop only. */
  bopGamma?: number;
}

/**
 * Bop (Helwegen et al. 2019, "Latent weights do not exist"), as Larq has it: for each binary weight w,
 * m ← (1 − γ)·m + γ·g, and w ← −sign(w) where |m| > τ and sign(m) = sign(w) (that is, w·m > τ for
 * w = ±1), else w ← sign(w); float parameters take Adam with the learning rate. Larq's defaults.
 */
export const BOP_DEFAULTS = { threshold: 1e-8, gamma: 1e-4 } as const;

/** The Bop parameters of a configuration, defaults filled in. */
export function bopParams(o: OptimizerConfig): { threshold: number; gamma: number } {
  return { threshold: o.bopThreshold ?? BOP_DEFAULTS.threshold, gamma: o.bopGamma ?? BOP_DEFAULTS.gamma };
}

/**
 * One batch: images `[n, C, H, W]` row-major, integer labels `[n]`, and, when the run distils from a
 * teacher, the teacher's logits `[n, classes]` on the same images.
 */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  n: number;
  teacher?: Float32Array;
}

/**
 * Random choices for one training step, drawn on the host so every engine sees the same numbers:
 * a drop-path mask per join node (keyed by node name, one 0/1 per join input) and a dropout mask per
 * dropout node (keyed by node name, `n × C × H × W` values already scaled by 1/(1−p), i.e. 0 or 1/(1−p)).
 */
export interface StepNoise {
  joinMasks: Map<string, Float32Array>;
  dropoutMasks: Map<string, Float32Array>;
}

export interface StepResult {
  /** The mean loss over the batch (before the update): cross-entropy, plus w · KL when distilling. */
  loss: number;
  /** Distillation only: the mean KL(teacher ‖ student) over the batch, unweighted. */
  distillation?: number;
  /** Number of correct top-1 predictions in the batch (before the update). */
  correct: number;
  /** The share of binary weights whose sign the update changed; absent for a model without any. */
  flipRatio?: number;
}

/** Everything needed to continue training exactly: weights (incl. moving statistics) and optimizer slots. */
export interface TrainState {
  weights: WeightMap;
  /** Optimizer slots keyed `<param>/m`, `<param>/v` (Adam; Bop: m of binary weights is Bop's, their v stays 0) or `<param>/momentum` (SGD). */
  slots: WeightMap;
  /** Number of optimizer steps taken so far (Adam's t). */
  step: number;
}

export interface TrainEngine {
  readonly name: string;
  /** Human-readable device/backend description for the progress header. */
  readonly device: string;
  /**
   * One forward + backward + update on the batch with learning rate `lr`. The loop reuses its batch
   * and mask buffers, so an engine must not keep references to them after the promise settles.
   */
  trainStep(batch: Batch, lr: number, noise: StepNoise): Promise<StepResult>;
  /** Inference-mode logits `[n, classes]` (moving statistics, no dropout, mean joins). */
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  getState(): Promise<TrainState>;
  setState(state: TrainState): Promise<void>;
  dispose(): Promise<void>;
}

export interface EngineOptions {
  graph: Graph;
  weights: WeightMap;
  optimizer: OptimizerConfig;
  /** The largest batch the engine will see (engines may specialise for it). */
  batchSize: number;
  threads?: number;
  /**
   * Knowledge distillation (docs/semantics.md, "Loss and optimisers"): the weight w of the KL term.
   * When set (0 included), every training batch carries the teacher's logits.
   */
  distillWeight?: number;
}

export type EngineFactory = (options: EngineOptions) => Promise<TrainEngine>;
