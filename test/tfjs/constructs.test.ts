/**
 * The constructs of today's binary nets (issue 20) one at a time, on graphs small enough for the pure-JS
 * CPU: the ONNX suite's one-construct graphs (Keras model and functional forward against the float64
 * reference, gradients against the ORT suite's float64 reverse mode and the ONNX Runtime engine), depthwise and grouped convs end to end (gradients against finite differences of the
 * reference), one-padding and a quantized kernel on a real-valued input against values worked out by
 * hand, and fixed kernels that no optimiser (Adam, SGD with weight decay, Bop) changes.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { ortGradients } from '../../backends/ort-train/index.js';
import { buildTfjsModel, forward, gradients, predictNchw, runTfjs, TfjsEngine } from '../../backends/tfjs/index.js';
import { activationsFromBackend, activationsToBackend, paramToBackend } from '../../backends/tfjs/layout.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import type { OptimizerConfig } from '../../src/train/engine.js';
import { Random } from '../../src/random.js';
import { graphParams, initWeights } from '../../src/weights/init.js';
import { blurKernel, busyWeights, noNoise, normalValues } from './graphs.js';
import { maxAbs, maxAbsDiff, referenceForward, referenceLoss } from '../helpers/reference.js';
import { nudged } from '../helpers/finite-differences.js';
import { constructCases } from '../onnx/constructs.js';
import { referencePass, toFloat64 } from '../ort-train/reference.js';

const SELECTION = { backendName: 'cpu', device: 'cpu', package: '@tensorflow/tfjs' } as const;

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, relative = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(relative * Math.max(maxAbs(expected), 1e-6));
}

/** The functional forward pass at inference (no checker on the way, unlike the Keras model). */
async function functionalOutput(graph: Graph, weights: WeightMap, x: Float32Array, n: number): Promise<Float32Array> {
  const params = new Map(graphParams(graph).map((p) => [p.name, paramToBackend(tf, p, weights.get(p.name)!)]));
  const input = activationsToBackend(tf, x, n, graph.input);
  const output = tf.tidy(() => forward(tf, graph, (name) => params.get(name)!, input, { training: false }).output);
  try {
    return await activationsFromBackend(tf, output);
  } finally {
    tf.dispose([input, output, ...params.values()]);
  }
}

/** Finite differences of the float64 reference loss (training mode) against `gradients`, every entry. */
async function expectGradientsMatch(graph: Graph, weights: WeightMap, x: Float32Array, y: Int32Array): Promise<void> {
  const n = y.length;
  const grads = await gradients(graph, weights, { x, y, n }, noNoise(), tf);
  const w64 = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
  const loss = () => referenceLoss(referenceForward(graph, w64, x, n, { training: true, noise: noNoise() }).output, y);
  for (const p of graphParams(graph).filter((q) => q.trainable)) {
    const g = grads.get(p.name)!;
    const values = w64.get(p.name)!;
    for (let i = 0; i < values.length; i++) {
      const { up, down } = nudged(values, i, 1e-5, loss);
      const numeric = (up - down) / 2e-5;
      expect(Math.abs(g[i] - numeric), `${p.name}[${i}]: tfjs ${g[i]} vs finite difference ${numeric}`).toBeLessThanOrEqual(2e-4 + 2e-3 * Math.abs(numeric));
    }
  }
}

describe('tfjs: each construct of issue 20 against the float64 reference', () => {
  // The ONNX suite's graphs, one construct each (test/onnx/constructs.ts), on busy seeded weights.
  for (const c of constructCases()) {
    it(c.name, async () => {
      const weights = busyWeights(c.graph, 31);
      const x = normalValues(2 * 3 * 8 * 8, 32);
      const expected = referenceForward(c.graph, weights, x, 2).output.data;
      const model = buildTfjsModel(c.graph, weights, tf);
      try {
        expectClose(await predictNchw(model, c.graph, x, 2, tf), expected);
      } finally {
        model.dispose();
      }
      expectClose(await functionalOutput(c.graph, weights, x, 2), expected);
    });
  }

  // Pseudo-gradients (straight-through windows, XNOR's scale, DoReFa's levels, one-padding) cannot be
  // checked by finite differences: against the float64 reverse-mode reference of the ORT suite
  // (test/ort-train/reference.ts) and the ONNX Runtime engine, which implement the same table independently.
  for (const c of constructCases()) {
    it(`${c.name}: gradients equal the float64 reference's and the ONNX Runtime engine's`, async () => {
      const weights = busyWeights(c.graph, 33);
      const batch = { x: normalValues(3 * 3 * 8 * 8, 34), y: Int32Array.from([0, 3, 1]), n: 3 };
      const ours = await gradients(c.graph, weights, batch, noNoise(), tf);
      const reference = referencePass(c.graph, toFloat64(weights), batch.x, batch.y, batch.n, noNoise(), { gradients: true }).grads;
      const engine = await ortGradients(c.graph, weights, batch, noNoise());
      for (const theirs of [reference, engine]) {
        expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
        for (const [name, g] of ours) {
          const expected = theirs.get(name)!;
          expect(maxAbsDiff(g, expected), name).toBeLessThanOrEqual(1e-6 + 1e-4 * maxAbs(expected));
        }
      }
    });
  }
});

