/**
 * Knowledge distillation and mid-epoch resumption in the real engines (ONNX Runtime, and TensorFlow.js
 * on its pure-JS backend): the KL term's gradient against an independent float64 reference (the
 * analytic gradient, itself checked by central differences), a distilled run's loss, w = 0 equal to a
 * plain run bit for bit, and a run resumed from a mid-epoch checkpoint equal to the uninterrupted one.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { createOrtEngine } from '../../backends/ort-train/engine.js';
import { ortLossAndGradients } from '../../backends/ort-train/gradients.js';
import { tfjsEngineFactory } from '../../backends/tfjs/engine.js';
import { gradients as tfjsGradients } from '../../backends/tfjs/gradients.js';
import { defaultTf } from '../../backends/tfjs/tf.js';
import { readCheckpoint } from '../../src/checkpoint/index.js';
import { compileFile } from '../../src/compile.js';
import { loadDataset } from '../../src/data/index.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { Random } from '../../src/random.js';
import type { Batch, EngineFactory } from '../../src/train/engine.js';
import type { Predict } from '../../src/train/evaluate.js';
import { train, type TrainConfig } from '../../src/train/loop.js';
import { initWeights } from '../../src/weights/init.js';
import { tempDirs } from '../helpers/temp.js';
import { trainConfig } from './config.js';
import { bytesOf } from './fake-engine.js';
import { regressionGraph } from './graphs.js';

const tempDir = tempDirs('sofar-distill-');
const tfjs = tfjsEngineFactory({ device: 'cpu' });
const ENGINES: [string, EngineFactory][] = [
  ['ort', createOrtEngine],
  ['tfjs', tfjs],
];
const noNoise = { joinMasks: new Map(), dropoutMasks: new Map() };

/** flatten(1×4×4) → dense 4 with bias: logits z = x·K + b, so dL/dK = xᵀ · dL/dz and dL/db = Σ dL/dz. */
function reference(x: Float32Array, y: Int32Array, teacher: Float32Array, K: Float32Array, b: Float32Array, w: number, n: number) {
  const [inputs, classes] = [16, 4];
  const logSoftmax = (row: number[]) => {
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
    return row.map((v) => v - lse);
  };
  const logits = (k: ArrayLike<number>, i: number) =>
    Array.from({ length: classes }, (_, c) => b[c] + Array.from({ length: inputs }, (_, j) => x[i * inputs + j] * k[j * classes + c]).reduce((s, v) => s + v, 0));
  const lossOf = (k: ArrayLike<number>) => {
    let ce = 0;
    let kl = 0;
    for (let i = 0; i < n; i++) {
      const s = logSoftmax(logits(k, i));
      const t = logSoftmax(Array.from(teacher.subarray(i * classes, (i + 1) * classes)));
      ce -= s[y[i]];
      for (let c = 0; c < classes; c++) kl += Math.exp(t[c]) * (t[c] - s[c]);
    }
    return { ce: ce / n, kl: kl / n, loss: (ce + w * kl) / n };
  };
  const dK = new Float64Array(inputs * classes);
  const db = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    const p = logSoftmax(logits(K, i)).map(Math.exp);
    const q = logSoftmax(Array.from(teacher.subarray(i * classes, (i + 1) * classes))).map(Math.exp);
    for (let c = 0; c < classes; c++) {
      const dz = (p[c] - (c === y[i] ? 1 : 0) + w * (p[c] - q[c])) / n;
      db[c] += dz;
      for (let j = 0; j < inputs; j++) dK[j * classes + c] += x[i * inputs + j] * dz;
    }
  }
  return { ...lossOf(K), dK, db, lossOf };
}

