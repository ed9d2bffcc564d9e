/**
 * The TensorFlow.js training engine (src/train/engine.ts). One step: forward in training mode with the
 * caller's masks, mean cross-entropy, gradients, then the optimiser update written out with tf ops
 * exactly as docs/semantics.md states it (not tf.train), kernel clipping, and the moving statistics.
 * Everything lives in tfjs variables updated in place, so memory stays flat across steps.
 */
import type { Graph, ParamSpec, WeightMap } from '../../src/graph/types.js';
import type {
  Batch,
  EngineFactory,
  EngineOptions,
  OptimizerConfig,
  StepNoise,
  StepResult,
  TrainEngine,
  TrainState,
} from '../../src/train/engine.js';
import { bopParams } from '../../src/train/engine.js';
import { selectionDevice, selectTfjs, type TfjsSelection, type TfjsSelectOptions } from './device.js';
import { forward } from './forward.js';
import { batchGradients, disposeBatchGradients } from './gradients.js';
import { activationsFromBackend, activationsToBackend, paramFromBackend, paramToBackend } from './layout.js';
import { correctCount } from './loss.js';
import { movingAverage } from './ops.js';
import { ParamStore, zeroSlots } from './params.js';
import { clipKernel } from './quantizers.js';
import type { Tensor, Tf } from './tf.js';

const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;

type Variable = ReturnType<Tf['variable']>;

/** Slot names per optimiser, as checkpoints store them (`<param>/m`). */
const SLOT_SUFFIXES: Record<OptimizerConfig['name'], readonly string[]> = { adam: ['m', 'v'], sgd: ['momentum'], bop: ['m', 'v'] };

/** Binary kernels with a clip value: kernel parameter name → c. */
function kernelClips(graph: Graph): Map<string, number> {
  const clips = new Map<string, number>();
  for (const node of graph.nodes) {
    if ((node.op === 'conv' || node.op === 'dense') && node.attrs.kernelQuantizer && node.attrs.kernelClip !== null) {
      const kernel = node.params.find((p) => p.role === 'kernel');
      if (kernel) clips.set(kernel.name, node.attrs.kernelClip);
    }
  }
  return clips;
}

/** Weight decay applies to float conv and dense kernels only. */
const decays = (p: ParamSpec) => p.role === 'kernel' && !p.binary;

export class TfjsEngine implements TrainEngine {
  readonly name = 'tfjs';
  readonly device: string;
  private readonly store: ParamStore;
  private readonly slots = new Map<string, Variable>();
  private readonly clips: Map<string, number>;
  private step = 0;

  constructor(
    private readonly tf: Tf,
    private readonly graph: Graph,
    weights: WeightMap,
    private readonly optimizer: OptimizerConfig,
    selection: Pick<TfjsSelection, 'backendName' | 'device' | 'package' | 'adapter'>,
    /** Distil with this weight of the KL term (each batch then carries the teacher's logits). */
    private readonly distillWeight?: number,
  ) {
    this.device = selectionDevice(selection);
    this.store = new ParamStore(tf, graph, weights);
    for (const suffix of SLOT_SUFFIXES[optimizer.name]) {
      for (const [name, slot] of zeroSlots(tf, this.store.trainable, suffix)) this.slots.set(name, slot);
    }
    this.clips = kernelClips(graph);
  }

  async trainStep(batch: Batch, lr: number, noise: StepNoise): Promise<StepResult> {
    const tf = this.tf;
    const result = batchGradients(tf, this.graph, this.store, batch, noise, this.distillWeight);
    try {
      const loss = (await result.loss.data())[0];
      const distillation = result.distillation ? { distillation: (await result.distillation.data())[0] } : {};
      const correct = await correctCount(tf, result.logits, batch.y);
      this.step += 1;
      const binary = this.store.trainable.filter((p) => p.binary);
      const flips = tf.tidy(() => {
        const before = binary.map((spec) => tf.greaterEqual(this.store.variable(spec.name), 0));
        for (const spec of this.store.trainable) this.update(spec, result.grads.get(spec.name)!, lr);
        for (const node of this.graph.nodes) {
          if (node.op !== 'batchnorm') continue;
          const stats = result.batchStatistics.get(node.name);
          if (!stats) continue;
          const mean = this.store.variable(`${node.name}/moving_mean`);
          const variance = this.store.variable(`${node.name}/moving_variance`);
          mean.assign(movingAverage(tf, mean, stats.mean, node.attrs.momentum));
          variance.assign(movingAverage(tf, variance, stats.variance, node.attrs.momentum));
        }
        // How many binary weights changed sign (sign(0) = +1) in the update.
        const changed = binary.map((spec, i) => tf.sum(tf.cast(tf.notEqual(tf.greaterEqual(this.store.variable(spec.name), 0), before[i]), 'float32')));
        return changed.length ? tf.addN(changed) : tf.scalar(0);
      });
      if (!binary.length) {
        flips.dispose();
        return { loss, correct, ...distillation };
      }
      const flipped = (await flips.data())[0];
      flips.dispose();
      const count = binary.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
      return { loss, correct, flipRatio: flipped / count, ...distillation };
    } finally {
      disposeBatchGradients(result);
    }
  }

