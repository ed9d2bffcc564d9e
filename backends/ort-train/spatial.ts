/**
 * Gradients of the windowed ops (convolution and pooling) in standard ONNX operators (and, on the CPU,
 * onnxruntime's blocked convolution). Shapes are per sample (`[C, H, W]`); the batch axis stays symbolic, so
 * every Reshape keeps it with 0 or −1.
 *
 * Choices measured on onnxruntime's CPU kernels (bench/train.ts): the input gradient of a stride-1
 * convolution is a plain Conv with the flipped, transposed kernel (ORT's Conv is ~3× faster than its
 * ConvTranspose), on the CPU's blocked NCHWc kernels where the channels allow (nchwc.ts); strided
 * convolutions use ConvTranspose. The weight gradient is one GEMM of the output
 * gradient against the shifted input windows (im2col by Slice), which beats a Conv with batch and
 * channel axes swapped by 2–4× on these shapes; on the CPU, one GEMM per sample and window
 * (com.microsoft's FusedMatMul, batched over the samples) then a sum over the samples, which needs no
 * transposed copies and keeps both threads busy where the single small GEMM ran on one; where the input
 * fills AVX-512's 16-channel NCHWc blocks, the windows are one-hot depthwise blocked convs instead of
 * Slices (blockedWindowWeightGrad).
 */
import type { OpAttrs, Pads, Pair } from '../../src/graph/types.js';
import { convAttributes } from '../onnx/attributes.js';
import { tensorProto } from '../onnx/proto.js';
import { BEFORE_START, type Emitter } from './emitter.js';
import { interleave } from './interleave.js';
import { blockedInput, fillsBlocks, NCHWC_DOMAIN, nchwcConv } from './nchwc.js';
import { phasedInputGrad } from './phases.js';
import { gate } from './pointwise.js';

type ConvAttrs = OpAttrs['conv'];

/** Pads of the stride-1 input-gradient convolution, or null when one would be negative. */
function flippedPads(a: ConvAttrs): Pads | null {
  if (a.stride[0] !== 1 || a.stride[1] !== 1) return null;
  const reach: Pair = [(a.kernel[0] - 1) * a.dilation[0], (a.kernel[1] - 1) * a.dilation[1]];
  const pads: Pads = [reach[0] - a.pads[0], reach[1] - a.pads[1], reach[0] - a.pads[2], reach[1] - a.pads[3]];
  return pads.every((p) => p >= 0) ? pads : null;
}

/** The kernel of the input-gradient conv: per group, output and input channels swapped, taps flipped. */
function flippedKernel(e: Emitter, w: string, a: ConvAttrs, inChannels: number): string {
  const [o, kh, kw] = [a.filters, a.kernel[0], a.kernel[1]];
  const g = a.groups;
  const swapped =
    g === 1
      ? e.op('Transpose', [w], { perm: [1, 0, 2, 3] })
      : e.op('Reshape', [
          e.op('Transpose', [e.op('Reshape', [w, e.i64([g, o / g, inChannels / g, kh, kw])])], { perm: [0, 2, 1, 3, 4] }),
          e.i64([inChannels, o / g, kh, kw]),
        ]);
  return e.op('Slice', [swapped, e.i64([-1, -1]), e.i64([BEFORE_START, BEFORE_START]), e.i64([2, 3]), e.i64([-1, -1])], {}, { hint: 'wflip' });
}

/**
 * dL/dx of a convolution with kernel `w` (already quantized), input `[C, H, W]`, output `[O, oh, ow]`.
 * `nchwcBlock` > 0: the CPU's NCHWc channel block (nchwc.ts), used where the channels allow it.
 */