describe('tfjs: depthwise and grouped convs', () => {
  // Depthwise with two filters a channel (stride 2, dilation 2, asymmetric pads), then a grouped conv.
  const b = new GraphBuilder({ name: 'groups', input: [3, 7, 7], classes: 2 });
  let x = b.conv(b.input(), { name: 'depthwise', filters: 6, kernel: 3, groups: 3, stride: 2, dilation: 2, padding: 'same', bias: true });
  x = b.conv(x, { name: 'grouped', filters: 4, kernel: [2, 3], groups: 2, padding: 'same' });
  const graph = b.finish(b.dense(b.flatten(x), { units: 2 }));
  const weights = busyWeights(graph, 3);
  const input = normalValues(2 * 3 * 7 * 7, 4);

  it('the Keras model and the functional forward equal the float64 reference', async () => {
    const expected = referenceForward(graph, weights, input, 2).output.data;
    expectClose(await runTfjs(graph, weights, input, 2, tf), expected);
    expectClose(await functionalOutput(graph, weights, input, 2), expected);
  });

  it('each filter of a depthwise conv sees its own input channel only', async () => {
    // Zero every channel but one: only that channel's two filters may respond.
    const single = new GraphBuilder({ name: 'dw', input: [3, 3, 3], classes: 6 });
    const dw = single.conv(single.input(), { name: 'depthwise', filters: 6, kernel: 3, groups: 3, padding: 'valid' });
    const g = single.finish(single.flatten(dw));
    const w = initWeights(g, 5);
    const only = Float32Array.from({ length: 27 }, (_, i) => (Math.floor(i / 9) === 1 ? 1 + (i % 9) : 0));
    const out = await runTfjs(g, w, only, 1, tf);
    expect([0, 1, 4, 5].map((o) => out[o])).toEqual([0, 0, 0, 0]);
    const k = w.get('depthwise/kernel')!; // [6, 1, 3, 3]
    for (const o of [2, 3]) expect(out[o]).toBeCloseTo(k.slice(o * 9, o * 9 + 9).reduce((s, v, t) => s + v * (1 + t), 0), 4);
  });

  it('their gradients match finite differences of the float64 reference', async () => {
    await expectGradientsMatch(graph, weights, input, Int32Array.from([1, 0]));
  });
});

describe('tfjs: one-padding and quantized kernels on real inputs', () => {
  it('a one-padded binary conv pads its ±1 input with +1: corner sums worked out by hand', async () => {
    // Input all −1, kernel all +1 (ste_sign): a corner of a 3×3 one-padded window holds 4 real cells
    // (−4) and 5 padded ones (+5) = 1; an edge 6 and 3 = −3; the centre −9. Zero-padding would give −4, −6.
    const b = new GraphBuilder({ name: 'one_pad', input: [1, 3, 3], classes: 9 });
    const conv = b.bconv(b.input(), { filters: 1, kernel: 3, padValue: 1, kernelQuantizer: 'ste_sign', inputQuantizer: 'ste_sign' });
    const graph = b.finish(b.flatten(conv));
    const w = new Map([['bconv/kernel', new Float32Array(9).fill(0.5)]]);
    const x = new Float32Array(9).fill(-0.25);
    const expected = [1, -3, 1, -3, -9, -3, 1, -3, 1];
    expect(Array.from(await runTfjs(graph, w, x, 1, tf))).toEqual(expected);
    expect(Array.from(await functionalOutput(graph, w, x, 1))).toEqual(expected);
    expectClose(expected, referenceForward(graph, w, x, 1).output.data);
  });

  it('a quantized kernel on a real-valued input convolves the real values with the scaled ±1 kernel', async () => {
    // BinaryAlexNet's first layer: no input quantizer. Each output is s_o · Σ x · sign(W), by hand.
    const b = new GraphBuilder({ name: 'real_in', input: [2, 3, 3], classes: 2 });
    const conv = b.bconv(b.input(), { filters: 2, kernel: 3, padding: 'valid', kernelQuantizer: 'magnitude_aware_sign', inputQuantizer: 'none' });
    const graph = b.finish(b.flatten(conv));
    const w = initWeights(graph, 8);
    const k = w.get('bconv/kernel')!; // [2, 2, 3, 3]
    const x = normalValues(2 * 18, 9);
    const expected = [0, 1].flatMap((s) =>
      [0, 1].map((o) => {
        const taps = k.slice(o * 18, o * 18 + 18);
        const scale = taps.reduce((a, v) => a + Math.abs(v), 0) / 18;
        return scale * taps.reduce((a, v, t) => a + x[s * 18 + t] * (v >= 0 ? 1 : -1), 0);
      }),
    );
    expectClose(await functionalOutput(graph, w, x, 2), expected);
    expectClose(referenceForward(graph, w, x, 2).output.data, expected);
    expectClose(await runTfjs(graph, w, x, 2, tf), expected);
  });
});

