/**
 * An independent scalar JavaScript reference of the kernels in native/include/sofar_kernels.h, and a suite
 * that checks a kernel set (the Node addon, or the WebAssembly module) against it on generated shapes:
 * odd channel counts, strides 1-2, asymmetric pads, dilation 2, groups, pad values -1/0/+1, output strides
 * wider than the channel count, residuals, packed outputs in several groups. The binary conv is computed
 * here from ±1 float values (not from bits), so it checks the bit conventions too. Binary results must be
 * exactly equal (the float outputs of the binary conv too: the header fixes their float32 operations);
 * float results within 1e-5 of the magnitude of the summed terms.
 */
import { expect } from 'vitest';

import type { KernelSet } from '../../backends/runtime/kernels.js';

export type Off = number;

/** The kernel calls the suite uses: the runtime's KernelSet interface, without its arena and threads. */
export type KernelApi = Omit<KernelSet, 'description' | 'arena' | 'setThreads' | 'threads'>;

/** A zeroed region of `bytes` bytes at `base` in `buffer` (the buffer may be replaced by the next arena). */
export type ArenaFactory = (bytes: number) => { buffer: ArrayBuffer; base: number };

/** One way to run the kernels (an ISA and a thread count): `setup` switches to it. */
export interface Config {
  label: string;
  setup(): void;
}

const fround = Math.fround;

/** xorshift-style generator (deterministic cases). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(v: readonly T[]): T {
    return v[this.int(v.length)];
  }
  float(): number {
    return fround(this.next() * 2 - 1);
  }
  sign(): number {
    return this.next() < 0.5 ? -1 : 1;
  }
}

// ---- references ------------------------------------------------------------------------------------

export function packedWords(channels: number, groups: number): number {
  return groups * Math.ceil(channels / groups / 64);
}

/** Packs signs (bit 1 = x < 0) into 64-bit words stored as (low, high) uint32 pairs. */
export function refPack(x: ArrayLike<number>, pixels: number, channels: number, stride: number, groups: number): Uint32Array {
  const cg = channels / groups;
  const wg = Math.ceil(cg / 64);
  const words = groups * wg;
  const out = new Uint32Array(pixels * words * 2);
  for (let p = 0; p < pixels; p++)
    for (let g = 0; g < groups; g++)
      for (let c = 0; c < cg; c++)
        if (x[p * stride + g * cg + c] < 0) {
          const wi = (p * words + g * wg + (c >> 6)) * 2 + ((c >> 5) & 1);
          out[wi] |= 1 << (c & 31);
        }
  return out;
}

export interface ConvShape {
  n: number; h: number; w: number; cin: number; cout: number; kh: number; kw: number; sh: number; sw: number;
  pt: number; pl: number; pb: number; pr: number; dh: number; dw: number; groups: number;
}

export function outSize(s: ConvShape): { ho: number; wo: number; pixels: number } {
  const ho = Math.floor((s.h + s.pt + s.pb - s.dh * (s.kh - 1) - 1) / s.sh) + 1;
  const wo = Math.floor((s.w + s.pl + s.pr - s.dw * (s.kw - 1) - 1) / s.sw) + 1;
  return { ho, wo, pixels: s.n * ho * wo };
}

export function shapeInts(s: ConvShape): number[] {
  return [s.n, s.h, s.w, s.cin, s.cout, s.kh, s.kw, s.sh, s.sw, s.pt, s.pl, s.pb, s.pr, s.dh, s.dw, s.groups];
}

/** Visits every (output pixel, output channel, tap) of a conv: f(p, o, inputIndexOrMinus1, kernelTap, g). */
function forTaps(s: ConvShape, f: (p: number, o: number, xBase: number, i: number, j: number) => void): void {
  const { ho, wo } = outSize(s);
  const og = s.cout / s.groups;
  for (let b = 0; b < s.n; b++)
    for (let oh = 0; oh < ho; oh++)
      for (let ow = 0; ow < wo; ow++) {
        const p = (b * ho + oh) * wo + ow;
        for (let o = 0; o < s.cout; o++) {
          const g = Math.floor(o / og);
          for (let i = 0; i < s.kh; i++)
            for (let j = 0; j < s.kw; j++) {
              const ih = oh * s.sh - s.pt + i * s.dh;
              const iw = ow * s.sw - s.pl + j * s.dw;
              const inside = ih >= 0 && ih < s.h && iw >= 0 && iw < s.w;
              f(p, o, inside ? ((b * s.h + ih) * s.w + iw) * s.cin + g * (s.cin / s.groups) : -1, i, j);
            }
        }
      }
}

/** Binary conv from ±1 values: x NHWC ±1, k [cout][kh][kw][cg] ±1; returns the exact integer accumulators. */
export function refBconvAcc(s: ConvShape, x: Float32Array, k: Float32Array, padValue: number): Int32Array {
  const { pixels } = outSize(s);
  const cg = s.cin / s.groups;
  const acc = new Int32Array(pixels * s.cout);
  forTaps(s, (p, o, xb, i, j) => {
    const kb = ((o * s.kh + i) * s.kw + j) * cg;
    let a = 0;
    for (let c = 0; c < cg; c++) a += (xb < 0 ? padValue : x[xb + c]) * k[kb + c];
    acc[p * s.cout + o] += a;
  });
  return acc;
}

/** Float conv in float64: sums and the magnitude of the summed terms (for the tolerance). */
export function refConv(s: ConvShape, x: Float32Array, wOihw: Float32Array): { sum: Float64Array; mag: Float64Array } {
  const { pixels } = outSize(s);
  const cg = s.cin / s.groups;
  const sum = new Float64Array(pixels * s.cout);
  const mag = new Float64Array(pixels * s.cout);
  forTaps(s, (p, o, xb, i, j) => {
    if (xb < 0) return;
    let a = 0;
    let m = 0;
    for (let c = 0; c < cg; c++) {
      const t = x[xb + c] * wOihw[((o * cg + c) * s.kh + i) * s.kw + j];
      a += t;
      m += Math.abs(t);
    }
    sum[p * s.cout + o] += a;
    mag[p * s.cout + o] += m;
  });
  return { sum, mag };
}

export function refPool(s: ConvShape, x: Float32Array, avg: boolean): Float32Array {
  const { ho, wo, pixels } = outSize(s);
  const c = s.cin;
  const y = new Float32Array(pixels * c);
  for (let b = 0; b < s.n; b++)
    for (let oh = 0; oh < ho; oh++)
      for (let ow = 0; ow < wo; ow++)
        for (let q = 0; q < c; q++) {
          let v = 0;
          let count = 0;
          for (let i = 0; i < s.kh; i++)
            for (let j = 0; j < s.kw; j++) {
              const ih = oh * s.sh - s.pt + i;
              const iw = ow * s.sw - s.pl + j;
              if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
              const xv = x[((b * s.h + ih) * s.w + iw) * c + q];
              v = count === 0 ? xv : avg ? fround(v + xv) : xv > v ? xv : v;
              count++;
            }
          y[((b * ho + oh) * wo + ow) * c + q] = count === 0 ? 0 : avg && count > 1 ? fround(v / count) : v;
        }
  return y;
}

// ---- the suite ---------------------------------------------------------------------------------------

