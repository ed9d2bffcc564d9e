/**
 * Exact numerics of the ONNX lowering on small graphs: hand-computed values where they are short enough
 * to state, and the naive reference interpreter (./reference.ts) for every node kind otherwise.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Tensor } from '../../src/graph/builder.js';
import type { Graph, JoinMode, WeightMap } from '../../src/graph/types.js';
import { initWeights } from '../../src/weights/init.js';
import { maxDiff, referenceOutputs } from '../helpers/reference.js';
import { busyWeights, randomInput, runExported } from './util.js';

const size = (g: Graph) => g.input.reduce((a, b) => a * b, 1);

function expectClose(actual: Float32Array, expected: ArrayLike<number>, relative = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  const { diff, scale } = maxDiff(actual, expected);
  expect(diff).toBeLessThanOrEqual(relative * Math.max(1, scale));
}

async function againstReference(graph: Graph, weights: WeightMap, n = 2, seed = 7): Promise<Float32Array> {
  const x = randomInput(n * size(graph), seed);
  const actual = await runExported(graph, weights, x, n);
  expectClose(actual, referenceOutputs(graph, weights, x, n));
  return actual;
}

describe('sign', () => {
  it('maps 0 and −0 to +1 and keeps the sign of tiny values (ONNX Sign alone would give 0)', async () => {
    const b = new GraphBuilder({ name: 'sign', input: [1, 1, 6], classes: 6 });
    const g = b.finish(b.flatten(b.sign(b.input(), { quantizer: 'ste_sign' })));
    const x = Float32Array.of(0, -0, 1e-30, -1e-30, 2.5, -7);
    const y = await runExported(g, new Map(), x, 1);
    expect(Array.from(y)).toEqual([1, 1, 1, -1, 1, -1]);
  });
});

describe('binary conv', () => {
  // Input signs [[1,−1,1],[−1,1,−1],[1,1,−1]] (0 → +1); kernel signs [[1,−1,1],[1,−1,1],[−1,1,1]];
  // s = mean|W| = 3.2 / 9. Zero padding after quantization: the corner sees 4 cells, e.g.
  // (0,0) = x00·w11 + x01·w12 + x10·w21 + x11·w22 = −1 − 1 − 1 + 1 = −2; the centre sees all 9: 3 − 3 − 1 = −1.
  const x = Float32Array.of(0.5, -1, 0, -2, 3, -0.1, 1, 1, -1);
  const kernel = Float32Array.of(0.5, -0.5, 0, 0.1, -0.2, 0.3, -1, 0.4, 0.2);
  const sums = [-2, 4, -4, 2, -1, -2, 2, -4, 4];

  function oneConv(weightQuantizer: string): { graph: Graph; weights: WeightMap } {
    const b = new GraphBuilder({ name: 'bconv', input: [1, 3, 3], classes: 9, binarize: { activations: 'ste_sign', weights: weightQuantizer } });
    const graph = b.finish(b.flatten(b.bconv(b.input(), { filters: 1, kernel: 3, padding: 'same' })));
    return { graph, weights: new Map([['bconv/kernel', kernel]]) };
  }

  it('computes on ±1 inputs and ±1 weights with magnitude-aware scaling, zero padding after the sign', async () => {
    const { graph, weights } = oneConv('magnitude_aware_sign');
    const y = await runExported(graph, weights, x, 1);
    expectClose(y, sums.map((s) => (s * 3.2) / 9), 1e-6);
  });

  it('is an exact integer sum with ste_sign weights, in the float and the integer variants', async () => {
    const { graph, weights } = oneConv('ste_sign');
    expect(Array.from(await runExported(graph, weights, x, 1))).toEqual(sums);
    expect(Array.from(await runExported(graph, weights, x, 1, { integer: true }))).toEqual(sums);
    expect(Array.from(await runExported(graph, weights, x, 1, { packBits: false }))).toEqual(sums);
  });

  it('handles stride, asymmetric same-padding, dilation, groups, bias and BN like the reference', async () => {
    const b = new GraphBuilder({ name: 'convs', input: [4, 9, 9], classes: 6 * 25 + 2 * 9, binarize: { activations: 'approx_sign', weights: 'magnitude_aware_sign' } });
    let t: Tensor = b.bconv(b.input(), { name: 'strided', filters: 4, kernel: 3, stride: 2, padding: 'same' }); // pads [1,1,1,1] on 9×9
    t = b.batchnorm(t);
    const grouped = b.bconv(t, { name: 'grouped', filters: 6, kernel: 3, dilation: 2, groups: 2, padding: 'same', bias: true });
    t = b.bconv(grouped, { name: 'even', filters: 4, kernel: 2, stride: 2, padding: 'same', kernelQuantizer: 'ste_sign' }); // pads [0,0,1,1]
    t = b.conv(t, { name: 'real', filters: 2, kernel: 3, padding: 1, bias: true });
    const g = b.finish(b.concat([b.flatten(grouped), b.flatten(t)]));
    expect(b.diagnostics).toEqual([]);
    expect(g.nodes.find((n) => n.name === 'even')!.attrs).toMatchObject({ pads: [0, 0, 1, 1] });
    await againstReference(g, busyWeights(g, 3));
  });
});

describe('exactness under onnxruntime optimisations', () => {
  // A binary conv over 8 channels × 3×3 sums 72 values ±1 (a border cell 48, a corner 32): often exactly
  // 0. With BN statistics at their initial values (μ = 0, β = 0) the next sign must see that exact 0
  // and give +1. If the runtime folded γ/σ into the ±1 kernel, the sum would be ±1e−7 and flip.
  for (const weightQuantizer of ['ste_sign', 'magnitude_aware_sign']) {
    it(`keeps sign(0) = +1 after a ${weightQuantizer} conv + BN with every optimisation on`, async () => {
      const b = new GraphBuilder({ name: 'ties', input: [8, 6, 6], classes: 8 * 36 + 8, binarize: { activations: 'ste_sign', weights: weightQuantizer } });
      const conv = b.bconv(b.input(), { filters: 8, kernel: 3 });
      const signs = b.sign(b.batchnorm(conv, { epsilon: 1e-3 }));
      const dense = b.bdense(b.flatten(signs), { units: 4 });
      const g = b.finish(b.concat([b.flatten(signs), b.flatten(b.sign(b.batchnorm(b.denseShortcut(dense, (z) => z))))]));
      const weights = initWeights(g, 2);
      for (const node of g.nodes) if (node.op === 'batchnorm') weights.set(`${node.name}/gamma`, Float32Array.from({ length: node.shape[0] }, (_, i) => 0.7 + 0.13 * i));
      const x = randomInput(4 * 8 * 36, 13);
      const expected = referenceOutputs(g, weights, x, 4);
      const actual = await runExported(g, weights, x, 4, {}, { optimization: 'all' });
      const zeros = referenceOutputs(b.finish(conv), weights, x, 4).filter((v) => v === 0).length;
      expect(zeros).toBeGreaterThan(20); // the test means something only with many exact ties
      expect(Array.from(actual)).toEqual(Array.from(expected));
    });
  }
});

describe('joins and shortcuts', () => {
  /** A fractal of 3 columns whose unit is an affine 1×1 conv: order-sensitive, so a mis-wired column shows. */
  function fractal(mode: JoinMode): { graph: Graph; units: Map<number, string[]> } {
    const b = new GraphBuilder({ name: `fractal_${mode}`, input: [1, 2, 2], classes: mode === 'concat' ? 12 : 4 });
    const units = new Map<number, string[]>();
    const y = b.fractal(b.input(), { columns: 3, join: mode }, (z, column) => {
      const out = b.conv(z, { filters: 1, kernel: 1, bias: true });
      units.set(column, [...(units.get(column) ?? []), b.finish(out).nodes[out.id].name]);
      return out;
    });
    return { graph: b.finish(b.flatten(y)), units };
  }

  for (const mode of ['mean', 'sum', 'max'] as const) {
    it(`computes a ${mode} join of a 3-column fractal as FractalNet's expansion rule says`, async () => {
      const { graph, units } = fractal(mode);
      // Units by column in the order they were built: column 3 holds 4, column 2 holds 2, column 1 one.
      expect([1, 2, 3].map((c) => units.get(c)!.length)).toEqual([1, 2, 4]);
      const weights: WeightMap = new Map();
      const affine = new Map<string, [number, number]>();
      [...units.values()].flat().forEach((name, i) => {
        const k = 0.5 + 0.25 * i;
        const bias = i % 2 ? -0.3 * i : 0.2 * i;
        affine.set(name, [k, bias]);
        weights.set(`${name}/kernel`, Float32Array.of(k));
        weights.set(`${name}/bias`, Float32Array.of(bias));
      });
      const u = (column: number, i: number) => (v: number) => {
        const [k, bias] = affine.get(units.get(column)![i])!;
        return k * v + bias;
      };
      const join = { mean: (vs: number[]) => vs.reduce((a, c) => a + c) / vs.length, sum: (vs: number[]) => vs.reduce((a, c) => a + c), max: (vs: number[]) => Math.max(...vs) }[mode];
      // f₂(z) = join(u3(u3(z)), u2(z)); f₃(z) = join(f₂-deep(f₂(z)), u1(z)), the last join with 3 inputs.
      const expected = (z: number) => {
        const inner = join([u(3, 1)(u(3, 0)(z)), u(2, 0)(z)]);
        return join([u(3, 3)(u(3, 2)(inner)), u(2, 1)(inner), u(1, 0)(z)]);
      };
      const x = Float32Array.of(1, -2, 0.5, 3);
      const y = await runExported(graph, weights, x, 1);
      expectClose(y, Array.from(x, expected), 1e-6);
    });
  }

  it('concatenates a dense shortcut: the block input, then its output, along channels', async () => {
    const b = new GraphBuilder({ name: 'dense_shortcut', input: [2, 2, 2], classes: 16 });
    const y = b.denseShortcut(b.input(), (z) => b.conv(z, { filters: 2, kernel: 1 }));
    const graph = b.finish(b.flatten(y));
    // A 1×1 kernel [[1, 2], [−1, 0.5]]: out0 = x0 + 2·x1, out1 = −x0 + 0.5·x1.
    const weights: WeightMap = new Map([['conv/kernel', Float32Array.of(1, 2, -1, 0.5)]]);
    const x = Float32Array.of(1, 2, 3, 4, -1, 0, 0.5, 2);
    const x0 = [1, 2, 3, 4];
    const x1 = [-1, 0, 0.5, 2];
    const expected = [...x0, ...x1, ...x0.map((v, i) => v + 2 * x1[i]), ...x0.map((v, i) => -v + 0.5 * x1[i])];
    expectClose(await runExported(graph, weights, x, 1), expected, 1e-6);
  });

  it('lowers a concat join, residual add, and max join over binary inputs like the reference', async () => {
    const b = new GraphBuilder({ name: 'mixed', input: [2, 4, 4], classes: 3, binarize: { activations: 'ste_sign', weights: 'magnitude_aware_sign' } });
    let t = b.residual(b.input(), (z) => b.batchnorm(b.bconv(z, { filters: 2, kernel: 3 })));
    t = b.fractal(t, { columns: 2, join: 'concat' }, (z) => b.batchnorm(b.bconv(z, { filters: 2, kernel: 3 })));
    t = b.fractal(b.sign(t), { columns: 2, join: 'max', scope: 'maxfractal' }, (z) => b.maxpool(z, { kernel: 3, stride: 1, padding: 'same' }));
    const g = b.finish(b.dense(b.globalAvgpool(t), { units: 3 }));
    expect(b.diagnostics).toEqual([]);
    await againstReference(g, busyWeights(g, 5));
  });
});