describe('tfjs: fixed kernels', () => {
  // A fixed blur (float) and a fixed binary kernel holding values beyond its clip, between trainable layers.
  const b = new GraphBuilder({ name: 'fixed', input: [2, 5, 5], classes: 2, binarize: { activations: 'ste_sign', weights: 'ste_sign' } });
  let x = b.conv(b.input(), { name: 'stem', filters: 2, kernel: 3 });
  x = b.conv(x, { name: 'blur', filters: 2, kernel: 3, groups: 2, fixedKernel: blurKernel(2) });
  const fixedBinary = Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => (i % 3 === 0 ? 2 : i % 3 === 1 ? -1.5 : 0.25));
  x = b.bconv(x, { name: 'fixed_binary', filters: 2, kernel: 3, fixedKernel: fixedBinary });
  x = b.bconv(b.batchnorm(x), { name: 'learned', filters: 2, kernel: 3 });
  const graph = b.finish(b.dense(b.globalAvgpool(b.batchnorm(x)), { units: 2 }));
  const FIXED = ['blur/kernel', 'fixed_binary/kernel'];

  it('are parameters that are not trainable, with the values given', () => {
    const specs = graphParams(graph);
    for (const name of FIXED) expect(specs.find((p) => p.name === name)!.trainable).toBe(false);
    const w = initWeights(graph, 1);
    expect(Array.from(w.get('blur/kernel')!)).toEqual(blurKernel(2).map(Math.fround));
    expect(Array.from(w.get('fixed_binary/kernel')!)).toEqual(fixedBinary);
  });

  it('are non-trainable weights of the Keras model', () => {
    const model = buildTfjsModel(graph, initWeights(graph, 1), tf);
    try {
      const trainable = new Set(model.trainableWeights.map((w) => w.originalName));
      const all = new Set(model.weights.map((w) => w.originalName));
      for (const name of FIXED) {
        expect(all).toContain(name);
        expect(trainable).not.toContain(name);
      }
      expect(trainable).toContain('learned/kernel');
    } finally {
      model.dispose();
    }
  });

  for (const optimizer of [
    { name: 'adam', momentum: 0.9, weightDecay: 0.1 },
    { name: 'sgd', momentum: 0.9, weightDecay: 0.1 },
    { name: 'bop', momentum: 0.9, weightDecay: 0.1, bopThreshold: 0 },
  ] as OptimizerConfig[]) {
    it(`are never updated, decayed or clipped by ${optimizer.name}, while the other weights train`, async () => {
      const start = busyWeights(graph, 2);
      const e = new TfjsEngine(tf, graph, start, optimizer, SELECTION);
      const rng = new Random(3, 'fixed-batches');
      try {
        for (let step = 0; step < 3; step++) {
          const batch = { x: Float32Array.from({ length: 4 * 50 }, () => rng.normal()), y: Int32Array.from([0, 1, 1, 0]), n: 4 };
          await e.trainStep(batch, 0.5, noNoise());
        }
        const state = await e.getState();
        for (const name of FIXED) {
          expect(Array.from(state.weights.get(name)!), name).toEqual(Array.from(start.get(name)!));
          expect([...state.slots.keys()].some((k) => k.startsWith(`${name}/`)), `${name} has no optimizer slots`).toBe(false);
        }
        // The test can fail: the trainable kernels moved.
        for (const name of ['stem/kernel', 'learned/kernel']) expect(maxAbsDiff(state.weights.get(name)!, start.get(name)!), name).toBeGreaterThan(0);
      } finally {
        await e.dispose();
      }
    });
  }

  it('get no gradient entry, and the logits still depend on them', async () => {
    const w = busyWeights(graph, 4);
    const x = normalValues(2 * 50, 5);
    const grads = await gradients(graph, w, { x, y: Int32Array.from([0, 1]), n: 2 }, noNoise(), tf);
    for (const name of FIXED) expect(grads.has(name)).toBe(false);
    const model = buildTfjsModel(graph, w, tf);
    try {
      const out = await predictNchw(model, graph, x, 2, tf);
      expectClose(out, referenceForward(graph, w, x, 2).output.data);
      const flipped = new Map(w);
      flipped.set('fixed_binary/kernel', w.get('fixed_binary/kernel')!.map((v) => -v));
      expect(maxAbsDiff(await runTfjs(graph, flipped, x, 2, tf), out)).toBeGreaterThan(1e-3);
    } finally {
      model.dispose();
    }
  });
});