/** Bump allocation of a case's buffers; offsets relative to the arena base, aligned (64 unless asked). */
export class Plan {
  top = 0;
  alloc(bytes: number, align = 64, skew = 0): number {
    this.top = Math.ceil(this.top / align) * align + skew;
    const at = this.top;
    this.top += Math.max(bytes, 0);
    return at;
  }
}

export class Mem {
  constructor(
    readonly buffer: ArrayBuffer,
    readonly base: number,
  ) {}
  f32(off: number, n: number): Float32Array {
    return new Float32Array(this.buffer, this.base + off, n);
  }
  u32(off: number, n: number): Uint32Array {
    return new Uint32Array(this.buffer, this.base + off, n);
  }
  at(off: number): number {
    return off < 0 ? -1 : this.base + off;
  }
}

export const SENTINEL = fround(12345.5);

export function expectFloatsExact(got: Float32Array, want: ArrayLike<number>, what: string): void {
  for (let i = 0; i < want.length; i++)
    if (!(got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i]))))
      expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
}

function randomConvShape(rng: Rng, cgs: readonly number[], ogs: readonly number[], maxSpatial: number): ConvShape {
  const groups = rng.pick([1, 1, 1, 2, 4]);
  const cg = rng.pick(cgs);
  const og = rng.pick(ogs);
  const kh = 1 + rng.int(3);
  const kw = 1 + rng.int(3);
  const dh = rng.int(4) === 0 ? 2 : 1;
  const dw = rng.int(4) === 0 ? 2 : 1;
  return {
    n: 1 + rng.int(2),
    h: 1 + rng.int(maxSpatial) + dh * (kh - 1),
    w: 1 + rng.int(maxSpatial) + dw * (kw - 1),
    cin: cg * groups, cout: og * groups, kh, kw,
    sh: 1 + rng.int(2), sw: 1 + rng.int(2),
    pt: rng.int(kh), pl: rng.int(kw), pb: rng.int(kh), pr: rng.int(kw),
    dh, dw, groups,
  };
}

export function describeShape(s: ConvShape): string {
  return `n${s.n} ${s.h}x${s.w} ${s.cin}->${s.cout} k${s.kh}x${s.kw} s${s.sh}x${s.sw} p${s.pt},${s.pl},${s.pb},${s.pr} d${s.dh}x${s.dw} g${s.groups}`;
}

/**
 * Case t of the channel sweep: cg = t + 1 channels per group (1..130 for t < 130), a 3x2 or 3x3 kernel
 * (kernel rows whose taps pack bit by bit into fewer words, e.g. 41 channels: 3 taps in 2 words, and rows
 * that do not), and strides, dilations, padding and groups varying with it.
 */
export function channelSweepShape(rng: Rng, t: number): ConvShape {
  // few output channels (no row packing: not worth its gather) and many (row-packed where it saves words)
  const cg = t + 1, kw = 2 + (t % 2), groups = cg % 5 === 0 ? 2 : 1, og = (cg + kw) % 2 ? 1 + rng.int(16) : 40 + rng.int(60);
  const dh = cg % 4 === 0 ? 2 : 1, dw = cg % 6 === 0 ? 2 : 1;
  return {
    n: 1 + rng.int(2), h: 1 + rng.int(5) + dh * 2, w: 1 + rng.int(5) + dw * (kw - 1),
    cin: cg * groups, cout: og * groups, kh: 3, kw,
    sh: cg % 3 === 0 ? 2 : 1, sw: cg % 7 === 0 ? 2 : 1,
    pt: rng.int(3), pl: rng.int(kw), pb: rng.int(3), pr: rng.int(kw),
    dh, dw, groups,
  };
}

