/**
 * The Keras model and the functional forward pass against an independent float64 reference of
 * docs/semantics.md (test/tfjs/reference.ts) and against the ONNX backend, on a graph holding every node
 * kind. Tolerance: max |diff| ≤ 1e-4 × max |output| (float32 against float64 or another runtime).
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { buildTfjsModel, forward, predictNchw, runTfjs } from '../../backends/tfjs/index.js';
import { activationsFromBackend, activationsToBackend, paramToBackend } from '../../backends/tfjs/layout.js';
import * as ops from '../../backends/tfjs/ops.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { OP_KINDS, type Graph, type JoinMode, type WeightMap } from '../../src/graph/types.js';
import { graphParams } from '../../src/weights/init.js';
import { busyWeights, everyOpGraph, normalValues, someNoise } from './graphs.js';
import { maxAbs, maxAbsDiff, referenceForward } from '../helpers/reference.js';

const N = 3;

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, relative = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(relative * Math.max(maxAbs(expected), 1e-6));
}

/** The functional forward pass on NCHW values, with the weights as plain tensors. */
async function functionalForward(graph: Graph, weights: WeightMap, x: Float32Array, n: number, training: boolean, noise = someNoise(graph, n, 0)) {
  const params = new Map(graphParams(graph).map((p) => [p.name, paramToBackend(tf, p, weights.get(p.name)!)]));
  const input = activationsToBackend(tf, x, n, graph.input);
  try {
    const result = tf.tidy(() => {
      const r = forward(tf, graph, (name) => params.get(name)!, input, { training, noise });
      return { output: r.output, stats: [...r.batchStatistics].map(([name, s]) => ({ name, mean: s.mean, variance: s.variance })) };
    });
    const output = await activationsFromBackend(tf, result.output);
    const stats = new Map<string, { mean: Float32Array; variance: Float32Array }>();
    for (const s of result.stats) stats.set(s.name, { mean: Float32Array.from(await s.mean.data()), variance: Float32Array.from(await s.variance.data()) });
    tf.dispose([result.output, ...result.stats.flatMap((s) => [s.mean, s.variance])]);
    return { output, stats };
  } finally {
    input.dispose();
    tf.dispose([...params.values()]);
  }
}

describe('tfjs lowering', () => {
  const graph = everyOpGraph();
  const weights = busyWeights(graph, 7);
  const x = normalValues(N * 2 * 8 * 8, 11);

  it('the test graph holds every node kind', () => {
    expect(new Set(graph.nodes.map((n) => n.op))).toEqual(new Set(OP_KINDS));
  });

  it('the Keras model matches the float64 reference at inference', async () => {
    const out = await runTfjs(graph, weights, x, N, tf);
    expect(out.length).toBe(N * graph.classes);
    expectClose(out, referenceForward(graph, weights, x, N).output.data);
  });

  it('the functional forward pass equals the Keras model at inference', async () => {
    const model = buildTfjsModel(graph, weights, tf);
    try {
      const keras = await predictNchw(model, graph, x, N, tf);
      const functional = await functionalForward(graph, weights, x, N, false);
      expectClose(functional.output, keras, 1e-5);
    } finally {
      model.dispose();
    }
  });

  it('training mode uses batch statistics, drop-path and dropout masks as the reference does', async () => {
    const noise = someNoise(graph, N, 3);
    const expected = referenceForward(graph, weights, x, N, { training: true, noise });
    const actual = await functionalForward(graph, weights, x, N, true, noise);
    expectClose(actual.output, expected.output.data);
    expect([...actual.stats.keys()].sort()).toEqual([...expected.batchStatistics.keys()].sort());
    for (const [name, s] of expected.batchStatistics) {
      expectClose(actual.stats.get(name)!.mean, s.mean);
      expectClose(actual.stats.get(name)!.variance, s.variance);
    }
    // The masks matter: without them the output changes.
    const unmasked = referenceForward(graph, weights, x, N, { training: true, noise: { joinMasks: new Map(), dropoutMasks: new Map() } });
    expect(maxAbsDiff(unmasked.output.data, expected.output.data)).toBeGreaterThan(1e-3);
  });

  it('the Keras model matches the ONNX backend for the same weights', async () => {
    const session = await createSession(exportOnnx(graph, weights));
    try {
      const onnx = await runOnnx(session, x, N);
      expectClose(await runTfjs(graph, weights, x, N, tf), onnx);
    } finally {
      await session.release();
    }
  });

  it('a join honours its drop-path mask: mean, sum and max over kept inputs, concat zeroes dropped ones', () => {
    const xs = [[1, -2], [3, 5], [-4, 7]].map((v) => tf.tensor2d([v]));
    const mask = [1, 0, 1];
    const join = (mode: JoinMode, m?: number[]) => tf.tidy(() => Array.from(ops.join(tf, xs, mode, m).dataSync()));
    expect(join('mean', mask)).toEqual([(1 - 4) / 2, (-2 + 7) / 2]);
    expect(join('sum', mask)).toEqual([1 - 4, -2 + 7]);
    expect(join('max', mask)).toEqual([1, 7]);
    expect(join('concat', mask)).toEqual([1, -2, 0, 0, -4, 7]);
    expect(join('mean')).toEqual([0, 10 / 3].map(Math.fround));
    expect(join('mean', [0, 1, 0])).toEqual([3, 5]);
    // The dropped input is not on the path at all (no gradient); the kept ones share the mean's.
    const vs = xs.map((x) => tf.variable(x));
    const { value, grads } = tf.variableGrads(() => tf.sum(ops.join(tf, vs, 'mean', mask)) as tf.Scalar, vs);
    expect(grads[vs[1].name]).toBeUndefined();
    expect([0, 2].map((i) => Array.from(grads[vs[i].name].dataSync()))).toEqual([[0.5, 0.5], [0.5, 0.5]]);
    tf.dispose([...xs, ...vs, value, ...Object.values(grads)]);
  });

  it('a binary conv summing to exactly 0 gives sign +1: the magnitude scale comes after the product', async () => {
    // Ten taps of latent 0.7: with the scale folded into the kernel, 0.7·(1+1+1−1−1−1+1−1+1−1) sums
    // to −1.2e-7 in float32 and the next sign would say −1.
    const b = new GraphBuilder({ name: 'exact_zero', input: [1, 1, 10], classes: 1 });
    const conv = b.bconv(b.input(), { filters: 1, kernel: [1, 10], padding: 'valid', kernelQuantizer: 'magnitude_aware_sign', inputQuantizer: 'ste_sign' });
    const zeroGraph = b.finish(b.sign(conv, { quantizer: 'ste_sign' }));
    const w = new Map([['bconv/kernel', new Float32Array(10).fill(0.7)]]);
    const input = Float32Array.from([1, 1, 1, -1, -1, -1, 1, -1, 1, -1]);
    expect(Array.from(await runTfjs(zeroGraph, w, input, 1, tf))).toEqual([1]);
    expect(Array.from((await functionalForward(zeroGraph, w, input, 1, true)).output)).toEqual([1]);
    const convOnly = { ...zeroGraph, output: conv.id };
    expect(Array.from(await runTfjs(convOnly, w, input, 1, tf))).toEqual([0]);
  });

  it('keeps the model output NCHW when the graph ends on a feature map', async () => {
    // A graph whose output is a map: the backend must hand it back in the graph's layout.
    const small: Graph = { ...graph, nodes: graph.nodes.slice(0, 3), output: 2 };
    const out = await runTfjs(small, weights, x, N, tf);
    expectClose(out, referenceForward(small, weights, x, N).output.data);
  });
});
