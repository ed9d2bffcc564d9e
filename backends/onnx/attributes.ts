/** ONNX attributes of the windowed ops, from graph attributes: written once for every lowering that needs them. */
import type { OpAttrs, Pads, Pair } from '../../src/graph/types.js';

/** Conv's attributes (ONNX pads read [top, left, bottom, right], as the graph's do). */
export function convAttributes(a: OpAttrs['conv']): { kernel_shape: number[]; strides: number[]; pads: number[]; dilations: number[]; group: number } {
  return { kernel_shape: [...a.kernel], strides: [...a.stride], pads: [...a.pads], dilations: [...a.dilation], group: a.groups };
}

/** MaxPool's and AveragePool's shared attributes. */
export function poolAttributes(a: { kernel: Pair; stride: Pair; pads: Pads }): { kernel_shape: number[]; strides: number[]; pads: number[] } {
  return { kernel_shape: [...a.kernel], strides: [...a.stride], pads: [...a.pads] };
}