  /** The optimiser update of one parameter; call inside tf.tidy. */
  private update(spec: ParamSpec, gradient: Tensor, lr: number): void {
    const tf = this.tf;
    const w = this.store.variable(spec.name);
    const { weightDecay, momentum } = this.optimizer;
    const g = weightDecay !== 0 && decays(spec) ? tf.add(gradient, tf.mul(weightDecay, w)) : gradient;
    let next: Tensor;
    if (this.optimizer.name === 'bop' && spec.binary) {
      // Bop: m is the gradient's moving average; a weight flips where w·m > τ (|m| > τ, same sign).
      const { threshold, gamma } = bopParams(this.optimizer);
      const m = this.slot(spec, 'm');
      m.assign(tf.add(tf.mul(1 - gamma, m), tf.mul(gamma, g)));
      const sign = tf.where(tf.greaterEqual(w, 0), tf.onesLike(w), tf.neg(tf.onesLike(w)));
      next = tf.where(tf.greater(tf.mul(sign, m), threshold), tf.neg(sign), sign);
    } else if (this.optimizer.name === 'adam' || this.optimizer.name === 'bop') {
      const m = this.slot(spec, 'm');
      const v = this.slot(spec, 'v');
      m.assign(tf.add(tf.mul(ADAM.beta1, m), tf.mul(1 - ADAM.beta1, g)));
      v.assign(tf.add(tf.mul(ADAM.beta2, v), tf.mul(1 - ADAM.beta2, tf.square(g))));
      const mHat = tf.div(m, 1 - ADAM.beta1 ** this.step);
      const vHat = tf.div(v, 1 - ADAM.beta2 ** this.step);
      next = tf.sub(w, tf.mul(lr, tf.div(mHat, tf.add(tf.sqrt(vHat), ADAM.epsilon))));
    } else {
      const velocity = this.slot(spec, 'momentum');
      velocity.assign(tf.add(tf.mul(momentum, velocity), g));
      next = tf.sub(w, tf.mul(lr, velocity));
    }
    const clip = this.clips.get(spec.name);
    w.assign(clip === undefined ? next : clipKernel(tf, next, clip));
  }

  private slot(spec: ParamSpec, suffix: string): Variable {
    const slot = this.slots.get(`${spec.name}/${suffix}`);
    if (!slot) throw new Error(`internal: no optimizer slot '${spec.name}/${suffix}'`);
    return slot;
  }

  async predict(x: Float32Array, n: number): Promise<Float32Array> {
    const tf = this.tf;
    const logits = tf.tidy(() => {
      const input = activationsToBackend(tf, x, n, this.graph.input);
      return forward(tf, this.graph, this.store.lookup, input, { training: false }).output;
    });
    try {
      return await activationsFromBackend(tf, logits);
    } finally {
      logits.dispose();
    }
  }

  async getState(): Promise<TrainState> {
    const slots: WeightMap = new Map();
    for (const spec of this.store.trainable) {
      for (const suffix of SLOT_SUFFIXES[this.optimizer.name]) {
        slots.set(`${spec.name}/${suffix}`, await paramFromBackend(this.tf, spec, this.slot(spec, suffix)));
      }
    }
    return { weights: await this.store.read(), slots, step: this.step };
  }

  /** Restores weights, moving statistics, slots (missing ones start at zero) and the step count. */
  async setState(state: TrainState): Promise<void> {
    if (!(Number.isInteger(state.step) && state.step >= 0)) throw new Error(`a training state's step must be a whole number ≥ 0, got ${state.step}`);
    const slotValues: [Variable, Tensor][] = [];
    try {
      for (const spec of this.store.trainable) {
        for (const suffix of SLOT_SUFFIXES[this.optimizer.name]) {
          const values = state.slots.get(`${spec.name}/${suffix}`);
          slotValues.push([this.slot(spec, suffix), values ? paramToBackend(this.tf, spec, values) : this.tf.zerosLike(this.slot(spec, suffix))]);
        }
      }
      this.store.write(state.weights);
      for (const [slot, value] of slotValues) slot.assign(value);
      this.step = state.step;
    } finally {
      for (const [, value] of slotValues) value.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.store.dispose();
    for (const slot of this.slots.values()) slot.dispose();
    this.slots.clear();
  }
}

export interface TfjsEngineFactoryOptions extends TfjsSelectOptions {
  /** Told the selection's warning (the slow pure-JS path, a native package that failed to load). */
  onWarning?: (message: string) => void;
}

/** An engine factory on the TensorFlow.js package `select` picks (default: the best one installed). */
export function tfjsEngineFactory(select: TfjsEngineFactoryOptions = { device: 'auto' }): EngineFactory {
  return async (options: EngineOptions) => {
    const selection = await selectTfjs(select);
    if (selection.warning) select.onWarning?.(selection.warning);
    return new TfjsEngine(selection.tf, options.graph, options.weights, options.optimizer, selection, options.distillWeight);
  };
}

/** The engine on the best TensorFlow.js package installed (tfjs-node-gpu, tfjs-node, then pure JS). */
export const createTfjsEngine: EngineFactory = tfjsEngineFactory();