describe('every other node kind', () => {
  it('pools with pads that never win a max and never count in a mean', async () => {
    const b = new GraphBuilder({ name: 'pools', input: [2, 5, 5], classes: 2 * 9 + 2 * 9 });
    const m = b.flatten(b.maxpool(b.input(), { kernel: 3, stride: 2, padding: 'same' }));
    const a = b.flatten(b.avgpool(b.input(), { kernel: 3, stride: 2, padding: 'same' }));
    const graph = b.finish(b.concat([m, a]));
    // All inputs negative: a zero pad winning the max or joining the mean would show.
    const x = Float32Array.from({ length: 50 }, (_, i) => -1 - i);
    const y = await runExported(graph, new Map(), x, 1);
    expectClose(y, referenceOutputs(graph, new Map(), x, 1), 1e-6);
    expect(y[0]).toBe(-1); // top-left window covers x[0..1, 0..1] only: max −1
    expect(y[18]).toBeCloseTo((-1 - 2 - 6 - 7) / 4, 6); // and its mean over 4 real cells
  });

  it('lowers BN (moving statistics), PReLU, hardtanh, ReLU, dropout, flatten, float and binary dense', async () => {
    const b = new GraphBuilder({ name: 'misc', input: [3, 4, 4], classes: 5, binarize: { activations: 'swish_sign', weights: 'magnitude_aware_sign' } });
    let t = b.prelu(b.batchnorm(b.conv(b.input(), { filters: 4, kernel: 3, bias: true })));
    t = b.dropout(b.hardtanh(t, { min: -0.5, max: 0.75 }), { rate: 0.3 });
    const v = b.relu(b.batchnorm(b.flatten(t)));
    const h = b.prelu(b.batchnorm(b.bdense(v, { units: 7, bias: true })));
    const g = b.finish(b.dense(b.bdense(h, { units: 5, kernelQuantizer: 'ste_sign' }), { units: 5 }));
    expect(b.diagnostics).toEqual([]);
    await againstReference(g, busyWeights(g, 11), 3);
  });
});
