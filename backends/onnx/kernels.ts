/**
 * Binary kernels as the exporter stores them: the sign of each latent weight as one bit, plus the
 * per-output-channel scale of the scaled weight quantizers (docs/semantics.md, "Quantizers").
 */
import type { ParamSpec, QuantizerRef } from '../../src/graph/types.js';
import type { WeightQuantizerName } from '../../src/quantizers.js';

export interface BinaryKernel {
  /** 1 where the quantized weight is +1 (w ≥ 0, so sign(0) = +1), 0 where it is −1; row-major. */
  positive: Uint8Array;
  /** Per-output-channel factor (s_o = mean |W[o, …]| for `magnitude_aware_sign`, …); null for a plain sign. */
  scale: Float32Array | null;
}

/**
 * Quantizes a kernel. The output channel is axis 0 of a conv kernel `[O, I, kh, kw]` and axis 1 of a
 * dense kernel `[in, out]`.
 */
export function quantizeKernel(spec: ParamSpec, values: Float32Array, quantizer: QuantizerRef<WeightQuantizerName>): BinaryKernel {
  const positive = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) positive[i] = values[i] >= 0 ? 1 : 0;
  return { positive, scale: KERNEL_SCALES[quantizer.name](spec.shape, values) };
}

/** Each weight quantizer's per-output-channel scale, or null for a plain sign. */
const KERNEL_SCALES: Readonly<Record<WeightQuantizerName, (shape: readonly number[], values: Float32Array) => Float32Array | null>> = {
  ste_sign: () => null,
  magnitude_aware_sign: (shape, values) => channelMeanAbs(shape, values),
  // One scale for the whole kernel (DoReFa-Net), repeated per output channel so it applies as the others do.
  magnitude_aware_sign_unclipped: (shape, values) => {
    let sum = 0;
    for (const v of values) sum += Math.abs(v);
    return new Float32Array(outputChannels(shape)).fill(sum / values.length);
  },
  // XNOR-Net: mean |clip(W, −1, 1)| per output channel.
  xnor_weight_scale: (shape, values) => channelMeanAbs(shape, values, (v) => Math.min(1, Math.abs(v))),
};

/** The output channels of a conv kernel `[O, I, kh, kw]` (axis 0) or a dense kernel `[in, out]` (axis 1). */
const outputChannels = (shape: readonly number[]) => (shape.length === 2 ? shape[1] : shape[0]);

/** mean |W| (or mean `magnitude(W)`) per output channel, accumulated in float64 and rounded once. */
export function channelMeanAbs(shape: readonly number[], values: Float32Array, magnitude: (v: number) => number = Math.abs): Float32Array {
  if (shape.length === 2) {
    const [rows, cols] = shape;
    const sums = new Float64Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) sums[c] += magnitude(values[r * cols + c]);
    return Float32Array.from(sums, (s) => s / rows);
  }
  const channels = shape[0];
  const per = values.length / channels;
  const out = new Float32Array(channels);
  for (let o = 0; o < channels; o++) {
    let sum = 0;
    for (let i = o * per; i < (o + 1) * per; i++) sum += magnitude(values[i]);
    out[o] = sum / per;
  }
  return out;
}

/** Packs 0/1 values eight to a byte, most significant bit first; the last byte is zero-padded. */
export function packBits(bits: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  for (let i = 0; i < bits.length; i++) if (bits[i]) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

/** The inverse of `packBits` for `count` values (used by tests and readers of exported models). */
export function unpackBits(packed: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(count);
  const whole = count >> 3;
  // Eight values a byte, then the tail (a kernel of millions of weights is read on a runtime's load).
  for (let b = 0, i = 0; b < whole; b++, i += 8) {
    const v = packed[b];
    out[i] = v >> 7;
    out[i + 1] = (v >> 6) & 1;
    out[i + 2] = (v >> 5) & 1;
    out[i + 3] = (v >> 4) & 1;
    out[i + 4] = (v >> 3) & 1;
    out[i + 5] = (v >> 2) & 1;
    out[i + 6] = (v >> 1) & 1;
    out[i + 7] = v & 1;
  }
  for (let i = whole << 3; i < count; i++) out[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1;
  return out;
}