/** Binary conv cases against the reference; shapeOf(t) gives case t's shape (default: fixed, then random). */
export function checkBconv(api: KernelApi, arena: ArenaFactory, configs: Config[], rng: Rng, cases: number,
  shapeOf?: (t: number) => ConvShape): void {
  const cgs = [1, 3, 63, 64, 65, 127, 200];
  const ogs = [1, 3, 8, 31, 32, 33, 64, 65, 100];
  for (let t = 0; t < cases; t++) {
    const s = shapeOf ? shapeOf(t) : t === 0
      ? { n: 1, h: 5, w: 6, cin: 64, cout: 64, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 }
      : t === 1 // taller than the GEMM's segment limit
        ? { n: 1, h: 20, w: 4, cin: 65, cout: 33, kh: 18, kw: 1, sh: 1, sw: 1, pt: 1, pl: 0, pb: 2, pr: 0, dh: 1, dw: 1, groups: 1 }
        : randomConvShape(rng, t % 3 === 0 ? [1, 3, 64] : cgs, ogs, 6);
    const { pixels } = outSize(s);
    const padValue = t === 0 ? 0 : rng.int(3) - 1;
    const yStride = rng.int(2) ? 0 : s.cout + 1 + rng.int(4);
    const ys = yStride || s.cout;
    const useY = t === 0 || rng.int(4) !== 0;
    const useYp = !useY || rng.int(2) === 1;
    let ypg = 1;
    if (s.cout % 2 === 0 && rng.int(2)) ypg = 2;
    if (rng.int(3) === 0) ypg = s.groups;
    const useRes = rng.int(2) === 1;
    const useBias = rng.int(3) !== 0;
    const useMul = rng.int(5) !== 0;
    const cg = s.cin / s.groups;
    const label = `bconv ${describeShape(s)} pad${padValue} ys${yStride} ypg${ypg}${useRes ? ' res' : ''}`;

    // ±1 values and their packed forms
    const xv = Float32Array.from({ length: s.n * s.h * s.w * s.cin }, () => rng.sign());
    const kv = Float32Array.from({ length: s.cout * s.kh * s.kw * cg }, () => rng.sign());
    const xPacked = refPack(xv, s.n * s.h * s.w, s.cin, s.cin, s.groups);
    const kPacked = refPack(kv, s.cout * s.kh * s.kw, cg, cg, 1);
    const mul = Float32Array.from({ length: s.cout }, () => fround(rng.float() * 0.1));
    const bias = Float32Array.from({ length: s.cout }, () => rng.float());
    const yext = (pixels - 1) * ys + s.cout;
    const res = Float32Array.from({ length: yext }, () => rng.float());

    const acc = refBconvAcc(s, xv, kv, padValue);
    const want = new Float32Array(yext).fill(SENTINEL);
    for (let p = 0; p < pixels; p++)
      for (let o = 0; o < s.cout; o++) {
        let v = fround(acc[p * s.cout + o]);
        if (useMul) v = fround(v * mul[o]);
        v = fround(v + (useBias ? bias[o] : 0));
        if (useRes) v = fround(v + res[p * ys + o]);
        want[p * ys + o] = v;
      }
    const wantPacked = refPack(want, pixels, s.cout, ys, ypg);
    // The post transform: PReLU, then a shift (sofar_bconv2d_prepacked_post).
    const alpha = Float32Array.from({ length: s.cout }, () => rng.float());
    const post = Float32Array.from({ length: s.cout }, () => fround(rng.float() * 0.5));
    const wantPost = want.map((v, i) => {
      const o = i % ys;
      if (o >= s.cout || v === SENTINEL) return v;
      return fround((v < 0 ? fround(alpha[o] * v) : v) + post[o]);
    });
    const wantPostPacked = refPack(wantPost, pixels, s.cout, ys, ypg);
    const epilogue = epilogueCase(rng, s, acc, pixels, ys, ypg, { mul, bias, alpha, post });

    const ints = [...shapeInts(s), padValue, yStride, ypg];
    const scratchBytes = api.bconv2dScratchBytes(...shapeInts(s));
    const pkBytes = api.bconv2dPackedKernelBytes?.(s.cout, s.cin, s.kh, s.kw, s.groups) ?? 0;
    const plan = new Plan();
    const o = {
      x: plan.alloc(xPacked.length * 4, 8, 8 * rng.int(4)),
      k: plan.alloc(kPacked.length * 4, 8, 8),
      mul: plan.alloc(s.cout * 4, 4, 4),
      bias: plan.alloc(s.cout * 4),
      res: plan.alloc(yext * 4),
      y: plan.alloc(yext * 4, 4, 4),
      yp: plan.alloc(wantPacked.length * 4, 8, 8),
      scratch: plan.alloc(scratchBytes, 8, 8),
      pk: plan.alloc(pkBytes, 8, 8),
      alpha: plan.alloc(s.cout * 4),
      post: plan.alloc(s.cout * 4),
      params: plan.alloc(epilogue.params.length * 4 + 4, 4, 4),
      eres: plan.alloc(epilogue.res.length * 4),
      eres2: plan.alloc(epilogue.res2.length * 4),
      eyp: plan.alloc(epilogue.wantPacked.length * 4, 8, 8),
      p2y: plan.alloc(pixels * packedWords(s.cout, 1) * 8, 8, 8),
    };
    const { buffer, base } = arena(plan.top + 64);
    const m = new Mem(buffer, base);
    m.u32(o.x, xPacked.length).set(xPacked);
    m.u32(o.k, kPacked.length).set(kPacked);
    m.f32(o.mul, s.cout).set(mul);
    m.f32(o.bias, s.cout).set(bias);
    m.f32(o.res, yext).set(res);
    m.f32(o.alpha, s.cout).set(alpha);
    m.f32(o.post, s.cout).set(post);
    m.f32(o.params, epilogue.params.length).set(epilogue.params);
    m.f32(o.eres, epilogue.res.length).set(epilogue.res);
    m.f32(o.eres2, epilogue.res2.length).set(epilogue.res2);
    if (api.bconv2dPackKernel) api.bconv2dPackKernel(buffer, m.at(o.k), m.at(o.pk), s.cout, s.cin, s.kh, s.kw, s.groups);
    for (const cfg of configs) {
      cfg.setup();
      const modes = [...['plain', 'prepacked'].filter((k) => k === 'plain' || api.bconv2dPrepacked), ...(api.bconv2dPrepackedPost ? ['post'] : [])];
      if (api.bconv2dEpilogue) {
        m.f32(o.y, yext).fill(SENTINEL);
        m.u32(o.eyp, epilogue.wantPacked.length).fill(0xa5a5a5a5);
        const res = m.at(useRes ? o.eres : -1);
        api.bconv2dEpilogue(buffer, m.at(o.x), m.at(o.pk), m.at(epilogue.params.length ? o.params : -1), res, m.at(useY ? o.y : -1), m.at(useYp ? o.eyp : -1), m.at(o.scratch),
          ...shapeInts(s), padValue, yStride, epilogue.residualStride, epilogue.packedStride, epilogue.ops, ypg);
        const what = `${label} [${cfg.label}, epilogue ops ${epilogue.ops} rs ${epilogue.residualStride} yps ${epilogue.packedStride}]`;
        if (useY) expectFloatsExact(m.f32(o.y, yext), useRes ? epilogue.want : epilogue.wantNoRes, what);
        if (useYp) expect(Array.from(m.u32(o.eyp, epilogue.wantPacked.length)), `${what} packed`).toEqual(Array.from(useRes ? epilogue.wantPacked : epilogue.wantPackedNoRes));
      }
      if (api.bconv2dEpiloguePack2 && useY) {
        // and a second packing of y's own rows, with a threshold of its own (post as its scale, alpha as its shift)
        m.f32(o.y, yext).fill(SENTINEL);
        const p2 = m.u32(o.p2y, pixels * packedWords(s.cout, 1) * 2).fill(0x5a5a5a5a);
        api.bconv2dEpiloguePack2(buffer, m.at(o.x), m.at(o.pk), m.at(epilogue.params.length ? o.params : -1), m.at(useRes ? o.eres : -1), m.at(o.y), m.at(useYp ? o.eyp : -1),
          m.at(o.y), m.at(o.post), m.at(o.alpha), m.at(o.p2y), m.at(o.scratch),
          ...shapeInts(s), padValue, yStride, epilogue.residualStride, epilogue.packedStride, epilogue.ops, ypg, s.cout, ys);
        const floats = useRes ? epilogue.want : epilogue.wantNoRes;
        const what = `${label} [${cfg.label}, epilogue with a second packing, ops ${epilogue.ops}]`;
        expectFloatsExact(m.f32(o.y, yext), floats, what);
        const thresholded = Float32Array.from(floats, (v, i) => fround(fround(v * post[i % ys]) + alpha[i % ys]));
        expect(Array.from(p2), `${what}: the second packing`).toEqual(Array.from(refPack(thresholded, pixels, s.cout, ys, 1)));
      }
      if (api.bconv2dEpilogueRes2) {
        // and a second residual map after the first
        m.f32(o.y, yext).fill(SENTINEL);
        m.u32(o.eyp, epilogue.wantPacked.length).fill(0xa5a5a5a5);
        api.bconv2dEpilogueRes2(buffer, m.at(o.x), m.at(o.pk), m.at(epilogue.params.length ? o.params : -1), m.at(useRes ? o.eres : -1), m.at(useY ? o.y : -1), m.at(useYp ? o.eyp : -1),
          m.at(o.eres2), m.at(o.scratch), ...shapeInts(s), padValue, yStride, epilogue.residualStride, epilogue.packedStride, epilogue.ops, ypg, epilogue.residual2Stride);
        const want2 = useRes ? epilogue.wantRes2 : epilogue.wantOnlyRes2;
        const what = `${label} [${cfg.label}, epilogue with a second residual, ops ${epilogue.ops} r2s ${epilogue.residual2Stride}]`;
        if (useY) expectFloatsExact(m.f32(o.y, yext), want2.y, what);
        if (useYp) expect(Array.from(m.u32(o.eyp, epilogue.wantPacked.length)), `${what} packed`).toEqual(Array.from(want2.packed));
      }
      for (const mode of modes) {
        m.f32(o.y, yext).fill(SENTINEL);
        m.u32(o.yp, wantPacked.length).fill(0xa5a5a5a5);
        const head = [m.at(useMul ? o.mul : -1), m.at(useBias ? o.bias : -1), m.at(useRes ? o.res : -1)] as const;
        const tail = [m.at(useY ? o.y : -1), m.at(useYp ? o.yp : -1), m.at(o.scratch), ...ints] as const;
        if (mode === 'post') api.bconv2dPrepackedPost!(buffer, m.at(o.x), m.at(o.pk), ...head, m.at(o.alpha), m.at(o.post), ...tail);
        else if (mode === 'prepacked') api.bconv2dPrepacked!(buffer, m.at(o.x), m.at(o.pk), ...head, ...tail);
        else api.bconv2d(buffer, m.at(o.x), m.at(o.k), ...head, ...tail);
        const what = `${label} [${cfg.label}, ${mode}]`;
        if (useY) expectFloatsExact(m.f32(o.y, yext), mode === 'post' ? wantPost : want, what);
        if (useYp) expect(Array.from(m.u32(o.yp, wantPacked.length)), `${what} packed`).toEqual(Array.from(mode === 'post' ? wantPostPacked : wantPacked));
      }
    }
  }
}

