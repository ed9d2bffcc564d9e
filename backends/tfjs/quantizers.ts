/**
 * Larq's quantizers in TensorFlow.js: one small function per name registered in src/quantizers.ts, each
 * a forward pass with its own gradient (`tf.customGrad`, since tfjs has no stop-gradient). Formulas in
 * docs/semantics.md; sign(0) = +1 everywhere.
 */
import type { QuantizerRef } from '../../src/graph/types.js';
import type { QuantizerName, WeightQuantizerName } from '../../src/quantizers.js';
import type { GradSaveFunc, Tensor, Tf } from './tf.js';

export interface QuantizerOptions {
  /** For weight quantizers: the kernel's output-channel axis (3 for an HWIO conv kernel, 1 for dense). */
  outputAxis?: number;
}

/** A quantizer: forward value with its custom gradient, arguments complete (defaults applied). */
export type TfjsQuantizer = (tf: Tf, x: Tensor, args: Readonly<Record<string, number>>, options?: QuantizerOptions) => Tensor;

/** sign(x) with sign(0) = +1: values in {−1, +1}. */
export function sign(tf: Tf, x: Tensor): Tensor {
  return tf.tidy(() => tf.sub(tf.mul(tf.cast(tf.greaterEqual(x, 0), 'float32'), 2), 1));
}

/** 1 where |x| ≤ clip, else 0 (the straight-through window). */
function window(tf: Tf, x: Tensor, clip: number): Tensor {
  return tf.cast(tf.lessEqual(tf.abs(x), clip), 'float32');
}

/** sign(x) forward, `dy · gradient(x)` backward. */
function signWithGradient(tf: Tf, x: Tensor, gradient: (x: Tensor) => Tensor): Tensor {
  const f = tf.customGrad((...inputs) => {
    const [t, save] = inputs as [Tensor, GradSaveFunc];
    save([t]);
    return { value: sign(tf, t), gradFunc: (dy, saved) => tf.mul(dy, gradient(saved[0])) };
  });
  return f(x) as Tensor;
}

const steSign: TfjsQuantizer = (tf, x, args) => signWithGradient(tf, x, (t) => window(tf, t, args.clip));

const approxSign: TfjsQuantizer = (tf, x) =>
  signWithGradient(tf, x, (t) => tf.relu(tf.sub(2, tf.mul(2, tf.abs(t)))));

const swishSign: TfjsQuantizer = (tf, x, args) =>
  signWithGradient(tf, x, (t) => {
    const beta = args.beta;
    const bx = tf.mul(beta, t);
    // β(2 − βx·tanh(βx/2)) / (1 + cosh βx); cosh overflows to ∞ for large |βx|, giving 0, not NaN.
    const numerator = tf.mul(beta, tf.sub(2, tf.mul(bx, tf.tanh(tf.div(bx, 2)))));
    return tf.div(numerator, tf.add(1, tf.cosh(bx)));
  });

/** Per-output-channel mean |W| over every other axis, kept broadcastable. */
export function magnitudeScale(tf: Tf, w: Tensor, outputAxis: number): Tensor {
  const axes = w.shape.map((_, i) => i).filter((i) => i !== outputAxis);
  return tf.mean(tf.abs(w), axes, true);
}

/** x forward, no gradient backward (TensorFlow's stop_gradient). */
function stopGradient(tf: Tf, x: Tensor): Tensor {
  const f = tf.customGrad((...inputs) => {
    const t = inputs[0] as Tensor;
    return { value: tf.clone(t), gradFunc: (dy) => tf.zerosLike(dy) };
  });
  return f(x) as Tensor;
}

/**
 * A weight quantizer's value as `scale × binary`: `binary` in {−1, +1} with its straight-through
 * gradient, `scale` per output channel (broadcastable, no gradient) or null. Layers multiply by the
 * ±1 kernel and apply the scale after the product, so integer sums of binary layers stay exact.
 */
export function kernelParts(tf: Tf, w: Tensor, ref: QuantizerRef<WeightQuantizerName>, outputAxis: number): { binary: Tensor; scale: Tensor | null } {
  return { binary: steSign(tf, w, ref.args), scale: KERNEL_SCALES[ref.name](tf, w, outputAxis) };
}

/** Each weight quantizer's per-output-channel scale (no gradient), or null for a plain sign. */
const KERNEL_SCALES: Readonly<Record<WeightQuantizerName, (tf: Tf, w: Tensor, outputAxis: number) => Tensor | null>> = {
  ste_sign: () => null,
  magnitude_aware_sign: (tf, w, outputAxis) => stopGradient(tf, magnitudeScale(tf, w, outputAxis)),
  magnitude_aware_sign_unclipped: () => {
    throw new Error('tfjs quantizer: magnitude_aware_sign_unclipped is not lowered yet (issue 20)');
  },
  xnor_weight_scale: () => {
    throw new Error('tfjs quantizer: xnor_weight_scale is not lowered yet (issue 20)');
  },
};

/** Larq's MagnitudeAwareSign: s_o · sign(W), s_o = mean|W| per output channel held constant; STE gradient. */
const magnitudeAwareSign: TfjsQuantizer = (tf, w, args, options = {}) => {
  const outputAxis = options.outputAxis;
  if (outputAxis === undefined) throw new Error('internal: magnitude_aware_sign needs the output-channel axis');
  const { binary, scale } = kernelParts(tf, w, { name: 'magnitude_aware_sign', args: { ...args } }, outputAxis);
  return tf.mul(scale!, binary);
};

/** Every quantizer of src/quantizers.ts, by the name users write. */
export const TFJS_QUANTIZERS: Readonly<Record<QuantizerName, TfjsQuantizer>> = {
  ste_sign: steSign,
  approx_sign: approxSign,
  swish_sign: swishSign,
  magnitude_aware_sign: magnitudeAwareSign,
  magnitude_aware_sign_unclipped: () => {
    throw new Error('tfjs quantizer: magnitude_aware_sign_unclipped is not lowered yet (issue 20)');
  },
  xnor_weight_scale: () => {
    throw new Error('tfjs quantizer: xnor_weight_scale is not lowered yet (issue 20)');
  },
  ste_heaviside: () => {
    throw new Error('tfjs quantizer: ste_heaviside is not lowered yet (issue 20)');
  },
  dorefa: () => {
    throw new Error('tfjs quantizer: dorefa is not lowered yet (issue 20)');
  },
};

/** Applies a quantizer reference from the graph. */
export function quantize(tf: Tf, x: Tensor, ref: QuantizerRef, options?: QuantizerOptions): Tensor {
  return TFJS_QUANTIZERS[ref.name](tf, x, ref.args, options);
}

/** Larq's weight clipping of latent weights to [−clip, clip], applied after each update. */
export function clipKernel(tf: Tf, w: Tensor, clip: number): Tensor {
  return tf.clipByValue(w, -clip, clip);
}