export function convInputGrad(e: Emitter, dy: string, w: string, a: ConvAttrs, inShape: readonly number[], outShape: readonly number[], nchwcBlock = 0): string {
  const [c, h, wd] = inShape;
  const pads = flippedPads(a);
  if (pads) {
    const kernel = flippedKernel(e, w, a, c);
    if (fillsBlocks(nchwcBlock, a.groups, c, a.filters)) {
      return nchwcConv(e, dy, kernel, { kernel: a.kernel, pads, dilation: a.dilation }, { in: a.filters, out: c }, nchwcBlock, 'dx');
    }
    return e.op('Conv', [dy, kernel], { kernel_shape: [...a.kernel], pads, dilations: [...a.dilation], group: a.groups }, { hint: 'dx' });
  }
  const phased = phasedInputGrad(e, dy, w, a, inShape, outShape, nchwcBlock);
  if (phased) return phased;
  const reach = (i: 0 | 1) => (outShape[1 + i] - 1) * a.stride[i] + (a.kernel[i] - 1) * a.dilation[i] + 1 - a.pads[i] - a.pads[i + 2];
  return e.op(
    'ConvTranspose',
    [dy, w],
    { ...convAttributes(a), output_padding: [h - reach(0), wd - reach(1)] },
    { hint: 'dx' },
  );
}

/**
 * dL/dW `[O, C/g, kh, kw]`: Σ over batch and positions of dy[n,o,i,j] · x_padded[n,c, i·s + ki·d, j·s + kj·d],
 * as one GEMM per group of dy `[O, N·oh·ow]` against the window matrix `[C·kh·kw, N·oh·ow]`, or (`perSample`,
 * the CPU provider's operators, one group) as GEMMs per sample summed over the samples (perSampleWeightGrad).
 */
export function convWeightGrad(e: Emitter, x: string, dy: string, a: ConvAttrs, inShape: readonly number[], outShape: readonly number[], perSample = false, block = 0): string {
  const [c] = inShape;
  const [o, oh, ow] = outShape;
  const [kh, kw] = a.kernel;
  const g = a.groups;
  const pads = flippedPads(a);
  // Blocked windows before dy's shifted windows: drf-c2-small's steps ran 1.05× faster so (2026-12-06).
  if (perSample && block === BLOCKED_WINDOWS_BLOCK && g === 1 && kh * kw > 1 && c % block === 0) return blockedWindowWeightGrad(e, x, dy, a, inShape, outShape, block);
  if (pads && g === 1 && o < c && kh * kw > 1) return shiftedGradientWeightGrad(e, x, dy, a, inShape, o, pads, perSample);
  if (perSample && g === 1) return perSampleWeightGrad(e, x, dy, a, inShape, outShape);
  // Channels first, batch second, so each window slice flattens to rows of the GEMM operand.
  const xt = e.op('Transpose', [x], { perm: [1, 0, 2, 3] }, { hint: 'xT' });
  const padded = padSpatial(e, xt, a.pads, 'xTpad');
  let cols: string;
  if (kh === 1 && kw === 1 && a.stride[0] === 1 && a.stride[1] === 1) {
    cols = e.op('Reshape', [padded, e.i64([c, -1])], {}, { hint: 'cols' });
  } else {
    const taps = tapWindows(e, padded, a, outShape);
    if (g === 1) {
      // One GEMM per tap: no stacked window matrix to write and read back (measured ~8 % faster per step).
      const dym = e.op('Reshape', [e.op('Transpose', [dy], { perm: [1, 0, 2, 3] }), e.i64([o, -1])], {}, { hint: 'dyM' });
      const parts = taps.map((t) => e.op('Unsqueeze', [e.op('Gemm', [dym, e.op('Reshape', [t, e.i64([c, -1])])], { transB: 1 }, { hint: 'dWtap' }), e.i64([2])]));
      return e.op('Reshape', [e.op('Concat', parts, { axis: 2 }), e.i64([o, c, kh, kw])], {}, { hint: 'dW' });
    }
    const stacked = e.op('Concat', taps.map((t) => e.op('Unsqueeze', [t, e.i64([1])])), { axis: 1 }, { hint: 'windows' });
    cols = e.op('Reshape', [stacked, e.i64([c * kh * kw, -1])], {}, { hint: 'cols' });
  }
  const dym = e.op('Reshape', [e.op('Transpose', [dy], { perm: [1, 0, 2, 3] }), e.i64([o, -1])], {}, { hint: 'dyM' });
  const perGroup: string[] = [];
  for (let gi = 0; gi < g; gi++) {
    const rows = (m: string, size: number) =>
      g === 1 ? m : e.op('Slice', [m, e.i64([gi * size]), e.i64([(gi + 1) * size]), e.i64([0])]);
    perGroup.push(e.op('Gemm', [rows(dym, o / g), rows(cols, (c / g) * kh * kw)], { transB: 1 }, { hint: 'dWg' }));
  }
  const flat = g === 1 ? perGroup[0] : e.op('Concat', perGroup, { axis: 0 });
  return e.op('Reshape', [flat, e.i64([o, c / g, kh, kw])], {}, { hint: 'dW' });
}

