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

/** sgn(x) ∈ {−1, 0, +1} with sgn(0) = 0 (tfjs' abs gradient says −1 at 0). */
function sgn(tf: Tf, x: Tensor): Tensor {
  return tf.sub(tf.cast(tf.greater(x, 0), 'float32'), tf.cast(tf.less(x, 0), 'float32'));
}

/**
 * XNOR-Net's α_o = mean|clip(W, −1, 1)| per output channel, differentiable (Larq Zoo's
 * xnor_weight_scale has no stop-gradient): dα_o/dW = 1{|W| ≤ 1} · sgn(W) / n, n the entries per channel.
 */
function xnorScale(tf: Tf, w: Tensor, outputAxis: number): Tensor {
  const f = tf.customGrad((...inputs) => {
    const [t, save] = inputs as [Tensor, GradSaveFunc];
    save([t]);
    const value = magnitudeScale(tf, tf.clipByValue(t, -1, 1), outputAxis);
    const count = t.size / t.shape[outputAxis];
    return { value, gradFunc: (dy, [saved]) => tf.mul(dy, tf.div(tf.mul(window(tf, saved, 1), sgn(tf, saved)), count)) };
  });
  return f(w) as Tensor;
}

/**
 * sign(W) whose gradient is the identity on the scaled kernel s·sign(W) (magnitude_aware_sign_unclipped):
 * the layer applies the constant s after the product, so the product's gradient arrives multiplied by s
 * and is divided by it again here. Where s = 0 the kernel is all zeros and its gradient is taken as 0.
 */
function signUnscaledGradient(tf: Tf, w: Tensor, scale: Tensor): Tensor {
  const f = tf.customGrad((...inputs) => {
    const [t, s, save] = inputs as [Tensor, Tensor, GradSaveFunc];
    save([s]);
    const gradFunc = (dy: Tensor | Tensor[], [saved]: Tensor[]) => {
      const positive = tf.greater(saved, 0);
      const g = tf.mul(tf.div(dy as Tensor, tf.where(positive, saved, tf.onesLike(saved))), tf.cast(positive, 'float32'));
      return [g, tf.zerosLike(saved)];
    };
    return { value: sign(tf, t), gradFunc };
  });
  return f(w, scale) as Tensor;
}

/**
 * A weight quantizer's value as `scale × binary`: `binary` in {−1, +1} with its straight-through
 * gradient, `scale` per output channel or per layer (broadcastable) or null. Layers multiply by the
 * ±1 kernel and apply the scale after the product, so integer sums of binary layers stay exact.
 */
export function kernelParts(tf: Tf, w: Tensor, ref: QuantizerRef<WeightQuantizerName>, outputAxis: number): { binary: Tensor; scale: Tensor | null } {
  return KERNEL_PARTS[ref.name](tf, w, ref.args, outputAxis);
}

type KernelParts = (tf: Tf, w: Tensor, args: Readonly<Record<string, number>>, outputAxis: number) => { binary: Tensor; scale: Tensor | null };

/** Each weight quantizer split into its ±1 kernel and its scale (docs/semantics.md). */
const KERNEL_PARTS: Readonly<Record<WeightQuantizerName, KernelParts>> = {
  ste_sign: (tf, w, args) => ({ binary: steSign(tf, w, args), scale: null }),
  // s_o held constant: the gradient reaching W is dy·s_o·1{|W| ≤ clip}.
  magnitude_aware_sign: (tf, w, args, outputAxis) => ({ binary: steSign(tf, w, args), scale: stopGradient(tf, magnitudeScale(tf, w, outputAxis)) }),
  // One constant s for the whole kernel; the gradient reaching W is dy itself (no clip, no scale).
  magnitude_aware_sign_unclipped: (tf, w) => {
    const scale = stopGradient(tf, tf.reshape(tf.mean(tf.abs(w)), w.shape.map(() => 1)));
    return { binary: signUnscaledGradient(tf, w, scale), scale };
  },
  // The sign's window and the scale's own gradient add up to the formula of docs/semantics.md.
  xnor_weight_scale: (tf, w, _args, outputAxis) => ({ binary: steSign(tf, w, { clip: 1 }), scale: xnorScale(tf, w, outputAxis) }),
};

/** A weight quantizer on its own: scale × ±1 kernel (the output-channel axis is required). */
function weightQuantizer(name: WeightQuantizerName): TfjsQuantizer {
  return (tf, w, args, options = {}) => {
    const outputAxis = options.outputAxis;
    if (outputAxis === undefined) throw new Error(`internal: ${name} needs the output-channel axis`);
    const { binary, scale } = KERNEL_PARTS[name](tf, w, args, outputAxis);
    return scale ? tf.mul(scale, binary) : binary;
  };
}

