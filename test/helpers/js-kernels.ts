/**
 * native/include/sofar_kernels.h written again as plain TypeScript loops: a slow, obviously-correct kernel
 * set. Tests run the runtime's planner on it (independent of the C code) and hold the C kernels to it.
 * Binary convs are computed from ±1 values, not from bits, so the bit tricks of the C code are checked
 * against arithmetic.
 */
import type { Arena, KernelSet } from '../../backends/runtime/kernels.js';

const f32 = (buf: ArrayBuffer, off: number, count: number) => new Float32Array(buf, off, count);
const words = (c: number) => Math.ceil(c / 64);

function outSize(h: number, k: number, s: number, p0: number, p1: number, d: number): number {
  return Math.floor((h + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

/** The window of output pixel (oy, ox) of a conv: `tap(ky, kx, iy, ix)` for each tap (ky, kx), row by row, at input (iy, ix), which may be outside. */
function forEachTap(oy: number, ox: number, kh: number, kw: number, [sh, sw, pt, pl, dh, dw]: readonly number[], tap: (ky: number, kx: number, iy: number, ix: number) => void): void {
  for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) tap(ky, kx, oy * sh - pt + ky * dh, ox * sw - pl + kx * dw);
}

/** Calls `pixel(b, oy, ox, p)` for each output pixel p = (b·ho + oy)·wo + ox of n maps of ho×wo, in that order. */
function forEachPixel(n: number, ho: number, wo: number, pixel: (b: number, oy: number, ox: number, p: number) => void): void {
  for (let b = 0; b < n; b++) for (let oy = 0; oy < ho; oy++) for (let ox = 0; ox < wo; ox++) pixel(b, oy, ox, (b * ho + oy) * wo + ox);
}

/** ±1 value of channel c of a packed pixel (bit 1 = −1). */
function bitValue(view: DataView, pixelByte: number, groupWords: number, g: number, c: number): number {
  const byte = pixelByte + (g * groupWords + Math.floor(c / 64)) * 8 + Math.floor((c % 64) / 8);
  return (view.getUint8(byte) >> (c % 8)) & 1 ? -1 : 1;
}

function packInto(view: DataView, at: number, values: ArrayLike<number>, channels: number, groups: number): void {
  const cg = channels / groups;
  const gw = words(cg);
  for (let i = 0; i < groups * gw * 8; i++) view.setUint8(at + i, 0);
  for (let c = 0; c < channels; c++) {
    const v = values[c];
    if (!(v < 0)) continue;
    const g = Math.floor(c / cg);
    const k = c % cg;
    const byte = at + (g * gw + Math.floor(k / 64)) * 8 + Math.floor((k % 64) / 8);
    view.setUint8(byte, view.getUint8(byte) | (1 << (k % 8)));
  }
}

type Vector = Float32Array | null;

/**
 * A binary conv with its output transform, as sofar_bconv2d_epilogue states it: acc, then multiplier and
 * bias, the residual (before or after the activation), PReLU, scale and shift, the residual after; y at
 * yStride; the signs of packScale·out + packShift (where given) at packedStride words a pixel.
 */
function binaryConv(buf: ArrayBuffer, x: number, kernel: number, v: { mul: Vector; bias: Vector; alpha: Vector; scale: Vector; shift: Vector; packScale: Vector; packShift: Vector },
  res: { at: number; stride: number; after: boolean }, y: number, yPacked: number, geometry: number[], yStride: number, packedStride: number, yPackGroups: number): void {
  const [n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, padValue] = geometry;
  const ho = outSize(h, kh, sh, pt, pb, dh);
  const wo = outSize(w, kw, sw, pl, pr, dw);
  const cg = cin / groups;
  const og = cout / groups;
  const gw = words(cg);
  const view = new DataView(buf);
  const pixelBytes = groups * gw * 8;
  const signs = new Float32Array(cout);
  forEachPixel(n, ho, wo, (b, oy, ox, p) => {
    for (let o = 0; o < cout; o++) {
      const g = Math.floor(o / og);
      let acc = 0;
      forEachTap(oy, ox, kh, kw, [sh, sw, pt, pl, dh, dw], (ky, kx, iy, ix) => {
        const inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
        const kernelByte = kernel + ((o * kh + ky) * kw + kx) * gw * 8;
        for (let c = 0; c < cg; c++) {
          const wv = bitValue(view, kernelByte, gw, 0, c);
          const xv = inside ? bitValue(view, x + ((b * h + iy) * w + ix) * pixelBytes, gw, g, c) : padValue;
          acc += xv * wv;
        }
      });
      const r = res.at >= 0 ? f32(buf, res.at + (p * res.stride + o) * 4, 1)[0] : 0;
      let out = v.mul ? Math.fround(v.mul[o] * acc) : Math.fround(acc);
      out = Math.fround(out + (v.bias ? v.bias[o] : 0));
      if (res.at >= 0 && !res.after) out = Math.fround(out + r);
      if (v.alpha && out < 0) out = Math.fround(v.alpha[o] * out);
      if (v.scale) out = Math.fround(Math.fround(out * v.scale[o]) + (v.shift ? v.shift[o] : 0));
      else if (v.shift) out = Math.fround(out + v.shift[o]);
      if (res.at >= 0 && res.after) out = Math.fround(out + r);
      if (y >= 0) f32(buf, y + (p * yStride + o) * 4, 1)[0] = out;
      const affine = v.packScale || v.packShift;
      signs[o] = affine ? Math.fround((v.packScale ? Math.fround(out * v.packScale[o]) : out) + (v.packShift ? v.packShift[o] : 0)) : out;
    }
    if (yPacked >= 0) packInto(view, yPacked + p * packedStride * 8, signs, cout, yPackGroups);
  });
}

export function jsKernels(): KernelSet {
  let threadCount = 1;
  const k: KernelSet = {
    description: 'typescript reference',
    arena: (bytes: number): Arena => ({ buffer: new ArrayBuffer(bytes), base: 0, bytes, release() {} }),
    setThreads: (t) => (threadCount = t),
    threads: () => threadCount,
    packedWords: (channels, groups) => groups * words(channels / groups),
    bconv2dScratchBytes: () => 0,
    conv2dF32PackedWeightsBytes: (cout, cin, kh, kw, groups) => cout * (cin / groups) * kh * kw * 4,
    conv2dF32ScratchBytes: () => 0,
    conv2dF32Avgpool2ScratchBytes: () => 0,

    packSigns: (buf, x, y, pixels, channels, xStride, groups) => packPixels(buf, x, y, pixels, channels, xStride, groups, (v) => v),

    packSignsAffine(buf, x, scale, shift, y, pixels, channels, xStride, groups) {
      const sc = f32(buf, scale, channels);
      const sh = f32(buf, shift, channels);
      packPixels(buf, x, y, pixels, channels, xStride, groups, (v, c) => Math.fround(Math.fround(v * sc[c]) + sh[c]));
    },

    bconv2d: (buf, x, kernel, mul, bias, res, y, yPacked, scratch, ...a) => k.bconv2dPrepackedPost!(buf, x, kernel, mul, bias, res, -1, -1, y, yPacked, scratch, ...a),

    bconv2dPrepackedPost(buf, x, kernel, mul, bias, res, alpha, post, y, yPacked, _scratch, ...a) {
      const cout = a[4];
      const vector = (off: number) => (off >= 0 ? f32(buf, off, cout) : null);
      const [yStride, yPackGroups] = [a[17] || cout, a[18]];
      binaryConv(buf, x, kernel, { mul: vector(mul), bias: vector(bias), alpha: vector(alpha), scale: null, shift: vector(post), packScale: null, packShift: null },
        { at: res, stride: yStride, after: false }, y, yPacked, a.slice(0, 17), yStride, k.packedWords(cout, yPackGroups), yPackGroups);
    },

    bconv2dEpilogue(buf, x, kernel, params, res, y, yPacked, _scratch, ...a) {
      const cout = a[4];
      const [yStride, residualStride, packedStride, ops, yPackGroups] = [a[17] || cout, a[18], a[19], a[20], a[21]];
      // the vectors named in ops, one after another in params, in the order of their bits
      let at = 0;
      const take = (bit: number) => (ops & bit ? f32(buf, params + cout * 4 * at++, cout) : null);
      const [mul, bias, alpha, scale, shift, packScale, packShift] = [1, 2, 8, 16, 32, 64, 128].map(take);
      binaryConv(buf, x, kernel, { mul, bias, alpha, scale, shift, packScale, packShift }, { at: res, stride: residualStride || yStride, after: (ops & 4) !== 0 },
        y, yPacked, a.slice(0, 17), yStride, packedStride || k.packedWords(cout, yPackGroups), yPackGroups);
    },

    // The canonical layout is the packed one here.
    bconv2dPackedKernelBytes: (cout, cin, kh, kw, groups) => cout * kh * kw * words(cin / groups) * 8,
    bconv2dPackKernel(buf, kernel, packed, cout, cin, kh, kw, groups) {
      const bytes = cout * kh * kw * words(cin / groups) * 8;
      new Uint8Array(buf, packed, bytes).set(new Uint8Array(buf, kernel, bytes));
    },
    bconv2dPrepacked: (...args) => k.bconv2d(...args),

    conv2dF32PackWeights(buf, w, packed, cout, cin, kh, kw, groups) {
      const count = cout * (cin / groups) * kh * kw;
      f32(buf, packed, count).set(f32(buf, w, count));
    },

    conv2dF32(buf, x, pw, bias, res, y, _scratch, ...a) {
      const [n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, yStrideArg, relu] = a;
      const ho = outSize(h, kh, sh, pt, pb, dh);
      const wo = outSize(w, kw, sw, pl, pr, dw);
      const yStride = yStrideArg || cout;
      const cg = cin / groups;
      const og = cout / groups;
      const xs = f32(buf, x, n * h * w * cin);
      const ws = f32(buf, pw, cout * cg * kh * kw);
      const bs = bias >= 0 ? f32(buf, bias, cout) : null;
      forEachPixel(n, ho, wo, (b, oy, ox, p) => {
        for (let o = 0; o < cout; o++) {
          const g = Math.floor(o / og);
          let acc = 0;
          for (let c = 0; c < cg; c++) {
            forEachTap(oy, ox, kh, kw, [sh, sw, pt, pl, dh, dw], (ky, kx, iy, ix) => {
              if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc += xs[((b * h + iy) * w + ix) * cin + g * cg + c] * ws[((o * cg + c) * kh + ky) * kw + kx];
            });
          }
          let v = acc + (bs ? bs[o] : 0);
          if (res >= 0) v += f32(buf, res + (p * yStride + o) * 4, 1)[0];
          if (relu && v < 0) v = 0;
          f32(buf, y + (p * yStride + o) * 4, 1)[0] = v;
        }
      });
    },

    // a 1×1 conv over the 2×2 /2 average pool of x (h, w: x's size), as avgpoolF32 then conv2dF32 compute it
    conv2dF32Avgpool2(buf, x, pw, bias, res, y, _scratch, n, h, w, cin, cout, yStrideArg, relu) {
      const ho = Math.floor(h / 2), wo = Math.floor(w / 2), yStride = yStrideArg || cout;
      const xs = f32(buf, x, n * h * w * cin), ws = f32(buf, pw, cout * cin);
      const bs = bias >= 0 ? f32(buf, bias, cout) : null;
      const pooled = new Float32Array(cin);
      forEachPixel(n, ho, wo, (b, oy, ox, p) => {
        for (let c = 0; c < cin; c++) {
          const at = (dy: number, dx: number) => xs[((b * h + 2 * oy + dy) * w + 2 * ox + dx) * cin + c];
          pooled[c] = (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4;
        }
        for (let o = 0; o < cout; o++) {
          let acc = 0;
          for (let c = 0; c < cin; c++) acc += pooled[c] * ws[o * cin + c];
          let v = acc + (bs ? bs[o] : 0);
          if (res >= 0) v += f32(buf, res + (p * yStride + o) * 4, 1)[0];
          if (relu && v < 0) v = 0;
          f32(buf, y + (p * yStride + o) * 4, 1)[0] = v;
        }
      });
    },

    denseF32(buf, x, w, bias, y, n, inputs, outputs) {
      const xs = f32(buf, x, n * inputs);
      const ws = f32(buf, w, inputs * outputs);
      const ys = f32(buf, y, n * outputs);
      const bs = bias >= 0 ? f32(buf, bias, outputs) : null;
      for (let b = 0; b < n; b++) {
        for (let o = 0; o < outputs; o++) {
          let acc = 0;
          for (let i = 0; i < inputs; i++) acc += xs[b * inputs + i] * ws[i * outputs + o];
          ys[b * outputs + o] = acc + (bs ? bs[o] : 0);
        }
      }
    },

    maxpoolF32: (buf, x, y, ...a) => pool(buf, x, y, a, 'max'),
    maxpoolReluF32: (buf, x, y, ...a) => pool(buf, x, y, a, 'max-relu'),
    avgpoolF32: (buf, x, y, ...a) => pool(buf, x, y, a, 'avg'),

    globalAvgpoolF32(buf, x, y, n, pixels, c) {
      const xs = f32(buf, x, n * pixels * c);
      const ys = f32(buf, y, n * c);
      for (let b = 0; b < n; b++) {
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let p = 0; p < pixels; p++) s += xs[(b * pixels + p) * c + ch];
          ys[b * c + ch] = s / pixels;
        }
      }
    },

    affineF32: (buf, x, scale, shift, y, pixels, c, yStride) => {
      const sc = f32(buf, scale, c);
      const sh = f32(buf, shift, c);
      pointwise(buf, x, y, pixels, c, yStride, (v, ch) => v * sc[ch] + sh[ch]);
    },
    reluF32: (buf, x, y, pixels, c, yStride) => pointwise(buf, x, y, pixels, c, yStride, (v) => Math.max(0, v)),
    preluF32: (buf, x, alpha, y, pixels, c, yStride) => {
      const al = f32(buf, alpha, c);
      pointwise(buf, x, y, pixels, c, yStride, (v, ch) => (v >= 0 ? v : v * al[ch]));
    },
    clipF32: (buf, x, y, pixels, c, yStride, lo, hi) => pointwise(buf, x, y, pixels, c, yStride, (v) => Math.min(hi, Math.max(lo, v))),
    signF32: (buf, x, y, pixels, c, yStride) => pointwise(buf, x, y, pixels, c, yStride, (v) => (v >= 0 ? 1 : -1)),
    copyF32: (buf, x, y, pixels, c, yStride) => pointwise(buf, x, y, pixels, c, yStride, (v) => v),

    addF32: (buf, a, b, y, count) => elementwise(buf, a, b, y, count, (p, q) => p + q),
    maxF32: (buf, a, b, y, count) => elementwise(buf, a, b, y, count, (p, q) => Math.max(p, q)),
    scaleF32: (buf, x, s, y, count) => elementwise(buf, x, x, y, count, (p) => p * s),

    dwconv2dF32(buf, x, wts, bias, res, y, ...a) {
      const [n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, yStrideArg, relu] = a;
      const ho = outSize(h, kh, sh, pt, pb, dh);
      const wo = outSize(w, kw, sw, pl, pr, dw);
      const yStride = yStrideArg || c;
      const xs = f32(buf, x, n * h * w * c);
      const ws = f32(buf, wts, kh * kw * c);
      const bs = bias >= 0 ? f32(buf, bias, c) : null;
      forEachPixel(n, ho, wo, (b, oy, ox, p) => {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          forEachTap(oy, ox, kh, kw, [sh, sw, pt, pl, dh, dw], (ky, kx, iy, ix) => {
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc += xs[((b * h + iy) * w + ix) * c + ch] * ws[(ky * kw + kx) * c + ch];
          });
          let v = acc + (bs ? bs[ch] : 0);
          if (res >= 0) v += f32(buf, res + (p * yStride + ch) * 4, 1)[0];
          if (relu && v < 0) v = 0;
          f32(buf, y + (p * yStride + ch) * 4, 1)[0] = v;
        }
      });
    },
    sigmoidF32: (buf, x, y, pixels, c, yStride) => pointwise(buf, x, y, pixels, c, yStride, (v) => 1 / (1 + Math.exp(-v))),
    roundF32: (buf, x, y, pixels, c, yStride) => pointwise(buf, x, y, pixels, c, yStride, (v) => v - Math.floor(v) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v)),
    heavisideF32: (buf, x, y, pixels, c, yStride) => pointwise(buf, x, y, pixels, c, yStride, (v) => (v > 0 ? 1 : 0)),
    divF32: (buf, x, d, y, pixels, c, yStride) => {
      const ds = f32(buf, d, c);
      pointwise(buf, x, y, pixels, c, yStride, (v, ch) => v / ds[ch]);
    },
    copyStridedF32(buf, x, y, pixels, c, xStride, yStride) {
      for (let p = 0; p < pixels; p++) f32(buf, y + p * yStride * 4, c).set(f32(buf, x + p * xStride * 4, c).slice());
    },
    padChannelsF32(buf, x, y, pixels, c, before, after) {
      const xs = f32(buf, x, pixels * c).slice();
      const width = before + c + after;
      const ys = f32(buf, y, pixels * width).fill(0);
      for (let p = 0; p < pixels; p++) ys.set(xs.subarray(p * c, (p + 1) * c), p * width + before);
    },
    mulF32: (buf, a, b, y, count) => elementwise(buf, a, b, y, count, (p, q) => p * q),
    mulChannelsF32(buf, x, s, y, n, pixels, c) {
      const ss = f32(buf, s, n * c).slice();
      const xs = f32(buf, x, n * pixels * c).slice();
      const ys = f32(buf, y, n * pixels * c);
      for (let i = 0; i < xs.length; i++) ys[i] = xs[i] * ss[Math.floor(i / (pixels * c)) * c + (i % c)];
    },

    nchwToNhwc(buf, x, y, n, c, h, w) {
      const xs = f32(buf, x, n * c * h * w).slice();
      const ys = f32(buf, y, n * c * h * w);
      for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) ys[(b * h * w + p) * c + ch] = xs[(b * c + ch) * h * w + p];
    },
    nhwcToNchw(buf, x, y, n, c, h, w) {
      const xs = f32(buf, x, n * c * h * w).slice();
      const ys = f32(buf, y, n * c * h * w);
      for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) ys[(b * c + ch) * h * w + p] = xs[(b * h * w + p) * c + ch];
    },
  };
  return k;
}