/**
 * dL/dW of a stride-1, one-group convolution with fewer output than input channels (a dense block's
 * growth layers): the windows are taken of dy instead of x. With the output gradient padded as for
 * the input gradient (`flippedPads`), dW[o, c, ki, kj] = Σ over batch and input positions q of
 * x[n, c, q] · dy_padded[n, o, q + ((kh−1−ki)·d, (kw−1−kj)·d)], so each tap slices the O-channel dy
 * rather than the C-channel input: kh·kw copies of the smaller tensor, and no padded copy of x.
 */
function shiftedGradientWeightGrad(e: Emitter, x: string, dy: string, a: ConvAttrs, inShape: readonly number[], o: number, pads: Pads, perSample: boolean): string {
  const [c, h, w] = inShape;
  const [kh, kw] = a.kernel;
  // Per sample (NCHW as it is) or channels first (the batch folded into each GEMM's rows).
  const xm = perSample ? e.op('Reshape', [x, e.i64([0, c, h * w])], {}, { hint: 'x3' }) : e.op('Reshape', [e.op('Transpose', [x], { perm: [1, 0, 2, 3] }, { hint: 'xT' }), e.i64([c, -1])], {}, { hint: 'xM' });
  const dyt = perSample ? dy : e.op('Transpose', [dy], { perm: [1, 0, 2, 3] }, { hint: 'dyT' });
  const padded = padSpatial(e, dyt, pads, 'dyTpad');
  const parts: string[] = [];
  for (let ki = 0; ki < kh; ki++) {
    for (let kj = 0; kj < kw; kj++) {
      const top = (kh - 1 - ki) * a.dilation[0];
      const left = (kw - 1 - kj) * a.dilation[1];
      const tap = e.op('Slice', [padded, e.i64([top, left]), e.i64([top + h, left + w]), e.i64([2, 3])], {}, { hint: 'dytap' });
      const dWtap = perSample
        ? sampleSum(e, e.op('Reshape', [tap, e.i64([0, o, h * w])]), xm)
        : e.op('Gemm', [e.op('Reshape', [tap, e.i64([o, -1])]), xm], { transB: 1 }, { hint: 'dWtap' });
      parts.push(e.op('Unsqueeze', [dWtap, e.i64([2])]));
    }
  }
  return e.op('Reshape', [e.op('Concat', parts, { axis: 2 }), e.i64([o, c, kh, kw])], {}, { hint: 'dW' });
}

/**
 * dL/dW of a one-group convolution on the CPU: for each kernel tap, one GEMM per sample of dy `[O, oh·ow]`
 * against the tap's window of the padded input `[C, oh·ow]` (FusedMatMul with transB, batched over the
 * samples: NCHW needs no transposed copy), summed over the samples. Against the channels-first GEMMs
 * (one `[O, N·oh·ow]` × `[N·oh·ow, C]` GEMM a tap, which onnxruntime runs on one thread): 1.35–1.37× at
 * 32 channels 28×28, 1.04–1.22× at 64 at 14×14, 0.89–1.15× at 128 at 7×7 (batch 128, 2 threads,
 * 2026-12-06); whole steps gained no more with the 7×7 convs left channels first, so there is no size limit.
 */
