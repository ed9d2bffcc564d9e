/**
 * Each registered quantizer's forward and straight-through gradient as ONNX, exactly as
 * docs/semantics.md defines them (the table the tfjs backend implements too). Activation quantizers map
 * x → sign(x) with a surrogate gradient; weight quantizers map a latent kernel W to the kernel the
 * layer convolves with, and dQ (the gradient w.r.t. that kernel) back to dW.
 */
import type { QuantizerRef } from '../../src/graph/types.js';
import type { Emitter } from './emitter.js';
import { affine, gate, sign } from './pointwise.js';

/** dy · 1{|x| ≤ clip}. */
function passInside(e: Emitter, x: string, dy: string, clip: number): string {
  return gate(e, dy, e.op('LessOrEqual', [e.op('Abs', [x]), e.f32(clip)], {}, { hint: 'inside' }));
}

/** Gradient dL/dx of an activation quantizer, given x (with `channels` on axis 1) and dL/dy. */
type ActivationGrad = (e: Emitter, x: string, dy: string, args: Record<string, number>, channels: number) => string;

const ACTIVATION_GRADS: Record<string, ActivationGrad> = {
  ste_sign: (e, x, dy, a) => passInside(e, x, dy, a.clip),
  // max(0, 2 − 2|x|); 2 − 2|x| is exact either way (×2 is), as one affine pass.
  approx_sign: (e, x, dy, _a, channels) => {
    const slope = e.op('Relu', [affine(e, e.op('Abs', [x]), channels, -2, 2)], {}, { hint: 'slope' });
    return e.op('Mul', [dy, slope], {}, { hint: 'dx' });
  },
  // β(2 − βx·tanh(βx/2)) / (1 + cosh βx)
  swish_sign: (e, x, dy, a) => {
    const bx = e.op('Mul', [x, e.f32(a.beta)]);
    const t = e.op('Tanh', [e.op('Mul', [bx, e.f32(0.5)])]);
    const num = e.op('Mul', [e.op('Sub', [e.f32(2), e.op('Mul', [bx, t])]), e.f32(a.beta)]);
    const den = e.op('Add', [e.f32(1), e.op('Cosh', [bx])]);
    return e.op('Mul', [dy, e.op('Div', [num, den], {}, { hint: 'slope' })], {}, { hint: 'dx' });
  },
};

/** The activation quantizer's forward value on x (`channels` on axis 1); the backward closure needs only x. */
export function quantizeActivation(e: Emitter, q: QuantizerRef, x: string, channels: number): { y: string; backward: (dy: string) => string } {
  const grad = ACTIVATION_GRADS[q.name];
  if (!grad) throw new Error(`internal: no ONNX training rule for activation quantizer '${q.name}'`);
  return { y: sign(e, x, channels), backward: (dy) => grad(e, x, dy, q.args, channels) };
}

export interface QuantizedKernel {
  /** The kernel the layer uses in the forward pass. */
  q: string;
  /** dL/dW from dL/dQ. */
  backward: (dq: string) => string;
}

/**
 * A weight quantizer applied to kernel `w` of shape `shape` whose output channel is `outAxis` (conv:
 * axis 0 of OIHW; dense: axis 1 of [in, out]).
 */
export function quantizeKernel(e: Emitter, q: QuantizerRef, w: string, shape: readonly number[], outAxis: number): QuantizedKernel {
  const rank = shape.length;
  switch (q.name) {
    case 'ste_sign':
      return { q: sign(e, w, shape[1]), backward: (dq) => passInside(e, w, dq, q.args.clip) };
    case 'magnitude_aware_sign': {
      // s_o = mean|W| over every axis but the output channel; a constant for the gradient.
      const axes = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== outAxis);
      const scale = e.op('ReduceMean', [e.op('Abs', [w])], { axes, keepdims: 1 }, { hint: 'scale' });
      return {
        q: e.op('Mul', [sign(e, w, shape[1]), scale], {}, { hint: 'qkernel' }),
        backward: (dq) => passInside(e, w, e.op('Mul', [dq, scale]), q.args.clip),
      };
    }
    default:
      throw new Error(`internal: no ONNX training rule for weight quantizer '${q.name}'`);
  }
}