/**
 * A random sofar_bconv2d_epilogue case on a conv's accumulators: which vectors `ops` names, a residual at its
 * own stride (before or after the activation), a wider packed stride; the outputs with and without the residual.
 */
function epilogueCase(rng: Rng, s: ConvShape, acc: ArrayLike<number>, pixels: number, ys: number, ypg: number, v: { mul: Float32Array; bias: Float32Array; alpha: Float32Array; post: Float32Array }) {
  const cout = s.cout;
  const vector = () => Float32Array.from({ length: cout }, () => (rng.int(8) ? rng.float() : rng.pick([0, -0, 1])));
  const [scale, packScale, packShift] = [vector(), vector(), vector()];
  const ops = rng.int(256) | (rng.int(2) ? 128 : 0); // the signs of an affine map half the time
  const bits: [number, Float32Array][] = [[1, v.mul], [2, v.bias], [8, v.alpha], [16, scale], [32, v.post], [64, packScale], [128, packShift]];
  const present = bits.filter(([bit]) => ops & bit);
  const params = new Float32Array(present.length * cout);
  present.forEach(([, x], i) => params.set(x, i * cout));
  const has = (bit: number) => (ops & bit) !== 0;
  const residualStride = rng.int(2) ? 0 : cout + rng.int(3);
  const rs = residualStride || ys;
  const res = Float32Array.from({ length: (pixels - 1) * rs + cout }, () => rng.float());
  // a second residual (sofar_bconv2d_epilogue_res2), at a stride of its own or y's
  const residual2Stride = rng.int(2) ? 0 : cout + rng.int(3);
  const r2s = residual2Stride || ys;
  const res2 = Float32Array.from({ length: (pixels - 1) * r2s + cout }, () => rng.float());
  const own = packedWords(cout, ypg);
  const packedStride = rng.int(2) ? 0 : own + 1 + rng.int(2);
  const yps = packedStride || own;
  const run = (withRes: boolean, withRes2 = false) => {
    const y = new Float32Array((pixels - 1) * ys + cout).fill(SENTINEL);
    const packed = new Uint32Array(((pixels - 1) * yps + own) * 2).fill(0xa5a5a5a5);
    for (let p = 0; p < pixels; p++) {
      const signs = new Float32Array(cout);
      for (let o = 0; o < cout; o++) {
        const r = withRes ? res[p * rs + o] : 0;
        let x = fround(acc[p * cout + o]);
        if (has(1)) x = fround(x * v.mul[o]);
        x = fround(x + (has(2) ? v.bias[o] : 0));
        if (withRes && !has(4)) x = fround(x + r);
        if (withRes2) x = fround(x + res2[p * r2s + o]);
        if (has(8) && x < 0) x = fround(v.alpha[o] * x);
        if (has(16)) x = fround(fround(x * scale[o]) + (has(32) ? v.post[o] : 0));
        else if (has(32)) x = fround(x + v.post[o]);
        if (withRes && has(4)) x = fround(x + r);
        y[p * ys + o] = x;
        signs[o] = has(64) || has(128) ? fround((has(64) ? fround(x * packScale[o]) : x) + (has(128) ? packShift[o] : 0)) : x;
      }
      packed.set(refPack(signs, 1, cout, cout, ypg), p * yps * 2);
    }
    return { y, packed };
  };
  const [withRes, noRes, withRes2, onlyRes2] = [run(true), run(false), run(true, true), run(false, true)];
  return {
    ops, params, res, residualStride, packedStride, want: withRes.y, wantNoRes: noRes.y, wantPacked: withRes.packed, wantPackedNoRes: noRes.packed,
    res2, residual2Stride, wantRes2: { y: withRes2.y, packed: withRes2.packed }, wantOnlyRes2: { y: onlyRes2.y, packed: onlyRes2.packed },
  };
}

export function checkPackSigns(api: KernelApi, arena: ArenaFactory, configs: Config[], rng: Rng, cases: number): void {
  const specials = [0, -0, 1, -1, 1e-30, -1e-30, NaN, Infinity, -Infinity];
  for (let t = 0; t < cases; t++) {
    const groups = rng.pick([1, 2, 4]);
    const cg = rng.pick([1, 3, 63, 64, 65, 127, 200]);
    const channels = cg * groups;
    const pixels = 1 + rng.int(5);
    const xStride = rng.int(2) ? 0 : channels + rng.int(4);
    const xs = xStride || channels;
    const x = Float32Array.from({ length: (pixels - 1) * xs + channels }, () => (rng.int(4) ? rng.float() : rng.pick(specials)));
    const want = refPack(x, pixels, channels, xs, groups);
    const scale = Float32Array.from({ length: channels }, () => (rng.int(8) ? rng.float() : rng.pick([0, -0, 2])));
    const shift = Float32Array.from({ length: channels }, () => (rng.int(8) ? rng.float() : rng.pick([0, -0, 1e-30])));
    const affine = new Float32Array(x.length);
    for (let p = 0; p < pixels; p++)
      for (let c = 0; c < channels; c++) affine[p * xs + c] = fround(fround(x[p * xs + c] * scale[c]) + shift[c]);
    const wantAffine = refPack(affine, pixels, channels, xs, groups);
    expect(api.packedWords(channels, groups)).toBe(packedWords(channels, groups));
    const plan = new Plan();
    const ox = plan.alloc(x.length * 4, 4, 4);
    const oy = plan.alloc(want.length * 4, 8, 8);
    const oy2 = plan.alloc(want.length * 4, 8, 8);
    const os = plan.alloc(channels * 4, 4, 4);
    const ot = plan.alloc(channels * 4, 4, 4);
    const { buffer, base } = arena(plan.top);
    const m = new Mem(buffer, base);
    m.f32(ox, x.length).set(x);
    m.f32(os, channels).set(scale);
    m.f32(ot, channels).set(shift);
    for (const cfg of configs) {
      cfg.setup();
      m.u32(oy, want.length).fill(0x5a5a5a5a);
      api.packSigns(buffer, m.at(ox), m.at(oy), pixels, channels, xStride, groups);
      expect(Array.from(m.u32(oy, want.length)), `packSigns ${channels}/${groups} [${cfg.label}]`).toEqual(Array.from(want));
      if (!api.packSignsAffine) continue;
      m.u32(oy, want.length).fill(0x5a5a5a5a);
      api.packSignsAffine(buffer, m.at(ox), m.at(os), m.at(ot), m.at(oy), pixels, channels, xStride, groups);
      expect(Array.from(m.u32(oy, want.length)), `packSignsAffine ${channels}/${groups} [${cfg.label}]`).toEqual(Array.from(wantAffine));
      if (!api.packSignsAffine2) continue;
      // two batch norms in one pass: this one and none (scale 1, shift +0, the plain signs)
      m.u32(oy, want.length).fill(0x5a5a5a5a);
      m.u32(oy2, want.length).fill(0x5a5a5a5a);
      api.packSignsAffine2(buffer, m.at(ox), -1, -1, m.at(oy2), m.at(os), m.at(ot), m.at(oy), pixels, channels, xStride, groups);
      expect(Array.from(m.u32(oy, want.length)), `packSignsAffine2, second ${channels}/${groups} [${cfg.label}]`).toEqual(Array.from(wantAffine));
      expect(Array.from(m.u32(oy2, want.length)), `packSignsAffine2, first ${channels}/${groups} [${cfg.label}]`).toEqual(Array.from(want));
    }
  }
}