function perSampleWeightGrad(e: Emitter, x: string, dy: string, a: ConvAttrs, inShape: readonly number[], outShape: readonly number[]): string {
  const [c] = inShape;
  const [o, oh, ow] = outShape;
  const [kh, kw] = a.kernel;
  const dy3 = e.op('Reshape', [dy, e.i64([0, o, oh * ow])], {}, { hint: 'dy3' });
  const windows = tapWindows(e, padSpatial(e, x, a.pads, 'xpad'), a, outShape, { unpadded: x, shape: inShape });
  const parts = windows.map((w) => e.op('Unsqueeze', [sampleSum(e, dy3, e.op('Reshape', [w, e.i64([0, c, oh * ow])])), e.i64([2])]));
  return e.op('Reshape', [e.op('Concat', parts, { axis: 2 }), e.i64([o, c, kh, kw])], {}, { hint: 'dW' });
}

/**
 * The NCHWc block that blockedWindowWeightGrad was measured with (AVX-512's 16 channels); with AVX2's 8 the
 * per-sample GEMMs would be 8 columns wide, so those CPUs keep the per-sample form.
 */
const BLOCKED_WINDOWS_BLOCK = 16;

/**
 * dL/dW of a one-group convolution whose input channels fill NCHWc blocks, on the CPU: each kernel tap's
 * window of the input is a depthwise blocked convolution with a one-hot kernel (exact: every output is
 * one input times 1 plus zeros), which onnxruntime threads and vectorises where its Slice copies short rows
 * on one thread; then, per sample, dy `[O, oh·ow]` times the blocked window `[C/B, oh·ow, B]` (MatMul
 * broadcasting dy over the blocks), summed over the samples. The blocked input is the forward conv's.
 * Against Slice windows (perSampleWeightGrad), one conv's weight gradient, batch 128, 2 threads, kernels only: 1.4× at 32 channels 28×28, 2.2× at 64 at 14×14, 1.24× at 128
 * at 7×7; whole steps 1.03–1.11× (rf-c3-small), 1.09× (bireal-small), 1.05× (drf-c2-small), 2026-12-06.
 */
function blockedWindowWeightGrad(e: Emitter, x: string, dy: string, a: ConvAttrs, inShape: readonly number[], outShape: readonly number[], block: number): string {
  const [c] = inShape;
  const [o, oh, ow] = outShape;
  const [kh, kw] = a.kernel;
  const blocked = blockedInput(e, x);
  const dyPerSample = e.op('Reshape', [dy, e.i64([0, 1, o, oh * ow])], {}, { hint: 'dy4' });
  const attrs = { kernel_shape: [kh, kw], strides: [...a.stride], pads: [...a.pads], dilations: [...a.dilation], group: c };
  const parts: string[] = [];
  for (let ki = 0; ki < kh; ki++) {
    for (let kj = 0; kj < kw; kj++) {
      const window = tapIsInput(a, ki, kj, inShape, outShape) ? blocked : e.op('Conv', [blocked, oneHotDepthwiseKernel(e, c, block, kh, kw, ki, kj)], attrs, { hint: 'tap', domain: NCHWC_DOMAIN });
      const rows = e.op('Reshape', [window, e.i64([0, c / block, oh * ow, block])], {}, { hint: 'window' });
      const perSample = e.op('MatMul', [dyPerSample, rows], {}, { hint: 'dWsample' });
      parts.push(e.op('Unsqueeze', [sumOverSamples(e, perSample), e.i64([3])]));
    }
  }
  // [C/B, O, B, kh·kw] → [O, C, kh, kw]
  const stacked = e.op('Concat', parts, { axis: 3 });
  return e.op('Reshape', [e.op('Transpose', [stacked], { perm: [1, 0, 2, 3] }), e.i64([o, c, kh, kw])], {}, { hint: 'dW' });
}

/** A depthwise kernel `[C, 1, kh, kw]` that is 1 at tap (ki, kj) and 0 elsewhere, in NCHWc's blocked order `[C/B, kh, kw, B]`. */
function oneHotDepthwiseKernel(e: Emitter, c: number, block: number, kh: number, kw: number, ki: number, kj: number): string {
  return e.once(`onehot:${c}:${block}:${kh}x${kw}:${ki},${kj}`, () => {
    const data = new Float32Array(c * kh * kw);
    for (let cb = 0; cb < c / block; cb++) data.fill(1, ((cb * kh + ki) * kw + kj) * block, ((cb * kh + ki) * kw + kj + 1) * block);
    return e.tensor([c, 1, kh, kw], data, 'onehot');
  });
}

