/**
 * The scalar JavaScript reference of the kernels added for today's binary nets (native/include/sofar_kernels.h,
 * "Added"), and the suite that checks a kernel set against it: the direct depthwise conv (swept shapes, odd
 * channel counts, strides, asymmetric pads, dilation, residual, relu, output strides) and the element-wise
 * sigmoid, round, division, product, per-sample channel scaling, channel slice and channel padding.
 * The depthwise conv is exact: the header fixes its float32 operations (mul, then add, taps in order).
 */
import { expect } from 'vitest';

import {
  describeShape, expectFloatsExact, Mem, outSize, Plan, SENTINEL,
  type ArenaFactory, type Config, type ConvShape, type KernelApi, type Rng,
} from './kernels-reference.js';

const fround = Math.fround;

/** Depthwise conv, weights [kh][kw][c], in the header's order of float32 operations. */
export function refDepthwise(s: ConvShape, x: Float32Array, w: Float32Array, bias: Float32Array | null, res: Float32Array | null, ys: number, relu: boolean, y: Float32Array): void {
  const { ho, wo } = outSize(s);
  const c = s.cin;
  for (let b = 0; b < s.n; b++)
    for (let oh = 0; oh < ho; oh++)
      for (let ow = 0; ow < wo; ow++) {
        const p = (b * ho + oh) * wo + ow;
        for (let q = 0; q < c; q++) {
          let acc = 0;
          for (let i = 0; i < s.kh; i++)
            for (let j = 0; j < s.kw; j++) {
              const ih = oh * s.sh - s.pt + i * s.dh;
              const iw = ow * s.sw - s.pl + j * s.dw;
              if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
              acc = fround(acc + fround(x[((b * s.h + ih) * s.w + iw) * c + q] * w[(i * s.kw + j) * c + q]));
            }
          if (bias) acc = fround(acc + bias[q]);
          if (res) acc = fround(acc + res[p * ys + q]);
          if (relu) acc = acc > 0 ? acc : 0;
          y[p * ys + q] = acc;
        }
      }
}

export function checkDepthwise(api: KernelApi, arena: ArenaFactory, configs: Config[], rng: Rng, cases: number): void {
  for (let t = 0; t < cases; t++) {
    const c = t === 0 ? 32 : t === 1 ? 3 : rng.pick([2, 3, 4, 7, 8, 15, 16, 17, 24, 31, 33, 48, 64, 65, 100, 130]);
    const kh = t === 0 ? 3 : 1 + rng.int(5);
    const kw = t === 0 ? 3 : 1 + rng.int(5);
    const dh = rng.int(4) === 0 ? 2 : 1;
    const dw = rng.int(4) === 0 ? 2 : 1;
    const s: ConvShape = {
      n: 1 + rng.int(2), h: 1 + rng.int(9) + dh * (kh - 1), w: 1 + rng.int(9) + dw * (kw - 1), cin: c, cout: c, kh, kw,
      sh: 1 + rng.int(2), sw: 1 + rng.int(2), pt: rng.int(kh), pl: rng.int(kw), pb: rng.int(kh), pr: rng.int(kw), dh, dw, groups: c,
    };
    const { pixels } = outSize(s);
    const yStride = rng.int(2) ? 0 : c + 1 + rng.int(4);
    const ys = yStride || c;
    const useBias = rng.int(3) !== 0;
    const useRes = rng.int(2) === 1;
    const relu = rng.int(2) === 1;
    const x = Float32Array.from({ length: s.n * s.h * s.w * c }, () => rng.float());
    const w = Float32Array.from({ length: kh * kw * c }, () => rng.float());
    const bias = Float32Array.from({ length: c }, () => rng.float());
    const yext = (pixels - 1) * ys + c;
    const res = Float32Array.from({ length: yext }, () => rng.float());
    const want = new Float32Array(yext).fill(SENTINEL);
    refDepthwise(s, x, w, useBias ? bias : null, useRes ? res : null, ys, relu, want);
    const plan = new Plan();
    const o = { x: plan.alloc(x.length * 4, 4, 4), w: plan.alloc(w.length * 4, 4, 4), b: plan.alloc(c * 4), r: plan.alloc(yext * 4), y: plan.alloc(yext * 4, 4, 4) };
    const { buffer, base } = arena(plan.top);
    const m = new Mem(buffer, base);
    m.f32(o.x, x.length).set(x);
    m.f32(o.w, w.length).set(w);
    m.f32(o.b, c).set(bias);
    m.f32(o.r, yext).set(res);
    for (const cfg of configs) {
      cfg.setup();
      m.f32(o.y, yext).fill(SENTINEL);
      api.dwconv2dF32(buffer, m.at(o.x), m.at(o.w), m.at(useBias ? o.b : -1), m.at(useRes ? o.r : -1), m.at(o.y),
        s.n, s.h, s.w, c, kh, kw, s.sh, s.sw, s.pt, s.pl, s.pb, s.pr, dh, dw, yStride, relu ? 1 : 0);
      expectFloatsExact(m.f32(o.y, yext), want, `depthwise ${describeShape(s)} ys${yStride}${useRes ? ' res' : ''}${relu ? ' relu' : ''} [${cfg.label}]`);
    }
  }
}

