/**
 * A tiny, deterministic TrainEngine for testing the loop without tfjs or ONNX Runtime: softmax
 * regression by the graph's last dense layer applied to the flattened input (times the dropout mask
 * of the graph's dropout node, when there is one), trained with the optimisers of docs/semantics.md.
 * The learning rate is scaled by the share of kept join inputs, so wrong drop-path masks change the
 * weights. Every other parameter is carried through the state untouched.
 */
import { loadDataset } from '../../src/data/index.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import type { TrainConfig, TrainOptions } from '../../src/train/loop.js';
import { regressionGraph } from './graphs.js';
import type { Batch, EngineFactory, EngineOptions, StepNoise, StepResult, TrainEngine, TrainState } from '../../src/train/engine.js';

export interface FakeEngineLog {
  lrs: number[];
  noises: StepNoise[];
  batches: { y: number[]; n: number }[];
  /** The teacher logits and the first image value of each distilling step's batch. */
  teachers: Float32Array[];
  inputs: number[][];
  created: number;
  disposed: number;
}

export function fakeEngineFactory(log?: FakeEngineLog): EngineFactory {
  return async (options) => {
    if (log) log.created++;
    return new FakeEngine(options, log);
  };
}

export const newLog = (): FakeEngineLog => ({ lrs: [], noises: [], batches: [], teachers: [], inputs: [], created: 0, disposed: 0 });

class FakeEngine implements TrainEngine {
  readonly name = 'fake';
  readonly device = 'cpu (test)';
  private weights: WeightMap;
  private slots: WeightMap = new Map();
  private step = 0;
  private readonly kernelName: string;
  private readonly biasName: string | null;
  private readonly inputs: number;
  private readonly classes: number;
  private readonly dropout: string | null;

  constructor(
    private readonly options: EngineOptions,
    private readonly log?: FakeEngineLog,
  ) {
    const graph: Graph = options.graph;
    this.weights = new Map([...options.weights].map(([k, v]) => [k, v.slice()]));
    const dense = [...graph.nodes].reverse().find((n) => n.op === 'dense');
    if (!dense) throw new Error('fake engine: the graph needs a dense layer');
    this.kernelName = dense.params.find((p) => p.role === 'kernel')!.name;
    this.biasName = dense.params.find((p) => p.role === 'bias')?.name ?? null;
    [this.inputs, this.classes] = dense.params.find((p) => p.role === 'kernel')!.shape;
    if (this.inputs !== graph.input.reduce((a, b) => a * b, 1)) throw new Error('fake engine: the dense layer must see the flattened input');
    this.dropout = graph.nodes.find((n) => n.op === 'dropout')?.name ?? null;
  }