/** Packs f(x, channel) of each pixel (stride xStride floats) in the packed map layout. */
function packPixels(buf: ArrayBuffer, x: number, y: number, pixels: number, channels: number, xStride: number, groups: number, f: (v: number, c: number) => number): void {
  const stride = xStride || channels;
  const view = new DataView(buf);
  const xs = f32(buf, x, (pixels - 1) * stride + channels);
  const bytes = groups * words(channels / groups) * 8;
  for (let p = 0; p < pixels; p++) {
    packInto(view, y + p * bytes, Float32Array.from({ length: channels }, (_, c) => f(xs[p * stride + c], c)), channels, groups);
  }
}

function pointwise(buf: ArrayBuffer, x: number, y: number, pixels: number, c: number, yStride: number, f: (v: number, ch: number) => number): void {
  const stride = yStride || c;
  const xs = f32(buf, x, pixels * c).slice();
  for (let p = 0; p < pixels; p++) {
    const ys = f32(buf, y + p * stride * 4, c);
    for (let ch = 0; ch < c; ch++) ys[ch] = f(xs[p * c + ch], ch);
  }
}

function elementwise(buf: ArrayBuffer, a: number, b: number, y: number, count: number, f: (p: number, q: number) => number): void {
  const as = f32(buf, a, count).slice();
  const bs = f32(buf, b, count).slice();
  const ys = f32(buf, y, count);
  for (let i = 0; i < count; i++) ys[i] = f(as[i], bs[i]);
}

function pool(buf: ArrayBuffer, x: number, y: number, a: number[], mode: 'max' | 'max-relu' | 'avg'): void {
  const [n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr] = a;
  const ho = outSize(h, kh, sh, pt, pb, 1);
  const wo = outSize(w, kw, sw, pl, pr, 1);
  const xs = f32(buf, x, n * h * w * c);
  const ys = f32(buf, y, n * ho * wo * c);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let sum = 0;
          let count = 0;
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              const iy = oy * sh - pt + ky;
              const ix = ox * sw - pl + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const x0 = xs[((b * h + iy) * w + ix) * c + ch];
              const v = mode === 'max-relu' ? (x0 > 0 ? x0 : 0) : x0;
              best = Math.max(best, v);
              sum += v;
              count++;
            }
          }
          ys[((b * ho + oy) * wo + ox) * c + ch] = mode === 'avg' ? sum / count : best;
        }
      }
    }
  }
}
