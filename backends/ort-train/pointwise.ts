/**
 * Element-wise building blocks of the backward pass, chosen for speed on onnxruntime's CPU kernels,
 * where every op is a pass over memory: `Where` with a broadcast scalar is several times slower than a
 * `Mul` by a 0/1 mask, and a per-channel `a·x + b` is one pass as `BatchNormalization` (mean 0,
 * variance 1, ε = 0) instead of two. (The forward sign, built the same way, is LowerCtx.sign.)
 */
import type { Emitter } from './emitter.js';

/** `scale·x + bias` with constant scalars, over a tensor whose axis 1 has `channels` entries; exact for scale ±2ⁿ. */
export function affine(e: Emitter, x: string, channels: number, scale: number, bias: number, hint = 'affine'): string {
  const c = (v: number) => e.constantVector(channels, v);
  return e.op('BatchNormalization', [x, c(scale), c(bias), c(0), c(1)], { epsilon: 0 }, { hint, floats: ['epsilon'] });
}

/** `dy` where `condition` holds, 0 elsewhere. */
export function gate(e: Emitter, dy: string, condition: string, hint = 'dx'): string {
  return e.op('Mul', [dy, e.op('Cast', [condition], { to: 1 }, { hint: 'mask' })], {}, { hint });
}
