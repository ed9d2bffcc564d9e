/**
 * The numerics of each node kind on NHWC tensors, as docs/semantics.md defines them. Both the Keras
 * layers (inference, saved models) and the training forward pass call these, so the two cannot drift.
 * Windows always get explicit pads through `tf.pad` and a `valid` op: that is exact for any padding
 * and differentiable on every tfjs backend.
 */
import type { JoinMode, OpAttrs, Pads, Pair } from '../../src/graph/types.js';
import { kernelParts } from './quantizers.js';
import type { GradSaveFunc, Tensor, Tensor4D, Tf } from './tf.js';

const hasPads = (p: Pads) => p.some((v) => v !== 0);

function padSpatial(tf: Tf, x: Tensor, [top, left, bottom, right]: Pads, value: number): Tensor4D {
  return tf.pad(x as Tensor4D, [[0, 0], [top, bottom], [left, right], [0, 0]], value);
}

/**
 * Inserts (d−1) zeros between kernel taps, so a dilated conv becomes a plain one: tfjs has no gradient
 * for dilated convolutions. Written as a product with a 0/1 matrix, which is exact and differentiable.
 */
function dilateKernel(tf: Tf, kernel: Tensor4D, [dh, dw]: Pair): Tensor4D {
  const spread = (k: Tensor4D, d: number): Tensor4D => {
    // Spreads axis 0 of `k` by d.
    const [n, ...rest] = k.shape;
    const m = (n - 1) * d + 1;
    const select = tf.buffer([m, n], 'float32');
    for (let i = 0; i < n; i++) select.set(1, i * d, i);
    const flat = tf.reshape(k, [n, -1]);
    return tf.reshape(tf.matMul(select.toTensor(), flat), [m, ...rest]) as Tensor4D;
  };
  let k = kernel;
  if (dh > 1) k = spread(k, dh);
  if (dw > 1) k = tf.transpose(spread(tf.transpose(k, [1, 0, 2, 3]), dw), [1, 0, 2, 3]);
  return k;
}

/**
 * The patches of an NHWC input under a `valid` window, one row per output position, columns ordered
 * (u, v, c) like an HWIO kernel's first three axes (im2col).
 */
function im2col(x: Float32Array, [n, h, w, c]: number[], [kh, kw]: number[], [sh, sw]: Pair, [oh, ow]: number[]): Float32Array {
  const out = new Float32Array(n * oh * ow * kh * kw * c);
  let dst = 0;
  for (let s = 0; s < n; s++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let u = 0; u < kh; u++) {
          const row = ((s * h + i * sh + u) * w + j * sw) * c;
          for (let v = 0; v < kw; v++, dst += c) out.set(x.subarray(row + v * c, row + v * c + c), dst);
        }
  return out;
}

/**
 * dL/dkernel of a `valid` convolution as one matrix product, patchesᵀ · dy: the same sum as
 * Conv2DBackpropFilter, whose pure-JS kernel is ~50× slower than the forward conv. CPU backend only
 * (it reads the input synchronously).
 */
function filterGradient(tf: Tf, x: Tensor4D, dy: Tensor4D, kernelShape: number[], stride: Pair): Tensor {
  const [n, , , channels] = x.shape;
  const [, oh, ow, filters] = dy.shape;
  const [kh, kw] = kernelShape;
  const patches = im2col(x.dataSync() as Float32Array, x.shape, kernelShape, stride, [oh, ow]);
  const columns = tf.tensor2d(patches, [n * oh * ow, kh * kw * channels]);
  return tf.reshape(tf.matMul(columns, tf.reshape(dy, [n * oh * ow, filters]), true, false), kernelShape);
}

/** A `valid` strided convolution; on the pure-JS backend with the faster filter gradient above. */
function conv2dValid(tf: Tf, x: Tensor4D, kernel: Tensor4D, stride: Pair): Tensor4D {
  if (tf.getBackend() !== 'cpu') return tf.conv2d(x, kernel, stride, 'valid');
  const f = tf.customGrad((...inputs) => {
    const [xi, ki, save] = inputs as [Tensor4D, Tensor4D, GradSaveFunc];
    save([xi, ki]);
    return {
      value: tf.conv2d(xi, ki, stride, 'valid'),
      gradFunc: (dy, [xs, ks]) => [
        tf.conv2dTranspose(dy as Tensor4D, ks as Tensor4D, xs.shape as [number, number, number, number], stride, 'valid'),
        filterGradient(tf, xs as Tensor4D, dy as Tensor4D, ks.shape, stride),
      ],
    };
  });
  return f(x, kernel) as Tensor4D;
}

