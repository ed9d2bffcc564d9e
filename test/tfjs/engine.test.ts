/**
 * The tfjs training engine against docs/semantics.md: the optimiser updates written out in float64 in
 * the test from `gradients` (Adam, SGD with momentum, weight decay on float kernels only, kernel
 * clipping), moving statistics from the reference's batch statistics, loss and accuracy from the
 * reference forward pass, exact state round trips, and flat memory across steps.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { gradients, runTfjs, TfjsEngine } from '../../backends/tfjs/index.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import type { OptimizerConfig, StepNoise, TrainState } from '../../src/train/engine.js';
import { graphParams } from '../../src/weights/init.js';
import { busyWeights, normalValues, someNoise } from './graphs.js';
import { maxAbs, maxAbsDiff, referenceForward, referenceLoss } from '../helpers/reference.js';

const N = 4;
const SELECTION = { backendName: 'cpu', device: 'cpu', package: '@tensorflow/tfjs' } as const;

/** conv → bn → Bi-Real unit (approx_sign, ste_sign kernel) → 2-column fractal → dropout → gap → dense. */
function trainGraph(): Graph {
  const b = new GraphBuilder({ name: 'train', input: [1, 6, 6], classes: 3 });
  let x = b.batchnorm(b.conv(b.input(), { filters: 3, kernel: 3 }));
  x = b.residual(x, (z) => b.batchnorm(b.bconv(z, { filters: 3, kernel: 3, inputQuantizer: 'approx_sign', kernelQuantizer: 'ste_sign' })));
  x = b.fractal(x, { columns: 2, dropPath: 0.3 }, (z) => b.relu(b.conv(z, { filters: 3, kernel: 3 })));
  x = b.dropout(x, { rate: 0.2 });
  return b.finish(b.dense(b.globalAvgpool(x), { units: 3 }));
}

const graph = trainGraph();
const specs = graphParams(graph);
const batchAt = (step: number) => ({ x: normalValues(N * 36, 100 + step), y: Int32Array.from({ length: N }, (_, i) => (i + step) % 3), n: N });
const noiseAt = (step: number): StepNoise => someNoise(graph, N, 200 + step);

/** Busy weights whose binary kernel starts partly beyond the clip (as after a large update). */
function startWeights(seed: number): WeightMap {
  const w = busyWeights(graph, seed);
  const k = w.get('bconv/kernel')!;
  k.forEach((v, i) => (k[i] = i % 4 === 0 ? 1.5 : i % 4 === 1 ? -0.999 : v));
  return w;
}

function engine(optimizer: OptimizerConfig, weights: WeightMap = startWeights(1)) {
  return new TfjsEngine(tf, graph, weights, optimizer, SELECTION);
}

const copy = (w: WeightMap) => new Map([...w].map(([k, v]) => [k, Float64Array.from(v)]));

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, tolerance = 2e-6) {
  expect(actual.length, label).toBe(expected.length);
  expect(maxAbsDiff(actual, expected), label).toBeLessThanOrEqual(tolerance * Math.max(1, maxAbs(expected)));
}

/** Float64 optimiser state the test advances by the formulas of docs/semantics.md. */
interface Expected {
  w: Map<string, Float64Array>;
  slots: Map<string, Float64Array>;
  t: number;
}

function applyUpdate(e: Expected, grads: WeightMap, lr: number, o: OptimizerConfig) {
  e.t += 1;
  for (const p of specs.filter((s) => s.trainable)) {
    const w = e.w.get(p.name)!;
    const g = Float64Array.from(grads.get(p.name)!);
    if (p.role === 'kernel' && !p.binary) g.forEach((v, i) => (g[i] = v + o.weightDecay * w[i]));
    if (o.name === 'adam') {
      const m = e.slots.get(`${p.name}/m`) ?? new Float64Array(w.length);
      const v = e.slots.get(`${p.name}/v`) ?? new Float64Array(w.length);
      for (let i = 0; i < w.length; i++) {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
        w[i] -= (lr * (m[i] / (1 - 0.9 ** e.t))) / (Math.sqrt(v[i] / (1 - 0.999 ** e.t)) + 1e-8);
      }
      e.slots.set(`${p.name}/m`, m);
      e.slots.set(`${p.name}/v`, v);
    } else {
      const u = e.slots.get(`${p.name}/momentum`) ?? new Float64Array(w.length);
      for (let i = 0; i < w.length; i++) {
        u[i] = o.momentum * u[i] + g[i];
        w[i] -= lr * u[i];
      }
      e.slots.set(`${p.name}/momentum`, u);
    }
    if (p.binary) w.forEach((v, i) => (w[i] = Math.min(1, Math.max(-1, v)))); // kernelClip = 1 (builder default)
  }
}