/** Round half to even, as ONNX Round. */
function roundEven(v: number): number {
  if (!Number.isFinite(v)) return v;
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : Object.is(r, 0) && v < 0 ? -0 : r === 0 && (v < 0 || Object.is(v, -0)) ? -0 : r;
}

export function checkFloatOps(api: KernelApi, arena: ArenaFactory, rng: Rng): void {
  const n = 2;
  const pixels = 5;
  const c = 13;
  const ys = 16;
  const rows = n * pixels;
  const yext = (rows - 1) * ys + c;
  const x = Float32Array.from({ length: rows * c }, () => fround(rng.float() * 12));
  x.set([-0, 0, NaN, Infinity, -Infinity, 0.5, 1.5, 2.5, -2.5, -0.5, 100, -100, 4194304.5], 0);
  const x2 = Float32Array.from({ length: rows * c }, () => rng.float());
  const d = Float32Array.from({ length: c }, (_, q) => (q % 4 === 0 ? 3 : q % 4 === 1 ? 7 : rng.float()));
  const sv = Float32Array.from({ length: n * c }, () => rng.float());
  const plan = new Plan();
  const o = { x: plan.alloc(x.length * 4), x2: plan.alloc(x.length * 4), d: plan.alloc(c * 4), s: plan.alloc(n * c * 4), y: plan.alloc(Math.max(yext, rows * (c + 5)) * 4) };
  const { buffer, base } = arena(plan.top);
  const m = new Mem(buffer, base);
  m.f32(o.x, x.length).set(x);
  m.f32(o.x2, x.length).set(x2);
  m.f32(o.d, c).set(d);
  m.f32(o.s, n * c).set(sv);
  const rowwise = (name: string, run: () => void, f: (v: number, q: number) => number): void => {
    m.f32(o.y, yext).fill(SENTINEL);
    run();
    const want = new Float32Array(yext).fill(SENTINEL);
    for (let p = 0; p < rows; p++) for (let q = 0; q < c; q++) want[p * ys + q] = f(x[p * c + q], q);
    expectFloatsExact(m.f32(o.y, yext), want, name);
  };
  rowwise('round', () => api.roundF32(buffer, m.at(o.x), m.at(o.y), rows, c, ys), (v) => roundEven(v));
  rowwise('heaviside', () => api.heavisideF32(buffer, m.at(o.x), m.at(o.y), rows, c, ys), (v) => (v > 0 ? 1 : 0));
  rowwise('div', () => api.divF32(buffer, m.at(o.x), m.at(o.d), m.at(o.y), rows, c, ys), (v, q) => fround(v / d[q]));
  // Sigmoid: e^x is the kernels' own (no libm in WebAssembly); within 4 float32 ulps of the exact value (or of 0 where it is below the normal range).
  m.f32(o.y, yext).fill(SENTINEL);
  api.sigmoidF32(buffer, m.at(o.x), m.at(o.y), rows, c, ys);
  const got = m.f32(o.y, yext);
  for (let p = 0; p < rows; p++)
    for (let q = 0; q < c; q++) {
      const v = x[p * c + q];
      const want = 1 / (1 + Math.exp(-v));
      const y = got[p * ys + q];
      if (Number.isNaN(v)) expect(y, 'sigmoid(NaN)').toBeNaN();
      else if (!(Math.abs(y - want) <= 4 * 2 ** -24 * want + 2 ** -120)) expect.fail(`sigmoid(${v}) = ${y}, expected ${want}`);
    }
  for (let p = 0; p < rows; p++) for (let q = c; q < ys && p * ys + q < yext; q++) expect(got[p * ys + q], 'sigmoid wrote the gap').toBe(SENTINEL);
  const count = rows * c;
  api.mulF32(buffer, m.at(o.x), m.at(o.x2), m.at(o.y), count);
  expectFloatsExact(m.f32(o.y, count), x.map((v, i) => fround(v * x2[i])), 'mul');
  api.mulChannelsF32(buffer, m.at(o.x), m.at(o.s), m.at(o.y), n, pixels, c);
  expectFloatsExact(m.f32(o.y, count), x.map((v, i) => fround(v * sv[Math.floor(i / (pixels * c)) * c + (i % c)])), 'mulChannels');
  // channels 2..8 of each pixel into a map of stride 9
  m.f32(o.y, rows * 9).fill(SENTINEL);
  api.copyStridedF32(buffer, m.at(o.x) + 8, m.at(o.y), rows, 7, c, 9);
  const sliced = new Float32Array((rows - 1) * 9 + 7).fill(SENTINEL);
  for (let p = 0; p < rows; p++) for (let q = 0; q < 7; q++) sliced[p * 9 + q] = x[p * c + 2 + q];
  expectFloatsExact(m.f32(o.y, sliced.length), sliced, 'copyStrided');
  m.f32(o.y, rows * (c + 5)).fill(SENTINEL);
  api.padChannelsF32(buffer, m.at(o.x), m.at(o.y), rows, c, 2, 3);
  const padded = new Float32Array(rows * (c + 5));
  for (let p = 0; p < rows; p++) for (let q = 0; q < c; q++) padded[p * (c + 5) + 2 + q] = x[p * c + q];
  expectFloatsExact(m.f32(o.y, padded.length), padded, 'padChannels');
}