/**
 * What a conv or dense layer multiplies with: the latent kernel, or for a binary layer the ±1 kernel
 * and a per-output-channel scale applied after the product (docs/semantics.md), so integer sums stay
 * exact (a sign after them sees an exact 0 as 0).
 */
export interface LayerKernel {
  kernel: Tensor;
  /** Broadcastable over the output (`[1, 1, 1, O]` or `[1, O]`), or null. */
  scale: Tensor | null;
}

export function layerKernel(tf: Tf, latent: Tensor, attrs: OpAttrs['conv'] | OpAttrs['dense']): LayerKernel {
  if (!attrs.kernelQuantizer) return { kernel: latent, scale: null };
  const { binary, scale } = kernelParts(tf, latent, attrs.kernelQuantizer, latent.rank - 1);
  return { kernel: binary, scale };
}

/** y · scale + bias, each when present. */
function epilogue(tf: Tf, y: Tensor, scale: Tensor | null, bias: Tensor | null): Tensor {
  const scaled = scale ? tf.mul(y, scale) : y;
  return bias ? tf.add(scaled, bias) : scaled;
}

/**
 * Convolution of an NHWC map with an HWIO kernel, any pads (of `padValue`), dilation and groups.
 * Depthwise convs (one input channel a group) run as tfjs' depthwiseConv2d, other grouped convs as
 * one conv per group.
 */
export function conv(tf: Tf, x: Tensor, { kernel, scale }: LayerKernel, bias: Tensor | null, attrs: OpAttrs['conv']): Tensor {
  const padded = hasPads(attrs.pads) ? padSpatial(tf, x, attrs.pads, attrs.padValue) : (x as Tensor4D);
  const k = attrs.dilation[0] > 1 || attrs.dilation[1] > 1 ? dilateKernel(tf, kernel as Tensor4D, attrs.dilation) : (kernel as Tensor4D);
  const [kh, kw, groupChannels, filters] = k.shape;
  let y: Tensor;
  if (attrs.groups === 1) {
    y = conv2dValid(tf, padded, k, attrs.stride);
  } else if (groupChannels === 1) {
    // HWIO [kh, kw, 1, G·m]: output g·m + j is input g's j-th filter, as depthwiseConv2d's [kh, kw, G, m].
    const depthwise = tf.reshape(k, [kh, kw, attrs.groups, filters / attrs.groups]) as Tensor4D;
    y = tf.depthwiseConv2d(padded, depthwise, attrs.stride, 'valid');
  } else {
    const xs = tf.split(padded, attrs.groups, 3) as Tensor4D[];
    const ks = tf.split(k, attrs.groups, 3) as Tensor4D[];
    y = tf.concat(xs.map((xg, g) => conv2dValid(tf, xg, ks[g], attrs.stride)), 3);
  }
  return epilogue(tf, y, scale, bias);
}

export function dense(tf: Tf, x: Tensor, { kernel, scale }: LayerKernel, bias: Tensor | null): Tensor {
  return epilogue(tf, tf.matMul(x, kernel), scale, bias);
}

export interface BatchStatistics {
  mean: Tensor;
  variance: Tensor;
}

/** Axes a batch norm reduces over: (N, H, W) for maps, N for vectors. */
const statisticsAxes = (x: Tensor) => (x.rank === 4 ? [0, 1, 2] : [0]);

/** Normalises with the given statistics: γ (x − μ) / sqrt(σ² + ε) + β; no γ is 1, no β is 0. */
export function batchnorm(tf: Tf, x: Tensor, stats: BatchStatistics, gamma: Tensor | null, beta: Tensor | null, epsilon: number): Tensor {
  const normalised = tf.div(tf.sub(x, stats.mean), tf.sqrt(tf.add(stats.variance, epsilon)));
  const scaled = gamma ? tf.mul(gamma, normalised) : normalised;
  return beta ? tf.add(scaled, beta) : scaled;
}

/** The batch mean and the biased batch variance. */
export function batchStatistics(tf: Tf, x: Tensor): BatchStatistics {
  const { mean, variance } = tf.moments(x, statisticsAxes(x));
  return { mean, variance };
}

/** Keras' moving-average rule: `m · old + (1 − m) · batch`. */
export function movingAverage(tf: Tf, old: Tensor, batch: Tensor, momentum: number): Tensor {
  return tf.add(tf.mul(old, momentum), tf.mul(batch, 1 - momentum));
}

export function prelu(tf: Tf, x: Tensor, alpha: Tensor): Tensor {
  return tf.where(tf.greaterEqual(x, 0), x, tf.mul(x, alpha));
}

/** x + b per channel (the last axis, of maps and vectors alike). */
export function bias(tf: Tf, x: Tensor, b: Tensor): Tensor {
  return tf.add(x, b);
}