function applyMovingStatistics(e: Expected, before: Map<string, Float64Array>, x: Float32Array, noise: StepNoise) {
  const { batchStatistics } = referenceForward(graph, before, x, N, { training: true, noise });
  for (const node of graph.nodes) {
    if (node.op !== 'batchnorm') continue;
    const m = node.attrs.momentum;
    const s = batchStatistics.get(node.name)!;
    const mean = e.w.get(`${node.name}/moving_mean`)!;
    const variance = e.w.get(`${node.name}/moving_variance`)!;
    mean.forEach((v, i) => (mean[i] = m * v + (1 - m) * s.mean[i]));
    variance.forEach((v, i) => (variance[i] = m * v + (1 - m) * s.variance[i]));
  }
}

function expectState(state: TrainState, e: Expected, tolerance?: number) {
  expect(state.step).toBe(e.t);
  for (const p of specs) expectNear(state.weights.get(p.name)!, e.w.get(p.name)!, p.name, tolerance);
  expect([...state.slots.keys()].sort()).toEqual([...e.slots.keys()].sort());
  for (const [k, v] of e.slots) expectNear(state.slots.get(k)!, v, k, tolerance);
}

describe('tfjs training engine', () => {
  for (const optimizer of [
    { name: 'adam', momentum: 0.9, weightDecay: 1e-2 },
    { name: 'sgd', momentum: 0.9, weightDecay: 5e-2 },
  ] as OptimizerConfig[]) {
    it(`${optimizer.name}: three steps follow the written-out update, clipping and moving statistics`, async () => {
      const e = engine(optimizer);
      try {
        const start = await e.getState();
        const expected: Expected = { w: copy(start.weights), slots: new Map(), t: 0 };
        const lr = optimizer.name === 'adam' ? 0.05 : 0.5; // large enough for binary kernels to hit the clip
        for (let step = 0; step < 3; step++) {
          const batch = batchAt(step);
          const noise = noiseAt(step);
          const before = new Map([...expected.w].map(([k, v]) => [k, Float32Array.from(v)]));
          const grads = await gradients(graph, before, batch, noise, tf);
          const result = await e.trainStep(batch, lr, noise);
          // Loss and accuracy are those of the batch before the update.
          const logits = referenceForward(graph, before, batch.x, N, { training: true, noise }).output;
          expect(result.loss).toBeCloseTo(referenceLoss(logits, batch.y), 4);
          const correct = [...batch.y].filter((label, s) => {
            const row = Array.from(logits.data.subarray(s * 3, s * 3 + 3));
            return row.indexOf(Math.max(...row)) === label;
          }).length;
          expect(result.correct).toBe(correct);
          applyMovingStatistics(expected, new Map([...before].map(([k, v]) => [k, Float64Array.from(v)])), batch.x, noise);
          applyUpdate(expected, grads, lr, optimizer);
          // Compare against the engine's own float32 weights each step, so rounding cannot accumulate.
          const state = await e.getState();
          expectState(state, expected, 1e-5);
          expected.w = copy(state.weights);
          expected.slots = copy(state.slots);
          const binary = state.weights.get('bconv/kernel')!;
          expect(maxAbs(binary)).toBeLessThanOrEqual(1);
          // Entries that started at 1.5 have no gradient (outside the window) and are clipped to exactly 1.
          if (step === 0) binary.forEach((v, i) => i % 4 === 0 && expect(v).toBe(1));
        }
      } finally {
        await e.dispose();
      }
    });
  }

  it('getState / setState round-trip exactly, and a restored engine continues identically', async () => {
    const optimizer: OptimizerConfig = { name: 'adam', momentum: 0.9, weightDecay: 1e-3 };
    const a = engine(optimizer);
    const b = engine(optimizer, startWeights(99));
    try {
      await a.trainStep(batchAt(0), 0.01, noiseAt(0));
      await a.trainStep(batchAt(1), 0.01, noiseAt(1));
      const saved = await a.getState();
      await b.setState(saved);
      const restored = await b.getState();
      expect(restored.step).toBe(2);
      for (const [k, v] of saved.weights) expect(restored.weights.get(k)).toEqual(v);
      for (const [k, v] of saved.slots) expect(restored.slots.get(k)).toEqual(v);
      const ra = await a.trainStep(batchAt(2), 0.01, noiseAt(2));
      const rb = await b.trainStep(batchAt(2), 0.01, noiseAt(2));
      expect(rb).toEqual(ra);
      const [sa, sb] = [await a.getState(), await b.getState()];
      for (const [k, v] of sa.weights) expect(sb.weights.get(k)).toEqual(v);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it('predict is inference: moving statistics, no masks; it equals the Keras model', async () => {
    const e = engine({ name: 'sgd', momentum: 0.9, weightDecay: 0 });
    try {
      await e.trainStep(batchAt(0), 0.1, noiseAt(0));
      const { weights } = await e.getState();
      const x = normalValues(3 * 36, 7);
      const predicted = await e.predict(x, 3);
      const reference = referenceForward(graph, weights, x, 3).output.data;
      expectNear(predicted, reference, 'predict vs reference', 1e-4);
      expectNear(await runTfjs(graph, weights, x, 3, tf), predicted, 'Keras model vs predict', 1e-5);
    } finally {
      await e.dispose();
    }
  });

  it('keeps no reference to the caller\'s weight arrays', async () => {
    const weights = startWeights(3);
    const e = engine({ name: 'sgd', momentum: 0.9, weightDecay: 0 }, weights);
    try {
      const x = normalValues(2 * 36, 4);
      const before = await e.predict(x, 2);
      for (const v of weights.values()) v.fill(0.5); // the loop may reuse its buffers
      expect(await e.predict(x, 2)).toEqual(before);
      const state = await e.getState();
      await e.setState(state);
      for (const v of state.weights.values()) v.fill(0.25);
      expect(await e.predict(x, 2)).toEqual(before);
    } finally {
      await e.dispose();
    }
  });

  it('keeps the number of tensors flat across steps and frees everything on dispose', async () => {
    const start = tf.memory().numTensors;
    const e = engine({ name: 'adam', momentum: 0.9, weightDecay: 1e-4 });
    await e.trainStep(batchAt(0), 0.01, noiseAt(0));
    await e.predict(batchAt(0).x, N);
    const afterOne = tf.memory().numTensors;
    for (let step = 1; step < 6; step++) {
      await e.trainStep(batchAt(step), 0.01, noiseAt(step));
      await e.predict(batchAt(step).x, N);
      await e.getState();
      expect(tf.memory().numTensors).toBe(afterOne);
    }
    await e.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('refuses bad labels, masks and states, leaking nothing and updating nothing', async () => {
    const e = engine({ name: 'sgd', momentum: 0.9, weightDecay: 0 });
    try {
      const before = tf.memory().numTensors;
      const bad = { ...batchAt(0), y: Int32Array.from([0, 1, 3, 0]) };
      await expect(e.trainStep(bad, 0.1, noiseAt(0))).rejects.toThrow(/label 3 of batch item 2 lies outside 0\.\.2/);
      expect(tf.memory().numTensors).toBe(before);
      await expect(e.trainStep({ ...batchAt(0), y: Int32Array.from([0, 1]) }, 0.1, noiseAt(0))).rejects.toThrow(/needs 4 labels, got 2/);
      await expect(e.trainStep({ ...batchAt(0), x: new Float32Array(10) }, 0.1, noiseAt(0))).rejects.toThrow(/expected 144 values/);
      const shortMask = noiseAt(0);
      const dropoutName = graph.nodes.find((n) => n.op === 'dropout')!.name;
      shortMask.dropoutMasks.set(dropoutName, new Float32Array(5));
      await expect(e.trainStep(batchAt(0), 0.1, shortMask)).rejects.toThrow(/dropout mask for '.*' must hold 432 values, got 5/);
      const badJoin = noiseAt(0);
      const joinName = graph.nodes.find((n) => n.op === 'join')!.name;
      badJoin.joinMasks.set(joinName, Float32Array.from([0, 0]));
      await expect(e.trainStep(batchAt(0), 0.1, badJoin)).rejects.toThrow(/at least one 1/);
      expect(tf.memory().numTensors).toBe(before);
      expect((await e.getState()).step).toBe(0); // nothing was updated
      const state = await e.getState();
      state.weights.delete('dense/bias');
      await expect(e.setState(state)).rejects.toThrow(/no weights for parameter 'dense\/bias'/);
      const wrong = await e.getState();
      wrong.weights.set('dense/bias', new Float32Array(7));
      await expect(e.setState(wrong)).rejects.toThrow(/'dense\/bias' has 7 values/);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await e.dispose();
    }
  });
});