  private logits(x: Float32Array, n: number, mask?: Float32Array): Float64Array {
    const K = this.weights.get(this.kernelName)!;
    const b = this.biasName ? this.weights.get(this.biasName)! : null;
    const out = new Float64Array(n * this.classes);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < this.classes; k++) {
        let s = b ? b[k] : 0;
        for (let j = 0; j < this.inputs; j++) s += x[i * this.inputs + j] * (mask ? mask[i * this.inputs + j] : 1) * K[j * this.classes + k];
        out[i * this.classes + k] = s;
      }
    }
    return out;
  }

  async trainStep(batch: Batch, lr: number, noise: StepNoise): Promise<StepResult> {
    this.log?.lrs.push(lr);
    this.log?.noises.push(noise);
    this.log?.batches.push({ y: [...batch.y], n: batch.n });
    const { n } = batch;
    const mask = this.dropout ? noise.dropoutMasks.get(this.dropout) : undefined;
    const logits = this.logits(batch.x, n, mask);
    let loss = 0;
    let correct = 0;
    const dLogits = new Float64Array(n * this.classes);
    for (let i = 0; i < n; i++) {
      const row = logits.subarray(i * this.classes, (i + 1) * this.classes);
      const max = Math.max(...row);
      let best = 0;
      for (let k = 1; k < this.classes; k++) if (row[k] > row[best]) best = k;
      if (best === batch.y[i]) correct++;
      const exps = Array.from(row, (v) => Math.exp(v - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      loss += Math.log(sum) + max - row[batch.y[i]];
      for (let k = 0; k < this.classes; k++) dLogits[i * this.classes + k] = (exps[k] / sum - (k === batch.y[i] ? 1 : 0)) / n;
    }
    const K = this.weights.get(this.kernelName)!;
    const gK = new Float64Array(K.length);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < this.inputs; j++) {
        const xv = batch.x[i * this.inputs + j] * (mask ? mask[i * this.inputs + j] : 1);
        for (let k = 0; k < this.classes; k++) gK[j * this.classes + k] += xv * dLogits[i * this.classes + k];
      }
    let kept = 0;
    let total = 0;
    for (const m of noise.joinMasks.values()) for (const bit of m) (kept += bit), total++;
    const scaledLr = total ? (lr * kept) / total : lr;
    this.step++;
    this.update(this.kernelName, K, gK, scaledLr, true);
    if (this.biasName) {
      const gb = new Float64Array(this.classes);
      for (let i = 0; i < n; i++) for (let k = 0; k < this.classes; k++) gb[k] += dLogits[i * this.classes + k];
      this.update(this.biasName, this.weights.get(this.biasName)!, gb, scaledLr, false);
    }
    if (!batch.teacher) return { loss: loss / n, correct };
    // Distillation: the KL term is reported (not trained: the fake's gradient stays the cross-entropy's).
    this.log?.teachers.push(batch.teacher.slice());
    this.log?.inputs.push([batch.x[0]]);
    return { loss: loss / n, correct, distillation: meanKl(batch.teacher, logits, n, this.classes) };
  }

  private update(name: string, w: Float32Array, g: Float64Array, lr: number, decay: boolean): void {
    const { name: optimizer, momentum, weightDecay } = this.options.optimizer;
    const slot = (s: string) => {
      if (!this.slots.has(`${name}/${s}`)) this.slots.set(`${name}/${s}`, new Float32Array(w.length));
      return this.slots.get(`${name}/${s}`)!;
    };
    for (let i = 0; i < w.length; i++) if (decay) g[i] += weightDecay * w[i];
    if (optimizer === 'sgd') {
      const v = slot('momentum');
      for (let i = 0; i < w.length; i++) {
        v[i] = momentum * v[i] + g[i];
        w[i] -= lr * v[i];
      }
      return;
    }
    const m = slot('m');
    const v = slot('v');
    const t = this.step;
    for (let i = 0; i < w.length; i++) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      w[i] -= (lr * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
    }
  }

  async predict(x: Float32Array, n: number): Promise<Float32Array> {
    return Float32Array.from(this.logits(x, n));
  }

  async getState(): Promise<TrainState> {
    const copy = (m: WeightMap) => new Map([...m].map(([k, v]) => [k, v.slice()]));
    return { weights: copy(this.weights), slots: copy(this.slots), step: this.step };
  }

  async setState(state: TrainState): Promise<void> {
    this.weights = new Map([...state.weights].map(([k, v]) => [k, v.slice()]));
    this.slots = new Map([...state.slots].map(([k, v]) => [k, v.slice()]));
    this.step = state.step;
  }

  async dispose(): Promise<void> {
    if (this.log) this.log.disposed++;
  }
}

/** mean over rows of KL(softmax(teacher) ‖ softmax(student)). */
function meanKl(teacher: Float32Array, student: Float64Array, n: number, classes: number): number {
  const logSoftmax = (row: ArrayLike<number>) => {
    const max = Math.max(...Array.from(row));
    const lse = max + Math.log(Array.from(row).reduce((a, v) => a + Math.exp(v - max), 0));
    return Array.from(row, (v) => v - lse);
  };
  let kl = 0;
  for (let i = 0; i < n; i++) {
    const t = logSoftmax(teacher.subarray(i * classes, (i + 1) * classes));
    const s = logSoftmax(student.subarray(i * classes, (i + 1) * classes));
    for (let k = 0; k < classes; k++) kl += Math.exp(t[k]) * (t[k] - s[k]);
  }
  return kl / n;
}

/**
 * Options of a loop test on the fake engine: the regression graph (or `over.graph`), 200 synthetic
 * training and 64 test samples, a fresh folder from `tempDir`.
 */
export function fakeRunOptions(tempDir: () => string, config: TrainConfig, over: Partial<TrainOptions> = {}): TrainOptions {
  const graph = over.graph ?? regressionGraph();
  return {
    graph,
    dataset: loadDataset('synthetic', graph, { synthetic: { trainSize: 200, testSize: 64, noise: 1 } }),
    engineFactory: fakeEngineFactory(),
    config,
    outDir: tempDir(),
    ...over,
  };
}

/** Each tensor's bytes as hex, to compare weights bit for bit. */
export const bytesOf = (m: Map<string, Float32Array>) => new Map([...m].map(([k, v]) => [k, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')]));