/** 1 if x > 0 else 0; gradient dy·1{|x| ≤ clip}. */
const steHeaviside: TfjsQuantizer = (tf, x, args) => {
  const f = tf.customGrad((...inputs) => {
    const [t, save] = inputs as [Tensor, GradSaveFunc];
    save([t]);
    return { value: tf.cast(tf.greater(t, 0), 'float32'), gradFunc: (dy, [saved]) => tf.mul(dy, window(tf, saved, args.clip)) };
  });
  return f(x) as Tensor;
};

/** Splits a float32 value into two halves of at most 12 significant bits each (Veltkamp), hi + lo exact. */
function split(tf: Tf, x: Tensor): { hi: Tensor; lo: Tensor } {
  const c = tf.mul(x, 4097); // 2^12 + 1
  const hi = tf.sub(c, tf.sub(c, x));
  return { hi, lo: tf.sub(x, hi) };
}

/** A JS number (an integer below 2^24) split the same way, on the host. */
function splitNumber(n: number): { hi: number; lo: number } {
  const c = Math.fround(n * 4097);
  const hi = Math.fround(c - Math.fround(c - n));
  return { hi, lo: n - hi };
}

/**
 * round(x · n) half to even, exactly: tfjs' round is half to even, but x · n is first rounded to
 * float32, which can land on a tie (x = fl(1/6), n = 3 gives exactly 0.5) where the exact product lies
 * above or below it. Dekker's error-free product gives the rounding error e = x·n − fl(x·n) exactly;
 * on a tie, its sign decides.
 */
function roundProduct(tf: Tf, x: Tensor, n: number): Tensor {
  const product = tf.mul(x, n);
  const xs = split(tf, x);
  const ns = splitNumber(n);
  const error = tf.add(
    tf.add(tf.add(tf.sub(tf.mul(xs.hi, ns.hi), product), tf.mul(xs.hi, ns.lo)), tf.mul(xs.lo, ns.hi)),
    tf.mul(xs.lo, ns.lo),
  );
  const floor = tf.floor(product);
  const tie = tf.equal(tf.sub(product, floor), 0.5);
  const resolved = tf.where(tf.greater(error, 0), tf.add(floor, 1), tf.where(tf.less(error, 0), floor, tf.round(product)));
  return tf.where(tie, resolved, tf.round(product));
}

/** DoReFa's k-bit activation: round(clip(x, 0, 1)·n)/n, n = 2^k − 1; gradient dy·1{0 ≤ x ≤ 1}. */
const dorefa: TfjsQuantizer = (tf, x, args) => {
  const levels = 2 ** args.k_bit - 1;
  const f = tf.customGrad((...inputs) => {
    const [t, save] = inputs as [Tensor, GradSaveFunc];
    save([t]);
    const value = tf.div(roundProduct(tf, tf.clipByValue(t, 0, 1), levels), levels);
    const inside = (v: Tensor) => tf.cast(tf.logicalAnd(tf.greaterEqual(v, 0), tf.lessEqual(v, 1)), 'float32');
    return { value, gradFunc: (dy, [saved]) => tf.mul(dy, inside(saved)) };
  });
  return f(x) as Tensor;
};

/** Every quantizer of src/quantizers.ts, by the name users write. */
export const TFJS_QUANTIZERS: Readonly<Record<QuantizerName, TfjsQuantizer>> = {
  ste_sign: steSign,
  approx_sign: approxSign,
  swish_sign: swishSign,
  magnitude_aware_sign: weightQuantizer('magnitude_aware_sign'),
  magnitude_aware_sign_unclipped: weightQuantizer('magnitude_aware_sign_unclipped'),
  xnor_weight_scale: weightQuantizer('xnor_weight_scale'),
  ste_heaviside: steHeaviside,
  dorefa,
};

/** Applies a quantizer reference from the graph. */
export function quantize(tf: Tf, x: Tensor, ref: QuantizerRef, options?: QuantizerOptions): Tensor {
  return TFJS_QUANTIZERS[ref.name](tf, x, ref.args, options);
}

/** Larq's weight clipping of latent weights to [−clip, clip], applied after each update. */
export function clipKernel(tf: Tf, w: Tensor, clip: number): Tensor {
  return tf.clipByValue(w, -clip, clip);
}