/** Few-input-channel convs (the banded stem path): the stems' shapes on odd image sizes, every panel count, pads. */
const stem = (n: number, h: number, w: number, cin: number, cout: number, k: number, s: number, pads: [number, number, number, number]): ConvShape =>
  ({ n, h, w, cin, cout, kh: k, kw: k, sh: s, sw: s, pt: pads[0], pl: pads[1], pb: pads[2], pr: pads[3], dh: 1, dw: 1, groups: 1 });
const STEM_SHAPES: ConvShape[] = [
  stem(1, 37, 29, 3, 32, 3, 2, [1, 1, 1, 1]), // ReActNet's stem
  stem(2, 21, 33, 3, 16, 3, 2, [1, 1, 1, 1]), // QuickNet's
  stem(1, 40, 41, 3, 64, 7, 2, [3, 3, 3, 3]), // Bi-Real's: more than one band
  stem(1, 19, 50, 3, 48, 5, 1, [2, 0, 1, 3]),
  stem(1, 9, 9, 1, 130, 3, 3, [0, 2, 2, 0]),
  stem(1, 30, 31, 4, 17, 3, 2, [0, 0, 1, 1]),
  stem(1, 5, 70, 2, 1, 7, 2, [3, 3, 3, 3]),
];

export function checkConv(api: KernelApi, arena: ArenaFactory, configs: Config[], rng: Rng, cases: number): void {
  for (let t = 0; t < cases; t++) {
    const s: ConvShape = t === 0
      ? { n: 1, h: 23, w: 22, cin: 3, cout: 64, kh: 7, kw: 7, sh: 2, sw: 2, pt: 3, pl: 3, pb: 3, pr: 3, dh: 1, dw: 1, groups: 1 }
      : t === 1
        ? { n: 1, h: 6, w: 5, cin: 64, cout: 128, kh: 1, kw: 1, sh: 2, sw: 2, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1 }
        : t === 2
          ? { n: 2, h: 19, w: 3, cin: 5, cout: 20, kh: 17, kw: 2, sh: 1, sw: 1, pt: 1, pl: 1, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1 }
          : t < 3 + STEM_SHAPES.length ? STEM_SHAPES[t - 3]
            : randomConvShape(rng, [1, 3, 8, 17, 64], [1, 5, 16, 17, 33, 64, 65, 100], 6);
    const { pixels } = outSize(s);
    const yStride = rng.int(2) ? 0 : s.cout + 1 + rng.int(4);
    const ys = yStride || s.cout;
    const useRes = rng.int(2) === 1;
    const useBias = rng.int(3) !== 0;
    const relu = rng.int(2);
    const cg = s.cin / s.groups;
    const x = Float32Array.from({ length: s.n * s.h * s.w * s.cin }, () => rng.float());
    const wt = Float32Array.from({ length: s.cout * cg * s.kh * s.kw }, () => rng.float());
    const bias = Float32Array.from({ length: s.cout }, () => rng.float());
    const yext = (pixels - 1) * ys + s.cout;
    const res = Float32Array.from({ length: yext }, () => rng.float());
    const { sum, mag } = refConv(s, x, wt);
    const pwBytes = api.conv2dF32PackedWeightsBytes(s.cout, s.cin, s.kh, s.kw, s.groups);
    const sBytes = api.conv2dF32ScratchBytes(...shapeInts(s));
    const plan = new Plan();
    const o = {
      x: plan.alloc(x.length * 4, 4, 4),
      w: plan.alloc(wt.length * 4),
      pw: plan.alloc(pwBytes, 4, 4),
      bias: plan.alloc(s.cout * 4),
      res: plan.alloc(yext * 4),
      y: plan.alloc(yext * 4, 4, 4),
      scratch: plan.alloc(sBytes, 8, 8),
    };
    const { buffer, base } = arena(plan.top);
    const m = new Mem(buffer, base);
    m.f32(o.x, x.length).set(x);
    m.f32(o.w, wt.length).set(wt);
    m.f32(o.bias, s.cout).set(bias);
    m.f32(o.res, yext).set(res);
    api.conv2dF32PackWeights(buffer, m.at(o.w), m.at(o.pw), s.cout, s.cin, s.kh, s.kw, s.groups);
    const label = `conv ${describeShape(s)} ys${yStride}${useRes ? ' res' : ''}${relu ? ' relu' : ''}`;
    let first: Float32Array | undefined;
    for (const cfg of configs) {
      cfg.setup();
      m.f32(o.y, yext).fill(SENTINEL);
      api.conv2dF32(buffer, m.at(o.x), m.at(o.pw), m.at(useBias ? o.bias : -1), m.at(useRes ? o.res : -1), m.at(o.y),
        m.at(o.scratch), ...shapeInts(s), yStride, relu);
      const y = m.f32(o.y, yext);
      for (let p = 0; p < pixels; p++)
        for (let q = 0; q < ys && p * ys + q < yext; q++) {
          const i = p * ys + q;
          if (q >= s.cout) {
            if (y[i] !== SENTINEL) expect.fail(`${label} [${cfg.label}]: wrote the gap at ${i}`);
            continue;
          }
          let v = sum[p * s.cout + q] + (useBias ? bias[q] : 0) + (useRes ? res[i] : 0);
          const tol = 1e-5 * (mag[p * s.cout + q] + Math.abs(bias[q]) + Math.abs(res[i])) + 1e-6;
          if (relu && v < 0) v = 0;
          if (!(Math.abs(y[i] - v) <= tol)) expect.fail(`${label} [${cfg.label}]: element ${i} is ${y[i]}, expected ${v}`);
        }
      if (cfg.label.endsWith('threads 1')) first = Float32Array.from(y);
      else if (first && cfg.label.endsWith('threads 2')) expectFloatsExact(y, first, `${label}: 2 threads vs 1`);
    }
  }
}