/** `x` (NCHW, or channels first) padded on its spatial axes 2 and 3 by the conv's pads. */
function padSpatial(e: Emitter, x: string, pads: Pads, hint: string): string {
  return pads.some((p) => p !== 0) ? e.op('Pad', [x, e.i64([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]])], {}, { hint }) : x;
}

/**
 * The window of each kernel tap, row by row, in `padded` (spatial axes 2 and 3): the input positions that
 * tap meets at the outputs `[oh, ow]`. With `whole`, the window that is the unpadded input itself (a 1×1
 * conv's, a 3×3 conv's centre, at stride 1) is that input rather than a copy.
 */
function tapWindows(e: Emitter, padded: string, a: ConvAttrs, outShape: readonly number[], whole?: { unpadded: string; shape: readonly number[] }): string[] {
  const [, oh, ow] = outShape;
  const [sh, sw] = a.stride;
  const windows: string[] = [];
  for (let ki = 0; ki < a.kernel[0]; ki++) {
    for (let kj = 0; kj < a.kernel[1]; kj++) {
      const top = ki * a.dilation[0];
      const left = kj * a.dilation[1];
      windows.push(
        whole && tapIsInput(a, ki, kj, whole.shape, outShape)
          ? whole.unpadded
          : e.op('Slice', [padded, e.i64([top, left]), e.i64([top + (oh - 1) * sh + 1, left + (ow - 1) * sw + 1]), e.i64([2, 3]), e.i64([sh, sw])], {}, { hint: 'tap' }),
      );
    }
  }
  return windows;
}

/**
 * Whether tap (ki, kj)'s window is the unpadded input itself: stride 1, the tap at the pads' offset, and an
 * output the input's size (a 1×1 conv's only tap, a 3×3 'same' conv's centre).
 */
function tapIsInput(a: ConvAttrs, ki: number, kj: number, inShape: readonly number[], outShape: readonly number[]): boolean {
  return (
    a.stride[0] === 1 && a.stride[1] === 1 && ki * a.dilation[0] === a.pads[0] && kj * a.dilation[1] === a.pads[1] && outShape[1] === inShape[1] && outShape[2] === inShape[2]
  );
}

/** Σ over samples n of a[n] · b[n]ᵀ: `[N, M, K]` and `[N, P, K]` to `[M, P]`. */
function sampleSum(e: Emitter, a: string, b: string): string {
  return sumOverSamples(e, e.op('FusedMatMul', [a, b], { transB: 1 }, { hint: 'dWsample', domain: CONTRIB_DOMAIN }));
}

/** A per-sample weight gradient `[N, …]` summed over its samples (axis 0). */
function sumOverSamples(e: Emitter, perSample: string): string {
  return e.op('ReduceSum', [perSample, e.i64([0])], { keepdims: 0 }, { hint: 'dWtap' });
}

/** onnxruntime's contributed operators (its CPU provider has them; FusedMatMul is MatMul with transposes). */
const CONTRIB_DOMAIN = 'com.microsoft';

/** dL/dx of max pooling: each output's gradient goes to the input cell that won (first maximum). */
export function maxPoolInputGrad(e: Emitter, x: string, indices: string, dy: string): string {
  const shape = e.op('Shape', [x]);
  const zeros = e.op('ConstantOfShape', [e.op('ReduceProd', [shape], { keepdims: 1 })], {
    value: { tensor: tensorProto('zero', 'float32', [1], Float32Array.of(0)) },
  });
  const flat = e.op(
    'ScatterElements',
    [zeros, e.op('Reshape', [indices, e.i64([-1])]), e.op('Reshape', [dy, e.i64([-1])])],
    { axis: 0, reduction: 'add' },
  );
  return e.op('Reshape', [flat, shape], {}, { hint: 'dx' });
}

/** Windows that tile the map: stride = kernel and no padding (cells past the last window are unused). */
export function tilesWindows(a: { kernel: Pair; stride: Pair; pads: Pads }): boolean {
  return a.stride[0] === a.kernel[0] && a.stride[1] === a.kernel[1] && a.pads.every((p) => p === 0);
}

