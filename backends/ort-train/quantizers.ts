/**
 * Each registered quantizer's training side as ONNX, exactly as docs/semantics.md defines it (the table
 * the tfjs backend implements too): the straight-through gradient of every activation quantizer (their
 * forward value, sign(x), is the shared lowering's), and every weight quantizer's kernel as the training
 * graph computes it from the latent weights, with its gradient.
 */
import type { GraphNode, NodeOf, ParamSpec, QuantizerRef } from '../../src/graph/types.js';
import type { ActivationQuantizerName, WeightQuantizerName } from '../../src/quantizers.js';
import type { LowerCtx, LoweredKernel, ParamSource } from '../onnx/context.js';
import { onnx } from '../onnx/proto.js';
import type { Emitter } from './emitter.js';
import { affine, gate } from './pointwise.js';

const { FLOAT, DOUBLE } = onnx.TensorProto.DataType;

/** dy · 1{|x| ≤ clip}. */
function passInside(e: Emitter, x: string, dy: string, clip: number): string {
  return gate(e, dy, e.op('LessOrEqual', [e.op('Abs', [x]), e.f32(clip)], {}, { hint: 'inside' }));
}

/** Gradient dL/dx of an activation quantizer, given x (with `channels` on axis 1) and dL/dy. */
type ActivationGrad = (e: Emitter, x: string, dy: string, args: Record<string, number>, channels: number) => string;

const ACTIVATION_GRADS: Readonly<Record<ActivationQuantizerName, ActivationGrad>> = {
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
  ste_heaviside: () => {
    throw new Error('ort-train quantizer: ste_heaviside is not lowered yet (issue 20)');
  },
  dorefa: () => {
    throw new Error('ort-train quantizer: dorefa is not lowered yet (issue 20)');
  },
};

/** dL/dx of an activation quantizer on x (`channels` on axis 1). */
export function activationGrad(e: Emitter, q: QuantizerRef<ActivationQuantizerName>, x: string, dy: string, channels: number): string {
  return ACTIVATION_GRADS[q.name](e, x, dy, q.args, channels);
}

/** Each weight quantizer's per-output-channel scale `[O]` of latent kernel `w`, held constant for the gradient; null for a plain sign. */
const KERNEL_SCALES: Readonly<Record<WeightQuantizerName, (e: Emitter, w: string, rank: number, outAxis: number) => string | null>> = {
  ste_sign: () => null,
  // s_o = mean|W| over every axis but the output channel, accumulated in float64 and rounded once, as
  // the exporter computes it on the host: float32 sums would round in onnxruntime's order, and the
  // exported model and the engine's validation would differ in the last bit of the odd scale.
  magnitude_aware_sign: (e, w, rank, outAxis) => {
    const axes = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== outAxis);
    const magnitudes = e.op('Cast', [e.op('Abs', [w])], { to: DOUBLE }, { hint: 'abs64' });
    return e.op('Cast', [e.op('ReduceMean', [magnitudes], { axes, keepdims: 0 }, { hint: 'scale64' })], { to: FLOAT }, { hint: 'scale' });
  },
  magnitude_aware_sign_unclipped: () => {
    throw new Error('ort-train quantizer: magnitude_aware_sign_unclipped is not lowered yet (issue 20)');
  },
  xnor_weight_scale: () => {
    throw new Error('ort-train quantizer: xnor_weight_scale is not lowered yet (issue 20)');
  },
};

/** A binary kernel as the training graph computes it, with what its backward pass needs. */
export interface TrainedKernel {
  /** The ±1 kernel the layer multiplies by. */
  binary: string;
  /** The per-output-channel scale `[O]` applied after the product, or null. */
  scale: string | null;
  /** dL/d(latent W) from dL/d(binary kernel): the straight-through window 1{|W| ≤ clip}. */
  ste(dq: string): string;
}

/**
 * The training engine's parameters for the shared lowering: float parameters are views of the flat
 * vectors fed each step, and binary kernels are quantized in the graph from their latent weights
 * (recorded, so the backward rules reach the same values).
 */
export class FlatParams implements ParamSource {
  /** Quantized kernels by parameter name. */
  readonly kernels = new Map<string, TrainedKernel>();

  constructor(
    private readonly e: Emitter,
    /** A parameter's slice of its flat vector, reshaped to `dims`. */
    private readonly view: (spec: ParamSpec, dims: readonly number[]) => string,
  ) {}

  constantValues(): null {
    return null;
  }

  float(_ctx: LowerCtx, _node: GraphNode, spec: ParamSpec, dims: readonly number[]): string {
    return this.view(spec, dims);
  }

  foldedConv(ctx: LowerCtx, conv: NodeOf<'conv'>, bn: NodeOf<'batchnorm'>): { kernel: string; bias: string } {
    const { e } = this;
    const param = (node: GraphNode, role: string) => ctx.floatParam(node, role);
    const s = e.op('Div', [param(bn, 'gamma'), e.op('Sqrt', [e.op('Add', [param(bn, 'moving_variance'), e.f32(bn.attrs.epsilon)])])], {}, { hint: 'fold_scale' });
    const kernel = e.op('Mul', [param(conv, 'kernel'), e.op('Reshape', [s, e.i64([-1, 1, 1, 1])])], {}, { hint: 'folded_kernel' });
    const centred = conv.attrs.bias ? e.op('Sub', [param(conv, 'bias'), param(bn, 'moving_mean')]) : e.op('Neg', [param(bn, 'moving_mean')]);
    const bias = e.op('Add', [e.op('Mul', [centred, s]), param(bn, 'beta')], {}, { hint: 'folded_bias' });
    return { kernel, bias };
  }

  binaryKernel(ctx: LowerCtx, node: GraphNode, spec: ParamSpec, quantizer: QuantizerRef<WeightQuantizerName>, scaleDims: readonly number[]): LoweredKernel {
    const { e } = this;
    const latent = this.view(spec, spec.shape);
    // The output channel is axis 0 of a conv kernel [O, I, kh, kw] and axis 1 of a dense kernel [in, out].
    const outAxis = spec.shape.length === 2 ? 1 : 0;
    const binary = ctx.sign(node, latent, `${spec.name}/binary`);
    const scale = KERNEL_SCALES[quantizer.name](e, latent, spec.shape.length, outAxis);
    this.kernels.set(spec.name, { binary, scale, ste: (dq) => passInside(e, latent, dq, quantizer.args.clip) });
    return { kernel: binary, scale: scale && (scaleDims.length === 1 ? scale : e.op('Reshape', [scale, e.i64(scaleDims)], {}, { hint: 'scale' })) };
  }
}