/** x ⊙ s, where s has x's shape or is a per-channel vector `[n, C]` broadcast over H and W. */
export function multiply(tf: Tf, x: Tensor, s: Tensor): Tensor {
  const broadcast = x.rank === 4 && s.rank === 2 ? tf.reshape(s, [s.shape[0], 1, 1, s.shape[1] as number]) : s;
  return tf.mul(x, broadcast);
}

/** x with z added into channels offset … offset + C_z − 1 (z zero-padded to x's channels). */
export function addInto(tf: Tf, x: Tensor, z: Tensor, offset: number): Tensor {
  const last = x.rank - 1;
  const after = x.shape[last] - offset - z.shape[last];
  const pads = x.shape.map((_, axis): [number, number] => (axis === last ? [offset, after] : [0, 0]));
  return tf.add(x, tf.pad(z, pads));
}

/** The element-wise sum of two or more tensors. */
export function add(tf: Tf, xs: Tensor[]): Tensor {
  return xs.length === 2 ? tf.add(xs[0], xs[1]) : tf.addN(xs);
}

/** Clip to [min, max]; gradient dy·1{min ≤ x ≤ max} (tfjs' clipByValue gradient). */
export function hardtanh(tf: Tf, x: Tensor, attrs: OpAttrs['hardtanh']): Tensor {
  return tf.clipByValue(x, attrs.min, attrs.max);
}

/** Max pooling; padded cells are −∞, so they never win. */
export function maxpool(tf: Tf, x: Tensor, attrs: OpAttrs['maxpool']): Tensor {
  const padded = hasPads(attrs.pads) ? padSpatial(tf, x, attrs.pads, -Infinity) : (x as Tensor4D);
  return tf.maxPool(padded, attrs.kernel, attrs.stride, 'valid');
}

/** Average pooling whose windows count only real cells (TF `same`, ONNX count_include_pad = 0). */
export function avgpool(tf: Tf, x: Tensor, attrs: OpAttrs['avgpool']): Tensor {
  if (!hasPads(attrs.pads)) return tf.avgPool(x as Tensor4D, attrs.kernel, attrs.stride, 'valid');
  const [, h, w] = x.shape;
  const y = tf.avgPool(padSpatial(tf, x, attrs.pads, 0), attrs.kernel, attrs.stride, 'valid');
  // avgPool divided by the full window; rescale each output by window size / real cells.
  const [oh, ow] = [y.shape[1], y.shape[2]];
  const [kh, kw] = attrs.kernel;
  const [sh, sw] = attrs.stride;
  const [top, left] = attrs.pads;
  const factor = new Float32Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    const rows = Math.min(i * sh - top + kh, h) - Math.max(i * sh - top, 0);
    for (let j = 0; j < ow; j++) {
      const cols = Math.min(j * sw - left + kw, w) - Math.max(j * sw - left, 0);
      factor[i * ow + j] = (kh * kw) / (rows * cols);
    }
  }
  return tf.mul(y, tf.tensor4d(factor, [1, oh, ow, 1]));
}

export function globalAvgpool(tf: Tf, x: Tensor): Tensor {
  return tf.mean(x, [1, 2]);
}

/** Row-major over the graph's `[C, H, W]`, so dense kernels keep the graph's layout. */
export function flatten(tf: Tf, x: Tensor): Tensor {
  const nchw = x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : x;
  return tf.reshape(nchw, [x.shape[0], -1]);
}

/** Channel concatenation (the last axis in NHWC, and of vectors). */
export function concat(tf: Tf, xs: Tensor[]): Tensor {
  return tf.concat(xs, -1);
}

/**
 * A fractal join. `mask` (one 0/1 per input, at least one 1) drops inputs in training: mean and sum and
 * max run over the kept inputs only, concat zeroes the dropped ones. Without a mask all are kept.
 */
export function join(tf: Tf, xs: Tensor[], mode: JoinMode, mask?: ArrayLike<number>): Tensor {
  const kept = mask ? xs.filter((_, i) => mask[i] !== 0) : xs;
  if (kept.length === 0) throw new Error('internal: a drop-path mask must keep at least one input');
  switch (mode) {
    case 'mean':
      return kept.length === 1 ? kept[0] : tf.div(tf.addN(kept), kept.length);
    case 'sum':
      return kept.length === 1 ? kept[0] : tf.addN(kept);
    case 'max':
      return kept.reduce((a, b) => tf.maximum(a, b));
    case 'concat':
      return tf.concat(mask ? xs.map((x, i) => (mask[i] !== 0 ? x : tf.zerosLike(x))) : xs, -1);
  }
}