/**
 * Lays per-tap maps `parts[ki·kw + kj]` of shape `[N, C, oh, ow]` back onto the input grid `[N, C, H, W]`:
 * part (ki, kj) lands on cells (i·kh + ki, j·kw + kj); cells past the last window get 0.
 */
function interleaveTaps(e: Emitter, parts: string[], kernel: Pair, inShape: readonly number[], outShape: readonly number[]): string {
  const [c, h, w] = inShape;
  const [, oh, ow] = outShape;
  return interleave(e, parts, kernel, c, [oh, ow], [h, w]);
}

/**
 * dL/dx of max pooling over tiling windows: each window's gradient goes to its first tap (row-major)
 * equal to the window's maximum `y`.
 */
export function tiledMaxPoolInputGrad(e: Emitter, x: string, y: string, dy: string, a: OpAttrs['maxpool'], inShape: readonly number[], outShape: readonly number[]): string {
  const [, oh, ow] = outShape;
  const [kh, kw] = a.kernel;
  const parts: string[] = [];
  let taken: string | null = null;
  for (let ki = 0; ki < kh; ki++) {
    for (let kj = 0; kj < kw; kj++) {
      const tap = e.op('Slice', [x, e.i64([ki, kj]), e.i64([ki + (oh - 1) * kh + 1, kj + (ow - 1) * kw + 1]), e.i64([2, 3]), e.i64([kh, kw])], {}, { hint: 'tap' });
      const hit = e.op('Equal', [tap, y], {}, { hint: 'hit' });
      const wins: string = taken === null ? hit : e.op('And', [hit, e.op('Not', [taken])], {}, { hint: 'wins' });
      taken = taken === null ? hit : e.op('Or', [taken, hit]);
      parts.push(gate(e, dy, wins, 'dtap'));
    }
  }
  return interleaveTaps(e, parts, a.kernel, inShape, outShape);
}

/** Number of real (unpadded) cells in each window: TF `same` / ONNX count_include_pad = 0. */
export function windowCounts(inShape: readonly number[], outShape: readonly number[], kernel: Pair, stride: Pair, pads: Pads): Float32Array {
  const [, h, w] = inShape;
  const [, oh, ow] = outShape;
  const counts = new Float32Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    const rows = Math.min(i * stride[0] - pads[0] + kernel[0], h) - Math.max(i * stride[0] - pads[0], 0);
    for (let j = 0; j < ow; j++) {
      const cols = Math.min(j * stride[1] - pads[1] + kernel[1], w) - Math.max(j * stride[1] - pads[1], 0);
      counts[i * ow + j] = rows * cols;
    }
  }
  return counts;
}

/** dL/dx of average pooling (padded cells excluded from the count). */
export function avgPoolInputGrad(e: Emitter, dy: string, a: OpAttrs['avgpool'], inShape: readonly number[], outShape: readonly number[]): string {
  const [c, h, w] = inShape;
  const [, oh, ow] = outShape;
  const [kh, kw] = a.kernel;
  if (tilesWindows(a)) {
    // Non-overlapping windows: every cell of a window gets dy / (kh·kw); cells past the last window get 0.
    // Replicated by Concat: ORT's Concat copies whole rows, several times faster than Expand or Resize here.
    const share = e.op('Mul', [dy, e.f32(1 / (kh * kw))]);
    return interleaveTaps(e, new Array<string>(kh * kw).fill(share), a.kernel, inShape, outShape);
  }
  const counts = windowCounts(inShape, outShape, a.kernel, a.stride, a.pads);
  const share = e.op('Div', [dy, e.tensor([1, 1, oh, ow], counts, 'counts')]);
  const ones = e.tensor([c, 1, kh, kw], new Float32Array(c * kh * kw).fill(1), 'ones');
  const reach = (i: 0 | 1) => (outShape[1 + i] - 1) * a.stride[i] + a.kernel[i] - a.pads[i] - a.pads[i + 2];
  return e.op(
    'ConvTranspose',
    [share, ones],
    { kernel_shape: [kh, kw], strides: [...a.stride], pads: [...a.pads], group: c, output_padding: [h - reach(0), w - reach(1)] },
    { hint: 'dx' },
  );
}
