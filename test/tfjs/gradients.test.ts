/**
 * `gradients` (the reference other training engines are checked against): finite differences of the
 * float64 reference loss on a real-valued graph with every layer kind (batch statistics, drop-path and
 * dropout masks included), the straight-through chain written out by hand for binary layers, and
 * zero gradients on dropped paths.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { gradients } from '../../backends/tfjs/index.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { Random } from '../../src/random.js';
import { graphParams, initWeights } from '../../src/weights/init.js';
import { busyWeights, everyOpGraph, noNoise, normalValues, someNoise } from './graphs.js';
import { referenceForward, referenceLoss } from '../helpers/reference.js';
import { nudged } from '../helpers/finite-differences.js';

const N = 3;

describe('tfjs gradients', () => {
  it('match finite differences of the float64 reference loss (training mode, masks, every layer kind)', async () => {
    const graph = everyOpGraph(false);
    const weights = busyWeights(graph, 5);
    const x = normalValues(N * 2 * 8 * 8, 6);
    const y = Int32Array.from([0, 2, 1]);
    const noise = someNoise(graph, N, 9);
    const grads = await gradients(graph, weights, { x, y, n: N }, noise, tf);

    const trainable = graphParams(graph).filter((p) => p.trainable);
    expect([...grads.keys()].sort()).toEqual(trainable.map((p) => p.name).sort());

    const w64 = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
    const loss = () => referenceLoss(referenceForward(graph, w64, x, N, { training: true, noise }).output, y);
    const h = 1e-5;
    const rng = new Random(1, 'fd-entries');
    let checked = 0;
    for (const p of trainable) {
      const g = grads.get(p.name)!;
      expect(g.length).toBe(p.shape.reduce((a, b) => a * b, 1));
      const values = w64.get(p.name)!;
      // Three entries per parameter, chosen at random but fixed by the seed.
      for (let k = 0; k < 3; k++) {
        const i = rng.int(values.length);
        const { up, down } = nudged(values, i, h, loss);
        const numeric = (up - down) / (2 * h);
        expect(Math.abs(g[i] - numeric), `${p.name}[${i}]: tfjs ${g[i]} vs finite difference ${numeric}`).toBeLessThanOrEqual(2e-4 + 2e-3 * Math.abs(numeric));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  for (const weightQuantizer of ['ste_sign', 'magnitude_aware_sign', 'magnitude_aware_sign_unclipped', 'xnor_weight_scale'] as const) {
    it(`follow the straight-through chain through approx_sign and a ${weightQuantizer} dense kernel`, async () => {
      // x → dense (real) → approx_sign → binary dense → logits, all written out by hand below.
      const b = new GraphBuilder({ name: 'ste_chain', input: [1, 2, 2], classes: 2 });
      const h = b.dense(b.flatten(b.input()), { name: 'real', units: 3 });
      const q = b.sign(h, { quantizer: 'approx_sign' });
      const graph = b.finish(b.bdense(q, { name: 'binary', units: 2, kernelQuantizer: weightQuantizer }));
      const weights = initWeights(graph, 3);
      const w1 = weights.get('real/kernel')!; // [4, 3]
      const b1 = weights.get('real/bias')!;
      const w2 = weights.get('binary/kernel')!; // [3, 2]
      w2.set([0.5, -1.5, -0.25, 0.75, 1.25, -0.5]); // two entries beyond the clip of 1
      const x = normalValues(N * 4, 2);
      const y = Int32Array.from([1, 0, 1]);
      const grads = await gradients(graph, weights, { x, y, n: N }, noNoise(), tf);

      const sign = (v: number) => (v >= 0 ? 1 : -1);
      // Per output channel o: mean |W[·, o]| (magnitude_aware_sign), of clip(W, −1, 1) (xnor_weight_scale),
      // or one mean over the whole kernel (magnitude_aware_sign_unclipped).
      const clipped = Array.from(w2, (v) => Math.min(1, Math.max(-1, v)));
      const columnMean = (values: number[], o: number) => [0, 1, 2].reduce((s, i) => s + Math.abs(values[i * 2 + o]), 0) / 3;
      const scale = [0, 1].map((o) =>
        ({
          ste_sign: 1,
          magnitude_aware_sign: columnMean(Array.from(w2), o),
          magnitude_aware_sign_unclipped: w2.reduce((s, v) => s + Math.abs(v), 0) / 6,
          xnor_weight_scale: columnMean(clipped, o),
        })[weightQuantizer],
      );
      const w2q = Array.from(w2, (v, i) => scale[i % 2] * sign(v));
      const gW1 = new Float64Array(12);
      const gB1 = new Float64Array(3);
      const gW2q = new Float64Array(6);
      for (let s = 0; s < N; s++) {
        const hs = [0, 1, 2].map((j) => b1[j] + [0, 1, 2, 3].reduce((acc, i) => acc + x[s * 4 + i] * w1[i * 3 + j], 0));
        const qs = hs.map(sign);
        const logits = [0, 1].map((o) => [0, 1, 2].reduce((acc, j) => acc + qs[j] * w2q[j * 2 + o], 0));
        const max = Math.max(...logits);
        const exp = logits.map((l) => Math.exp(l - max));
        const dLogits = exp.map((e, o) => (e / (exp[0] + exp[1]) - (o === y[s] ? 1 : 0)) / N);
        for (let j = 0; j < 3; j++) {
          for (let o = 0; o < 2; o++) gW2q[j * 2 + o] += qs[j] * dLogits[o];
          const dq = dLogits[0] * w2q[j * 2] + dLogits[1] * w2q[j * 2 + 1];
          const dh = dq * Math.max(0, 2 - 2 * Math.abs(hs[j])); // approx_sign
          gB1[j] += dh;
          for (let i = 0; i < 4; i++) gW1[i * 3 + j] += x[s * 4 + i] * dh;
        }
      }
      // To the latent kernel (docs/semantics.md): the window 1{|W| ≤ 1} times the constant scale; the
      // identity for the unclipped layer scale; XNOR-Net's scale adds sgn(W)/n · Σ_{j∈o} dy_j sign(W_j).
      const through = [0, 1].map((o) => [0, 1, 2].reduce((s, j) => s + gW2q[j * 2 + o] * sign(w2[j * 2 + o]), 0));
      const gW2 = Array.from(gW2q, (g, i) => {
        if (weightQuantizer === 'magnitude_aware_sign_unclipped') return g;
        if (Math.abs(w2[i]) > 1) return 0;
        return g * scale[i % 2] + (weightQuantizer === 'xnor_weight_scale' ? (Math.sign(w2[i]) / 3) * through[i % 2] : 0);
      });
      const close = (actual: Float32Array, expected: ArrayLike<number>) =>
        Array.from(expected).forEach((e, i) => expect(actual[i]).toBeCloseTo(e, 5));
      close(grads.get('binary/kernel')!, gW2);
      if (weightQuantizer !== 'magnitude_aware_sign_unclipped') expect(grads.get('binary/kernel')![1]).toBe(0); // |−1.5| > clip
      close(grads.get('real/kernel')!, gW1);
      close(grads.get('real/bias')!, gB1);
    });
  }

  it('are exactly zero for parameters on dropped paths only, and leave no tensors behind', async () => {
    const b = new GraphBuilder({ name: 'paths', input: [1, 4, 4], classes: 2 });
    const f = b.fractal(b.input(), { columns: 2, dropPath: 0.5 }, (z) => b.conv(z, { filters: 2, kernel: 3 }));
    const graph = b.finish(b.dense(b.globalAvgpool(f), { units: 2 }));
    const join = graph.nodes.find((n) => n.op === 'join')!;
    const weights = initWeights(graph, 4);
    const x = normalValues(2 * 16, 8);
    const batch = { x, y: Int32Array.from([0, 1]), n: 2 };
    const keepShallow = Float32Array.from(join.attrs.columns, (c) => (c === 1 ? 1 : 0));
    const noise = { joinMasks: new Map([[join.name, keepShallow]]), dropoutMasks: new Map() };
    const before = tf.memory().numTensors;
    const grads = await gradients(graph, weights, batch, noise, tf);
    expect(tf.memory().numTensors).toBe(before);
    for (const [name, g] of grads) {
      const deep = name.startsWith('fractal/col2');
      expect(g.every((v) => v === 0), `${name} ${deep ? 'dropped' : 'kept'}`).toBe(deep);
    }
  });
});
