/** Output-shape arithmetic for windowed ops (convolution and pooling), TensorFlow/Keras conventions. */
import type { Pads, Pair } from './types.js';

/** `same` (TensorFlow's SAME: extra padding at the bottom/right), `valid`, or explicit symmetric padding. */
export type Padding = 'same' | 'valid' | number;

/** Explicit pads for a window over an `inH × inW` map. */
export function resolvePads(padding: Padding, inH: number, inW: number, kernel: Pair, stride: Pair, dilation: Pair): Pads {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (typeof padding === 'number') return [padding, padding, padding, padding];
  const along = (size: number, k: number, s: number, d: number): [number, number] => {
    const out = Math.ceil(size / s);
    const total = Math.max((out - 1) * s + (k - 1) * d + 1 - size, 0);
    const before = Math.floor(total / 2);
    return [before, total - before];
  };
  const [top, bottom] = along(inH, kernel[0], stride[0], dilation[0]);
  const [left, right] = along(inW, kernel[1], stride[1], dilation[1]);
  return [top, left, bottom, right];
}

/** Spatial output size of a window op with explicit pads. */
export function windowOutput(inH: number, inW: number, kernel: Pair, stride: Pair, pads: Pads, dilation: Pair): Pair {
  const along = (size: number, k: number, s: number, d: number, p: number) =>
    Math.floor((size + p - (k - 1) * d - 1) / s) + 1;
  return [
    along(inH, kernel[0], stride[0], dilation[0], pads[0] + pads[2]),
    along(inW, kernel[1], stride[1], dilation[1], pads[1] + pads[3]),
  ];
}

export function shapeToString(shape: readonly number[]): string {
  return shape.join('×');
}