export function checkDense(api: KernelApi, arena: ArenaFactory, configs: Config[], rng: Rng, cases: number): void {
  for (let t = 0; t < cases; t++) {
    const n = 1 + rng.int(8);
    const inputs = rng.pick([1, 3, 17, 64, 100]);
    const outputs = rng.pick([1, 7, 16, 63, 65, 130]);
    const useBias = rng.int(2) === 1;
    const x = Float32Array.from({ length: n * inputs }, () => rng.float());
    const w = Float32Array.from({ length: inputs * outputs }, () => rng.float());
    const bias = Float32Array.from({ length: outputs }, () => rng.float());
    const plan = new Plan();
    const o = { x: plan.alloc(x.length * 4, 4, 4), w: plan.alloc(w.length * 4, 4, 4), b: plan.alloc(outputs * 4), y: plan.alloc(n * outputs * 4, 4, 4) };
    const { buffer, base } = arena(plan.top);
    const m = new Mem(buffer, base);
    m.f32(o.x, x.length).set(x);
    m.f32(o.w, w.length).set(w);
    m.f32(o.b, outputs).set(bias);
    for (const cfg of configs) {
      cfg.setup();
      api.denseF32(buffer, m.at(o.x), m.at(o.w), m.at(useBias ? o.b : -1), m.at(o.y), n, inputs, outputs);
      const y = m.f32(o.y, n * outputs);
      for (let r = 0; r < n; r++)
        for (let q = 0; q < outputs; q++) {
          let v = useBias ? bias[q] : 0;
          let mg = Math.abs(v);
          for (let k = 0; k < inputs; k++) {
            v += x[r * inputs + k] * w[k * outputs + q];
            mg += Math.abs(x[r * inputs + k] * w[k * outputs + q]);
          }
          if (!(Math.abs(y[r * outputs + q] - v) <= 1e-5 * mg + 1e-6))
            expect.fail(`dense ${n}x${inputs}->${outputs} [${cfg.label}]: ${y[r * outputs + q]} vs ${v}`);
        }
    }
  }
}

export function checkPools(api: KernelApi, arena: ArenaFactory, configs: Config[], rng: Rng, cases: number): void {
  for (let t = 0; t < cases; t++) {
    const kh = 1 + rng.int(3);
    const kw = 1 + rng.int(3);
    const c = rng.pick([1, 3, 17, 48, 64, 100, 130]);
    const s: ConvShape = {
      n: 1 + rng.int(2), h: kh + rng.int(6), w: kw + rng.int(6), cin: c, cout: c, kh, kw,
      sh: 1 + rng.int(2), sw: 1 + rng.int(2), pt: rng.int(kh), pl: rng.int(kw), pb: rng.int(kh), pr: rng.int(kw),
      dh: 1, dw: 1, groups: 1,
    };
    const { pixels } = outSize(s);
    const x = Float32Array.from({ length: s.n * s.h * s.w * c }, () => rng.float());
    const plan = new Plan();
    const ox = plan.alloc(x.length * 4, 4, 4);
    const oy = plan.alloc(pixels * c * 4, 4, 4);
    const { buffer, base } = arena(plan.top);
    const m = new Mem(buffer, base);
    m.f32(ox, x.length).set(x);
    const ints = [s.n, s.h, s.w, c, kh, kw, s.sh, s.sw, s.pt, s.pl, s.pb, s.pr];
    for (const cfg of configs) {
      cfg.setup();
      api.maxpoolF32(buffer, m.at(ox), m.at(oy), ...ints);
      expectFloatsExact(m.f32(oy, pixels * c), refPool(s, x, false), `maxpool ${describeShape(s)} [${cfg.label}]`);
      api.avgpoolF32(buffer, m.at(ox), m.at(oy), ...ints);
      expectFloatsExact(m.f32(oy, pixels * c), refPool(s, x, true), `avgpool ${describeShape(s)} [${cfg.label}]`);
      if (!api.maxpoolReluF32) throw new Error('the kernels lack maxpoolReluF32');
      api.maxpoolReluF32(buffer, m.at(ox), m.at(oy), ...ints);
      expectFloatsExact(m.f32(oy, pixels * c), refPool(s, x.map((v) => (v > 0 ? v : 0)), false), `maxpool of relu ${describeShape(s)} [${cfg.label}]`);
    }
  }
}

/**
 * A stem with its max pool fused (conv2dF32Maxpool): exactly the reference max pool of the conv's own output
 * (conv2dF32, checked against the float64 reference by checkConv), on every config; where the kernels have it,
 * conv2dF32MaxpoolPack the same floats and their signs packed (of a batch norm of them every other case). The first case is Bi-Real's;
 * every third reads the image in NCHW, every fourth has no pool (a 1×1 /1 window: exactly the conv's output);
 * every other one has a PReLU after the conv (Real-to-Binary Net's stem), a float32 product where negative.
 */