function problem() {
  const graph = regressionGraph();
  const weights = initWeights(graph, 4);
  const rng = new Random(9, 'distill-test');
  const n = 6;
  const batch: Batch = {
    x: Float32Array.from({ length: n * 16 }, () => rng.normal()),
    y: Int32Array.from({ length: n }, (_, i) => i % 4),
    n,
    teacher: Float32Array.from({ length: n * 4 }, () => 2 * rng.normal()),
  };
  const ref = reference(batch.x, batch.y, batch.teacher!, weights.get('head/kernel')!, weights.get('head/bias')!, 0.7, n);
  return { graph, weights, batch, ref };
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('the distillation loss: CE + w · KL(softmax(teacher) ‖ softmax(student))', () => {
  it('the float64 reference gradient agrees with central differences of the float64 loss', () => {
    const { weights, ref } = problem();
    const K = Float64Array.from(weights.get('head/kernel')!);
    for (const i of [0, 5, 17, 42, 63]) {
      const h = 1e-6;
      const up = K.slice();
      const down = K.slice();
      up[i] += h;
      down[i] -= h;
      expect((ref.lossOf(up).loss - ref.lossOf(down).loss) / (2 * h)).toBeCloseTo(ref.dK[i], 7);
    }
    expect(ref.kl).toBeGreaterThan(0.1);
  });

  it('ONNX Runtime: loss, KL and parameter gradients equal the reference', async () => {
    const { graph, weights, batch, ref } = problem();
    const got = await ortLossAndGradients(graph, weights, batch, noNoise, 1, undefined, 0.7);
    expect(got.loss).toBeCloseTo(ref.loss, 5);
    expect(got.distillation).toBeCloseTo(ref.kl, 5);
    expect(maxAbsDiff(got.gradients.get('head/kernel')!, ref.dK)).toBeLessThan(1e-5);
    expect(maxAbsDiff(got.gradients.get('head/bias')!, ref.db)).toBeLessThan(1e-5);
    // Without the teacher the loss is the cross-entropy alone.
    expect((await ortLossAndGradients(graph, weights, batch, noNoise, 1)).loss).toBeCloseTo(ref.ce, 5);
  });

  it('TensorFlow.js: parameter gradients equal the reference', async () => {
    const { graph, weights, batch, ref } = problem();
    const got = await tfjsGradients(graph, weights, batch, noNoise, defaultTf, 0.7);
    expect(maxAbsDiff(got.get('head/kernel')!, ref.dK)).toBeLessThan(1e-5);
    expect(maxAbsDiff(got.get('head/bias')!, ref.db)).toBeLessThan(1e-5);
  });

  it.each(ENGINES)('%s: a training step reports the loss and the KL term of the reference', async (_name, factory) => {
    const { graph, weights, batch, ref } = problem();
    const engine = await factory({ graph, weights, optimizer: { name: 'adam', momentum: 0.9, weightDecay: 0 }, batchSize: 6, distillWeight: 0.7 });
    try {
      const result = await engine.trainStep(batch, 0.01, noNoise);
      expect(result.loss).toBeCloseTo(ref.loss, 5);
      expect(result.distillation).toBeCloseTo(ref.kl, 5);
    } finally {
      await engine.dispose();
    }
  });
  it('tfjs: a distilling step leaves no tensor behind', async () => {
    const { graph, weights, batch } = problem();
    const engine = await tfjs({ graph, weights, optimizer: { name: 'adam', momentum: 0.9, weightDecay: 0 }, batchSize: 6, distillWeight: 0.7 });
    try {
      await engine.trainStep(batch, 0.01, noNoise);
      const after1 = defaultTf.memory().numTensors;
      for (let i = 0; i < 3; i++) await engine.trainStep(batch, 0.01, noNoise);
      expect(defaultTf.memory().numTensors).toBe(after1);
    } finally {
      await engine.dispose();
    }
  });
});

function tinyGraph(): Graph {
  return compileFile(join(import.meta.dirname, 'fixtures', 'tiny.sofar')).graph!;
}

/** A teacher as the CLI runs one: the ONNX export of the tiny model with other seeded weights, in an ORT session. */
async function onnxTeacher(graph: Graph): Promise<{ predict: Predict; release: () => Promise<void> }> {
  const session = await createSession(exportOnnx(graph, initWeights(graph, 5)));
  return { predict: (x, n) => runOnnx(session, x, n), release: () => session.release() };
}

describe.each(ENGINES)('%s engine, distilling and resuming mid-epoch', (_name, engineFactory) => {
  const config = (over: Partial<TrainConfig> = {}) => trainConfig({ lr: 0.01, seed: 3 }, { epochs: 1, schedule: 'constant', ...over });
  const weightsOf = (w: WeightMap) => bytesOf(w);

  it('w = 0 trains exactly as a plain run; w = 1 reports the KL term and trains otherwise', async () => {
    const graph = tinyGraph();
    const dataset = loadDataset('synthetic', graph, { limit: 96 });
    const teacher = await onnxTeacher(graph);
    try {
      const plain = await train({ graph, dataset, engineFactory, config: config(), outDir: tempDir() });
      const zero = await train({ graph, dataset, engineFactory, config: config({ distillWeight: 0 }), outDir: tempDir(), teacher: teacher.predict });
      expect(weightsOf(zero.weights)).toEqual(weightsOf(plain.weights));
      expect(zero.history[0].trainLoss).toBe(plain.history[0].trainLoss);
      const one = await train({ graph, dataset, engineFactory, config: config({ distillWeight: 1 }), outDir: tempDir(), teacher: teacher.predict });
      expect(one.history[0].trainDistillation).toBeGreaterThan(0);
      expect(one.history[0].trainLoss).toBeGreaterThan(plain.history[0].trainLoss);
      expect(weightsOf(one.weights)).not.toEqual(weightsOf(plain.weights));
    } finally {
      await teacher.release();
    }
  });

  it('a run resumed from a mid-epoch checkpoint ends with the uninterrupted run’s weights and slots, bit for bit', async () => {
    const graph = tinyGraph();
    const dataset = loadDataset('synthetic', graph, { limit: 128 });
    // 4 steps an epoch, a checkpoint every 3 steps: at step 3 (epoch 1) and step 6 (epoch 2).
    const c = config({ epochs: 2, checkpointEvery: 3 });
    const whole = await train({ graph, dataset, engineFactory, config: c, outDir: tempDir() });
    const dir = tempDir();
    const controller = new AbortController();
    const stop = (e: { type: string; epoch?: number; step?: number }) => e.type === 'step' && e.epoch === 1 && e.step === 4 && controller.abort();
    await expect(train({ graph, dataset, engineFactory, config: c, outDir: dir, signal: controller.signal, onEvent: stop })).rejects.toThrow();
    expect(readCheckpoint(dir).meta).toMatchObject({ epoch: 0, step: 3 });
    const resumed = await train({ graph, dataset, engineFactory, config: c, outDir: dir, resume: true });
    expect(weightsOf(resumed.weights)).toEqual(weightsOf(whole.weights));
    expect(weightsOf(readCheckpoint(dir).slots)).toEqual(weightsOf(readCheckpoint(whole.checkpointPath).slots));
    expect(resumed.history.map((m) => m.trainLoss)).toEqual(whole.history.map((m) => m.trainLoss));
  });
});
