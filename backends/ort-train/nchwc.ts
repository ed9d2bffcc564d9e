/**
 * onnxruntime's blocked-channel convolution (`com.microsoft.nchwc` domain, MLAS's NCHWc kernels) for
 * convolutions whose kernel is computed in the step, which ORT's own NCHWc rewrite never touches (it
 * converts only convolutions with constant kernels). The direct NCHWc kernels skip the im2col copy of
 * the plain `Conv` and thread better: the input gradients of the Fashion-MNIST nets' 3×3 convolutions
 * ran ~1.4× faster on one thread and more on two (ort-train README).
 *
 * Blocked tensors hold channels in groups of the CPU's block size B (16 with AVX-512, 8 with AVX2):
 * activations `[N, C/B, H, W, B]` (ReorderInput / ReorderOutput), kernels `[O/B, C/B, kh, kw, B_c, B_o]`
 * stored under the plain shape `[O, C, kh, kw]`. The block size is read from ORT itself: a
 * ReorderInput of 4 channels (its least) pads them to one block.
 */
import * as ort from 'onnxruntime-node';
import type { Pads, Pair } from '../../src/graph/types.js';
import { OnnxGraph } from '../onnx/proto.js';
import type { Emitter } from './emitter.js';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

let probed: Promise<number> | undefined;

/** The CPU's NCHWc channel block, or 0 where this onnxruntime has no NCHWc kernels. */
export function nchwcBlockSize(): Promise<number> {
  return (probed ??= probeBlockSize());
}

async function probeBlockSize(): Promise<number> {
  const g = new OnnxGraph('nchwc_probe');
  g.input('x', 'float32', [1, 4, 1, 1]);
  g.node('ReorderInput', ['x'], ['y'], {}, { domain: NCHWC_DOMAIN });
  g.output('y', 'float32', [1, 'B', 1, 1]);
  try {
    const session = await ort.InferenceSession.create(g.encode({ producerVersion: '0.1.0', opsets: { [NCHWC_DOMAIN]: 1 } }), { graphOptimizationLevel: 'disabled', logSeverityLevel: 4 });
    try {
      const { y } = await session.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]) });
      const block = y.dims[1];
      // MLAS blocks 8 or 16 channels; anything else is not a layout this module knows.
      return block === 8 || block === 16 ? block : 0;
    } finally {
      await session.release();
    }
  } catch {
    return 0;
  }
}

/** `x` in NCHWc's blocked layout; one ReorderInput per tensor, which the forward conv and its weight gradient share. */
export function blockedInput(e: Emitter, x: string): string {
  return e.once(`ReorderInput:${x}`, () => e.op('ReorderInput', [x], {}, { hint: 'blocked', domain: NCHWC_DOMAIN }));
}

/** Whether a conv can run on the blocked kernels: a block size (0: none), one group, channels in whole blocks. */
export function fillsBlocks(block: number, groups: number, inChannels: number, outChannels: number): boolean {
  return block > 0 && groups === 1 && inChannels % block === 0 && outChannels % block === 0;
}

export interface NchwcConv {
  kernel: Pair;
  pads: Pads;
  dilation: Pair;
  /** Default 1 × 1. */
  stride?: Pair;
}

/**
 * `Conv(x, w[, bias])` with one group through the NCHWc kernels: x `[N, C, H, W]`, w `[O, C, kh, kw]`
 * (computed), C and O multiples of `block`. The kernel's blocking is a Reshape / Transpose of a small tensor.
 */
export function nchwcConv(e: Emitter, x: string, w: string, a: NchwcConv, channels: { in: number; out: number }, block: number, hint: string, bias?: string): string {
  const { kernel: [kh, kw] } = a;
  const b = block;
  const blockedKernel = e.op('Reshape', [
    e.op('Transpose', [e.op('Reshape', [w, e.i64([channels.out / b, b, channels.in / b, b, kh, kw])])], { perm: [0, 2, 4, 5, 3, 1] }),
    e.i64([channels.out, channels.in, kh, kw]),
  ], {}, { hint: 'wblocked' });
  const blockedX = blockedInput(e, x);
  const attrs = { kernel_shape: [kh, kw], strides: [...(a.stride ?? [1, 1])], pads: [...a.pads], dilations: [...a.dilation], group: 1 };
  const conv = e.op('Conv', [blockedX, blockedKernel, ...(bias ? [bias] : [])], attrs, { hint: `${hint}_blocked`, domain: NCHWC_DOMAIN });
  return e.op('ReorderOutput', [conv], { channels: channels.out }, { hint, domain: NCHWC_DOMAIN });
}
