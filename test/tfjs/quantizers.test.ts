/**
 * Each quantizer's forward value and gradient against the formulas of docs/semantics.md (Larq's
 * definitions), evaluated in the test at chosen points: 0, the ±clip boundaries and either side of them.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { clipKernel, magnitudeScale, quantize, sign, TFJS_QUANTIZERS } from '../../backends/tfjs/quantizers.js';
import { QUANTIZERS, quantizerDef, resolveQuantizer, type QuantizerName } from '../../src/quantizers.js';
import type { QuantizerRef } from '../../src/graph/types.js';

const ref = (name: QuantizerName, args: Record<string, number> = {}): QuantizerRef => {
  const r = resolveQuantizer(name, args, quantizerDef(name).uses[0]);
  if (!r.ok) throw new Error(r.message);
  return r.ref;
};

/** Forward values and the gradient of Σ dy·q(x) with respect to x. */
function valueAndGrad(q: QuantizerRef, x: number[], dy: number[], outputAxis?: number, shape = [x.length]) {
  const input = tf.tensor(x, shape);
  const upstream = tf.tensor(dy, shape);
  const f = (t: tf.Tensor) => tf.sum(tf.mul(quantize(tf, t, q, { outputAxis }), upstream));
  const value = tf.tidy(() => quantize(tf, input, q, { outputAxis }));
  const grad = tf.grad(f)(input);
  const out = { value: Array.from(value.dataSync()), grad: Array.from(grad.dataSync()) };
  tf.dispose([input, upstream, value, grad]);
  return out;
}