export function checkConvMaxpool(api: KernelApi, arena: ArenaFactory, configs: Config[], rng: Rng, cases: number): void {
  if (!api.conv2dF32Maxpool || !api.conv2dF32MaxpoolScratchBytes) throw new Error('the kernels lack conv2dF32Maxpool');
  for (let t = 0; t < cases; t++) {
    const k = t === 0 ? 7 : 1 + rng.int(7);
    const conv = t === 0 ? stem(1, 61, 57, 3, 64, 7, 2, [2, 2, 3, 3])
      : stem(1 + rng.int(2), k + rng.int(30), k + rng.int(30), 1 + rng.int(4), rng.pick([1, 16, 17, 32, 64, 65, 130]), k, 1 + rng.int(3),
        [rng.int(k), rng.int(k), rng.int(k), rng.int(k)]);
    const { ho, wo, pixels } = outSize(conv);
    const nchw = t % 3 === 1 ? 1 : 0;
    const identity = t % 4 === 3;
    const pk = t === 0 ? 3 : identity ? 1 : 1 + rng.int(Math.min(3, ho, wo));
    const pool: ConvShape = {
      n: conv.n, h: ho, w: wo, cin: conv.cout, cout: conv.cout, kh: pk, kw: pk, sh: t === 0 ? 2 : identity ? 1 : 1 + rng.int(2), sw: t === 0 ? 2 : identity ? 1 : 1 + rng.int(2),
      pt: t === 0 ? 0 : rng.int(pk), pl: t === 0 ? 0 : rng.int(pk), pb: t === 0 ? 1 : rng.int(pk), pr: t === 0 ? 1 : rng.int(pk), dh: 1, dw: 1, groups: 1,
    };
    const pooled = outSize(pool).pixels * conv.cout;
    const window = [pool.kh, pool.kw, pool.sh, pool.sw, pool.pt, pool.pl, pool.pb, pool.pr];
    const relu = rng.int(2);
    const alpha = t % 2 === 1 ? Float32Array.from({ length: conv.cout }, () => rng.float()) : null;
    const x = Float32Array.from({ length: conv.n * conv.h * conv.w * conv.cin }, () => rng.float());
    const xNchw = new Float32Array(x.length); // the same image in NCHW
    const hw = conv.h * conv.w;
    for (let i = 0; i < conv.n; i++)
      for (let p = 0; p < hw; p++) for (let c = 0; c < conv.cin; c++) xNchw[(i * conv.cin + c) * hw + p] = x[(i * hw + p) * conv.cin + c];
    const wt = Float32Array.from({ length: conv.cout * conv.cin * k * k }, () => rng.float());
    const bias = Float32Array.from({ length: conv.cout }, () => rng.float());
    const plan = new Plan();
    const o = {
      x: plan.alloc(x.length * 4, 4, 4), xc: plan.alloc(x.length * 4, 4, 4), w: plan.alloc(wt.length * 4), b: plan.alloc(conv.cout * 4), a: plan.alloc(conv.cout * 4),
      pw: plan.alloc(api.conv2dF32PackedWeightsBytes(conv.cout, conv.cin, k, k, 1), 4, 4),
      conv: plan.alloc(pixels * conv.cout * 4, 4, 4), y: plan.alloc(pooled * 4, 4, 4),
      scratch: plan.alloc(api.conv2dF32ScratchBytes(...shapeInts(conv)), 8, 8),
      fused: plan.alloc(api.conv2dF32MaxpoolScratchBytes(...shapeInts(conv), ...window), 8, 8),
      yp: plan.alloc(outSize(pool).pixels * packedWords(conv.cout, 1) * 8, 8, 8), ps: plan.alloc(conv.cout * 4), pt: plan.alloc(conv.cout * 4),
    };
    const packScale = Float32Array.from({ length: conv.cout }, () => rng.float()), packShift = Float32Array.from({ length: conv.cout }, () => rng.float() - 0.5);
    const { buffer, base } = arena(plan.top);
    const m = new Mem(buffer, base);
    m.f32(o.x, x.length).set(x);
    m.f32(o.xc, x.length).set(xNchw);
    m.f32(o.w, wt.length).set(wt);
    m.f32(o.b, bias.length).set(bias);
    if (alpha) m.f32(o.a, alpha.length).set(alpha);
    m.f32(o.ps, conv.cout).set(packScale);
    m.f32(o.pt, conv.cout).set(packShift);
    api.conv2dF32PackWeights(buffer, m.at(o.w), m.at(o.pw), conv.cout, conv.cin, k, k, 1);
    for (const cfg of configs) {
      cfg.setup();
      api.conv2dF32(buffer, m.at(o.x), m.at(o.pw), m.at(o.b), -1, m.at(o.conv), m.at(o.scratch), ...shapeInts(conv), 0, relu);
      const convOut = Float32Array.from(m.f32(o.conv, pixels * conv.cout));
      if (alpha) convOut.forEach((v, i) => (convOut[i] = v < 0 ? Math.fround(alpha[i % conv.cout] * v) : v));
      const want = refPool(pool, convOut, false);
      m.f32(o.y, pooled).fill(SENTINEL);
      api.conv2dF32Maxpool(buffer, m.at(nchw ? o.xc : o.x), m.at(o.pw), m.at(o.b), alpha ? m.at(o.a) : -1, m.at(o.y), m.at(o.fused), ...shapeInts(conv), relu, nchw, ...window);
      const what = `conv+maxpool ${describeShape(conv)}${nchw ? ' nchw' : ''}${alpha ? ' prelu' : ''} pool ${describeShape(pool)} [${cfg.label}]`;
      expectFloatsExact(m.f32(o.y, pooled), want, what);
      if (!api.conv2dF32MaxpoolPack) continue;
      // the same pass packing the signs of its output, or of a batch norm of it (every other case): bit 1 where
      // y·scale + shift < 0 in float32, as packSignsAffine thresholds
      const affine = t % 2 === 0;
      const signsOf = affine ? Float32Array.from(want, (v, i) => fround(fround(v * packScale[i % conv.cout]) + packShift[i % conv.cout])) : want;
      const wantPacked = refPack(signsOf, outSize(pool).pixels, conv.cout, conv.cout, 1);
      m.f32(o.y, pooled).fill(SENTINEL);
      const packed = m.u32(o.yp, wantPacked.length).fill(0xa5a5a5a5);
      api.conv2dF32MaxpoolPack(buffer, m.at(nchw ? o.xc : o.x), m.at(o.pw), m.at(o.b), alpha ? m.at(o.a) : -1, m.at(o.y), m.at(o.yp), affine ? m.at(o.ps) : -1, affine ? m.at(o.pt) : -1, m.at(o.fused), ...shapeInts(conv), relu, nchw, ...window);
      expectFloatsExact(m.f32(o.y, pooled), want, `${what}, packing`);
      expect(Array.from(packed), `${what}: its packed signs${affine ? ' (of a batch norm)' : ''}`).toEqual(Array.from(wantPacked));
    }
  }
}

/**
 * A 1×1 conv over the 2×2 /2 average pool of its input, fused (conv2dF32Avgpool2), against the two steps it
 * replaces (avgpoolF32 into a stored map, then conv2dF32): the same floats, bit for bit, with and without
 * bias, residual, relu and an output stride; odd input sizes drop their last row and column as the pool does.
 */
export function checkConvAvgpool2(api: KernelApi, arena: ArenaFactory, configs: Config[], rng: Rng, cases: number): void {
  if (!api.conv2dF32Avgpool2 || !api.conv2dF32Avgpool2ScratchBytes) throw new Error('the kernels lack conv2dF32Avgpool2');
  for (let t = 0; t < cases; t++) {
    const bireal = t === 0; // Bi-Real's first shortcut: 56×56×64 pooled, then 1×1 to 128
    const n = bireal ? 1 : 1 + rng.int(2), h = bireal ? 56 : 2 + rng.int(15), w = bireal ? 56 : 2 + rng.int(15);
    const cin = bireal ? 64 : rng.pick([1, 3, 16, 17, 64, 100]), cout = bireal ? 128 : rng.pick([1, 16, 17, 63, 64, 130]);
    const pool: ConvShape = { n, h, w, cin, cout: cin, kh: 2, kw: 2, sh: 2, sw: 2, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1 };
    const { ho, wo } = outSize(pool);
    const conv: ConvShape = { n, h: ho, w: wo, cin, cout, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1 };
    const pixels = n * ho * wo, ys = rng.int(3) === 0 ? cout + 1 + rng.int(9) : 0, stride = ys || cout;
    const yext = (pixels - 1) * stride + cout, relu = rng.int(2), withBias = rng.int(3) > 0, withRes = rng.int(3) === 0;
    const x = Float32Array.from({ length: n * h * w * cin }, () => rng.float());
    const wt = Float32Array.from({ length: cout * cin }, () => rng.float());
    const bias = Float32Array.from({ length: cout }, () => rng.float());
    const res = Float32Array.from({ length: yext }, () => rng.float());
    const plan = new Plan();
    const o = {
      x: plan.alloc(x.length * 4, 4, 4), w: plan.alloc(wt.length * 4), b: plan.alloc(cout * 4), res: plan.alloc(yext * 4, 4, 4),
      pw: plan.alloc(api.conv2dF32PackedWeightsBytes(cout, cin, 1, 1, 1), 4, 4), pooled: plan.alloc(pixels * cin * 4, 4, 4),
      want: plan.alloc(yext * 4, 4, 4), y: plan.alloc(yext * 4, 4, 4),
      scratch: plan.alloc(api.conv2dF32ScratchBytes(...shapeInts(conv)), 8, 8), fused: plan.alloc(api.conv2dF32Avgpool2ScratchBytes(n, h, w, cin, cout), 8, 8),
    };
    const { buffer, base } = arena(plan.top);
    const m = new Mem(buffer, base);
    for (const [at, values] of [[o.x, x], [o.w, wt], [o.b, bias], [o.res, res]] as const) m.f32(at, values.length).set(values);
    api.conv2dF32PackWeights(buffer, m.at(o.w), m.at(o.pw), cout, cin, 1, 1, 1);
    for (const cfg of configs) {
      cfg.setup();
      m.f32(o.want, yext).fill(SENTINEL);
      m.f32(o.y, yext).fill(SENTINEL);
      api.avgpoolF32(buffer, m.at(o.x), m.at(o.pooled), n, h, w, cin, 2, 2, 2, 2, 0, 0, 0, 0);
      expectFloatsExact(m.f32(o.pooled, pixels * cin), refPool(pool, x, true), `avgpool 2x2 ${describeShape(pool)} [${cfg.label}]`);
      const [b, r] = [withBias ? m.at(o.b) : -1, withRes ? m.at(o.res) : -1];
      api.conv2dF32(buffer, m.at(o.pooled), m.at(o.pw), b, r, m.at(o.want), m.at(o.scratch), ...shapeInts(conv), ys, relu);
      api.conv2dF32Avgpool2(buffer, m.at(o.x), m.at(o.pw), b, r, m.at(o.y), m.at(o.fused), n, h, w, cin, cout, ys, relu);
      expectFloatsExact(m.f32(o.y, yext), Float32Array.from(m.f32(o.want, yext)), `avgpool 2x2 + 1x1 conv ${describeShape(conv)} from ${h}x${w} ys ${ys} relu ${relu} bias ${withBias} res ${withRes} [${cfg.label}]`);
    }
  }
}

export function checkElementwise(api: KernelApi, arena: ArenaFactory, rng: Rng): void {
  const pixels = 9;
  const c = 13;
  const ys = 16;
  const yext = (pixels - 1) * ys + c;
  const x = Float32Array.from({ length: pixels * c }, () => rng.float());
  x.set([-0, 0, NaN, Infinity, -Infinity], 0);
  const sc = Float32Array.from({ length: c }, () => rng.float());
  const sh = Float32Array.from({ length: c }, () => rng.float());
  const x2 = Float32Array.from({ length: pixels * c }, () => rng.float());
  const plan = new Plan();
  const o = { x: plan.alloc(x.length * 4), x2: plan.alloc(x.length * 4), s: plan.alloc(c * 4), t: plan.alloc(c * 4), y: plan.alloc(yext * 4), z: plan.alloc(x.length * 4), zp: plan.alloc(pixels * 8, 8, 8) };
  const { buffer, base } = arena(plan.top);
  const m = new Mem(buffer, base);
  m.f32(o.x, x.length).set(x);
  m.f32(o.x2, x.length).set(x2);
  m.f32(o.s, c).set(sc);
  m.f32(o.t, c).set(sh);
  const rowwise = (name: string, run: () => void, f: (v: number, q: number) => number): void => {
    m.f32(o.y, yext).fill(SENTINEL);
    run();
    const want = new Float32Array(yext).fill(SENTINEL);
    for (let p = 0; p < pixels; p++) for (let q = 0; q < c; q++) want[p * ys + q] = f(x[p * c + q], q);
    expectFloatsExact(m.f32(o.y, yext), want, name);
  };
  rowwise('affine', () => api.affineF32(buffer, m.at(o.x), m.at(o.s), m.at(o.t), m.at(o.y), pixels, c, ys), (v, q) => fround(fround(v * sc[q]) + sh[q]));
  rowwise('relu', () => api.reluF32(buffer, m.at(o.x), m.at(o.y), pixels, c, ys), (v) => (v > 0 ? v : 0));
  rowwise('prelu', () => api.preluF32(buffer, m.at(o.x), m.at(o.s), m.at(o.y), pixels, c, ys), (v, q) => (v < 0 ? fround(sc[q] * v) : v));
  rowwise('clip', () => api.clipF32(buffer, m.at(o.x), m.at(o.y), pixels, c, ys, -0.5, 0.25), (v) => (v < -0.5 ? -0.5 : v > 0.25 ? 0.25 : v));
  rowwise('sign', () => api.signF32(buffer, m.at(o.x), m.at(o.y), pixels, c, ys), (v) => (v < 0 ? -1 : 1));
  rowwise('copy', () => api.copyF32(buffer, m.at(o.x), m.at(o.y), pixels, c, ys), (v) => v);
  const n = pixels * c;
  api.addF32(buffer, m.at(o.x), m.at(o.x2), m.at(o.z), n);
  expectFloatsExact(m.f32(o.z, n), x.map((v, i) => fround(v + x2[i])), 'add');
  api.maxF32(buffer, m.at(o.x), m.at(o.x2), m.at(o.z), n);
  expectFloatsExact(m.f32(o.z, n), x.map((v, i) => (v > x2[i] ? v : x2[i])), 'max');
  api.scaleF32(buffer, m.at(o.x), 0.375, m.at(o.z), n);
  expectFloatsExact(m.f32(o.z, n), x.map((v) => fround(v * 0.375)), 'scale');
  if (api.sumF32) {
    // a mean of three, x2 twice: ((x + x2) + x2) · fround(1/3), its signs packed
    api.sumF32(buffer, m.at(o.x), m.at(o.x2), m.at(o.x2), -1, 1 / 3, m.at(o.z), m.at(o.zp), pixels, c, 0);
    const mean = x.map((v, i) => fround(fround(fround(v + x2[i]) + x2[i]) * fround(1 / 3)));
    expectFloatsExact(m.f32(o.z, n), mean, 'sum');
    expect(Array.from(m.u32(o.zp, pixels * 2)), 'sum: signs').toEqual(Array.from(refPack(mean, pixels, c, c, 1)));
    // into a slice of wider pixels (a concat's channels, ys floats a pixel): the gaps keep their floats
    const slice = m.f32(o.y, yext);
    slice.fill(SENTINEL);
    api.sumF32(buffer, m.at(o.x), m.at(o.x2), -1, -1, 1, m.at(o.y), -1, pixels, c, ys);
    const want = Float32Array.from(slice);
    for (let p = 0; p < pixels; p++) for (let q = 0; q < c; q++) want[p * ys + q] = fround(x[p * c + q] + x2[p * c + q]);
    expectFloatsExact(slice, want, 'sum into a slice');
  }
  // layouts: 1 x 13 x 3 x 3 NCHW
  api.nchwToNhwc(buffer, m.at(o.x), m.at(o.z), 1, c, 3, 3);
  const nhwc = new Float32Array(n);
  for (let q = 0; q < c; q++) for (let p = 0; p < 9; p++) nhwc[p * c + q] = x[q * 9 + p];
  expectFloatsExact(m.f32(o.z, n), nhwc, 'nchwToNhwc');
  api.nhwcToNchw(buffer, m.at(o.z), m.at(o.x2), 1, c, 3, 3);
  expectFloatsExact(m.f32(o.x2, n), x, 'nhwcToNchw');
  api.globalAvgpoolF32(buffer, m.at(o.x), m.at(o.z), 1, pixels, c);
  // each half of the pixels summed in pixel order, then the halves added (the same for any thread count)
  const gap = new Float32Array(c);
  for (let q = 0; q < c; q++) {
    let first = 0;
    let second = 0;
    for (let p = 0; p < pixels; p++) {
      if (p < Math.floor(pixels / 2)) first = fround(first + x[p * c + q]);
      else second = fround(second + x[p * c + q]);
    }
    gap[q] = fround(fround(first + second) / pixels);
  }
  expectFloatsExact(m.f32(o.z, c), gap, 'globalAvgpool');
}