const signOf = (x: number) => (x >= 0 ? 1 : -1);
const closeTo = (actual: number[], expected: number[], tolerance = 1e-6) => {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]), `index ${i}: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(expected[i]))));
};

// Points exactly representable in float32 around the interesting places.
const POINTS = [-3, -1.5, -1.3, -1, -0.75, -0.5, -0.25, -0.125, 0, 0.125, 0.25, 0.5, 0.75, 1, 1.25, 1.3, 2, 40];
const DY = POINTS.map((_, i) => 0.5 + (i % 5) * 0.25);

describe('tfjs quantizers', () => {
  it('implements every quantizer of the registry, and nothing else', () => {
    expect(Object.keys(TFJS_QUANTIZERS).sort()).toEqual(Object.keys(QUANTIZERS).sort());
  });

  it('sign(0) = +1 and sign is ±1 elsewhere', () => {
    const s = tf.tidy(() => Array.from(sign(tf, tf.tensor([-2, -1e-30, -0, 0, 1e-30, 3])).dataSync()));
    expect(s).toEqual([-1, -1, 1, 1, 1, 1]);
  });

  for (const clip of [1, 1.3]) {
    it(`ste_sign(clip=${clip}): sign forward, dy·1{|x| ≤ clip} backward (boundary included)`, () => {
      const x = POINTS.map((p) => Math.fround(p));
      const { value, grad } = valueAndGrad(ref('ste_sign', { clip }), x, DY);
      expect(value).toEqual(x.map(signOf));
      closeTo(grad, x.map((v, i) => (Math.abs(v) <= Math.fround(clip) ? DY[i] : 0)));
    });
  }

  it('approx_sign: sign forward, dy·max(0, 2 − 2|x|) backward', () => {
    const { value, grad } = valueAndGrad(ref('approx_sign'), POINTS, DY);
    expect(value).toEqual(POINTS.map(signOf));
    closeTo(grad, POINTS.map((v, i) => DY[i] * Math.max(0, 2 - 2 * Math.abs(v))));
    // Spot values of the Bi-Real derivative: 2 at 0, 1 at ±0.5, 0 from |x| = 1 on.
    expect(grad[POINTS.indexOf(0)]).toBeCloseTo(2 * DY[POINTS.indexOf(0)], 6);
    expect(grad[POINTS.indexOf(1)]).toBe(0);
  });

  for (const beta of [5, 2]) {
    it(`swish_sign(beta=${beta}): sign forward, dy·β(2 − βx·tanh(βx/2))/(1 + cosh βx) backward`, () => {
      const { value, grad } = valueAndGrad(ref('swish_sign', { beta }), POINTS, DY);
      expect(value).toEqual(POINTS.map(signOf));
      const formula = (x: number) => (beta * (2 - beta * x * Math.tanh((beta * x) / 2))) / (1 + Math.cosh(beta * x));
      closeTo(grad, POINTS.map((v, i) => DY[i] * formula(v)), 1e-5);
      expect(grad[POINTS.indexOf(0)]).toBeCloseTo(DY[POINTS.indexOf(0)] * beta, 5); // β at 0
      expect(Number.isFinite(grad[POINTS.indexOf(40)])).toBe(true); // cosh overflows; no NaN
    });
  }

  it('magnitude_aware_sign: mean|W| per output channel × sign(W), gradient dy·s·1{|W| ≤ clip}', () => {
    // A conv kernel in the graph's OIHW layout: output channel on axis 0; 2 × 1 × 2 × 2.
    const w = [0.5, -1.5, 0, 0.25, /* channel 1 */ -0.75, 1, -1, 2];
    const dy = [1, 2, 3, 4, 5, 6, 7, 8];
    const scales = [(0.5 + 1.5 + 0 + 0.25) / 4, (0.75 + 1 + 1 + 2) / 4];
    const { value, grad } = valueAndGrad(ref('magnitude_aware_sign'), w, dy, 0, [2, 1, 2, 2]);
    closeTo(value, w.map((v, i) => scales[Math.floor(i / 4)] * signOf(v)));
    closeTo(grad, w.map((v, i) => (Math.abs(v) <= 1 ? dy[i] * scales[Math.floor(i / 4)] : 0)));
  });

  it('magnitude_aware_sign takes the output axis it is given (HWIO: last; dense [in, out]: 1)', () => {
    const w = [1, -2, 3, -4, 0.5, -0.25]; // [in = 3, out = 2]
    const col0 = (1 + 3 + 0.5) / 3;
    const col1 = (2 + 4 + 0.25) / 3;
    const { value } = valueAndGrad(ref('magnitude_aware_sign', { clip: 2 }), w, [1, 1, 1, 1, 1, 1], 1, [3, 2]);
    closeTo(value, [col0, -col1, col0, -col1, col0, -col1]);
    const s = tf.tidy(() => Array.from(magnitudeScale(tf, tf.tensor(w, [3, 2]), 1).dataSync()));
    closeTo(s, [col0, col1]);
  });

  it('the magnitude-aware scale is held constant: no gradient flows through it', () => {
    // With dy = 1 everywhere, d/dW Σ s·sign(W) would include ∂s/∂W = sign(W)/count if s were differentiated.
    const w = [0.5, -0.25, 0.75, -0.125];
    const { grad } = valueAndGrad(ref('magnitude_aware_sign'), w, [1, 1, 1, 1], 0, [1, 4]);
    const s = (0.5 + 0.25 + 0.75 + 0.125) / 4;
    closeTo(grad, [s, s, s, s]);
  });

  it('magnitude_aware_sign_unclipped: one mean|W| for the whole kernel × sign(W), identity gradient (no clip, no scale)', () => {
    const w = [0.5, -1.5, 0, 0.25, /* channel 1 */ -0.75, 1, -1, 2];
    const dy = [1, 2, 3, 4, 5, 6, 7, 8];
    const s = (0.5 + 1.5 + 0 + 0.25 + 0.75 + 1 + 1 + 2) / 8;
    const { value, grad } = valueAndGrad(ref('magnitude_aware_sign_unclipped'), w, dy, 0, [2, 1, 2, 2]);
    closeTo(value, w.map((v) => s * signOf(v)));
    closeTo(grad, dy); // |W| > 1 included: nothing is clipped
  });

  it('xnor_weight_scale: mean|clip(W)| per output channel × sign(W), gradient through the scale as well', () => {
    // OIHW 2 × 1 × 2 × 2: channel 0 holds a 0 (sgn 0) and a −1.5 (clipped to −1, outside the window).
    const w = [0.5, -1.5, 0, 0.25, /* channel 1 */ -0.75, 1, -1, 0.125];
    const dy = [1, -2, 3, 4, 5, 6, -7, 8];
    const n = 4;
    const channel = (i: number) => Math.floor(i / n);
    const clipped = w.map((v) => Math.min(1, Math.max(-1, v)));
    const alpha = [0, 1].map((o) => clipped.slice(o * n, o * n + n).reduce((a, v) => a + Math.abs(v), 0) / n);
    const { value, grad } = valueAndGrad(ref('xnor_weight_scale'), w, dy, 0, [2, 1, 2, 2]);
    closeTo(value, w.map((v, i) => alpha[channel(i)] * signOf(v)));
    // 1{|W| ≤ 1} · (α_o dy + sgn(W)/n · Σ_{j∈o} dy_j sign(W_j)), sgn(0) = 0 (docs/semantics.md).
    const through = [0, 1].map((o) => w.slice(o * n, o * n + n).reduce((a, v, j) => a + dy[o * n + j] * signOf(v), 0));
    const expected = w.map((v, i) => (Math.abs(v) <= 1 ? alpha[channel(i)] * dy[i] + (Math.sign(v) / n) * through[channel(i)] : 0));
    closeTo(grad, expected);
    expect(grad[2]).toBeCloseTo(alpha[0] * dy[2], 6); // W = 0: no term through the scale
    expect(Math.abs(grad[1])).toBe(0); // |−1.5| > 1
    // The scale's term is real: holding the scale constant would give α_o dy alone.
    expect(Math.abs(grad[0] - alpha[0] * dy[0])).toBeGreaterThan(0.1);
  });

  for (const clip of [1, 1.3]) {
    it(`ste_heaviside(clip=${clip}): 1 if x > 0 else 0 (0 at 0), gradient dy·1{|x| ≤ clip}`, () => {
      const x = POINTS.map((p) => Math.fround(p));
      const { value, grad } = valueAndGrad(ref('ste_heaviside', { clip }), x, DY);
      expect(value).toEqual(x.map((v) => (v > 0 ? 1 : 0)));
      expect(value[POINTS.indexOf(0)]).toBe(0);
      closeTo(grad, x.map((v, i) => (Math.abs(v) <= Math.fround(clip) ? DY[i] : 0)));
    });
  }

  /** round(clip(x, 0, 1)·n)/n in float64, ties to even (x·n is exact in float64 for float32 x and small n). */
  const dorefaOf = (x: number, k: number) => {
    const n = 2 ** k - 1;
    const t = Math.min(1, Math.max(0, x)) * n;
    const f = Math.floor(t);
    const r = t - f < 0.5 ? f : t - f > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
    return Math.fround(r / n);
  };

  for (const k of [1, 2, 4]) {
    it(`dorefa(k_bit=${k}): round(clip(x, 0, 1)·n)/n with ties to even, gradient dy·1{0 ≤ x ≤ 1}`, () => {
      const n = 2 ** k - 1;
      // The points, the exact ties (m + 1/2)/n (representable for these n only where exact) and 0.5.
      const ties = Array.from({ length: n }, (_, m) => (m + 0.5) / n).filter((t) => Math.fround(t) === t);
      const x = [...POINTS, ...ties, 0.5].map((p) => Math.fround(p));
      const dy = x.map((_, i) => 0.5 + (i % 5) * 0.25);
      const { value, grad } = valueAndGrad(ref('dorefa', { k_bit: k }), x, dy);
      expect(value).toEqual(x.map((v) => dorefaOf(v, k)));
      closeTo(grad, x.map((v, i) => (v >= 0 && v <= 1 ? dy[i] : 0)));
    });
  }

  it('dorefa rounds the exact product x·n, not its float32 rounding, where that lands on a tie', () => {
    // float32 neighbours of (m + ½)/n whose product x·n rounds to exactly m + ½ in float32 while the
    // exact product lies above or below it: round(fl(x·n)) would go to the even side, wrongly.
    const cases: { x: number; k: number }[] = [];
    const bits = new Float32Array(1);
    const word = new Uint32Array(bits.buffer);
    for (const k of [2, 3, 4]) {
      const n = 2 ** k - 1;
      for (let m = 0; m < n; m++)
        for (let d = -3; d <= 3; d++) {
          bits[0] = (m + 0.5) / n;
          word[0] += d;
          const x = bits[0];
          const exact = x * n; // exact in float64
          if (Math.fround(exact) === m + 0.5 && exact !== m + 0.5 && Math.round(exact) !== (m % 2 === 0 ? m : m + 1)) cases.push({ x, k });
        }
    }
    // Both directions occur: exact above a tie with an even floor (fl would round down), below one with an odd floor.
    expect(cases.some(({ x, k }) => x * (2 ** k - 1) > Math.floor(x * (2 ** k - 1)) + 0.5)).toBe(true);
    expect(cases.some(({ x, k }) => x * (2 ** k - 1) < Math.floor(x * (2 ** k - 1)) + 0.5)).toBe(true);
    for (const { x, k } of cases) {
      const { value } = valueAndGrad(ref('dorefa', { k_bit: k }), [x], [1]);
      expect(value[0], `x = ${x}, k = ${k}`).toBe(dorefaOf(x, k));
      const naive = tf.tidy(() => tf.div(tf.round(tf.mul(tf.scalar(x), 2 ** k - 1)), 2 ** k - 1).dataSync()[0]);
      expect(naive, `tf.round alone differs at x = ${x}`).not.toBe(value[0]);
    }
  });

  it('clipKernel clips latent weights to [−clip, clip]', () => {
    const clipped = tf.tidy(() => Array.from(clipKernel(tf, tf.tensor([-3, -1.3, -0.2, 0, 1.29, 1.31, 5]), 1.3).dataSync()));
    closeTo(clipped, [-1.3, -1.3, -0.2, 0, 1.29, 1.3, 1.3]);
  });
});
