/**
 * Each registered quantizer's training side as ONNX, exactly as docs/semantics.md defines it (the table
 * the tfjs backend implements too): the straight-through gradient of every activation quantizer (their
 * forward value is the shared lowering's), and every weight quantizer's kernel as the training
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
  ste_heaviside: (e, x, dy, a) => passInside(e, x, dy, a.clip),
  // dy · 1{0 ≤ x ≤ 1}
  dorefa: (e, x, dy) => gate(e, dy, e.op('And', [e.op('GreaterOrEqual', [x, e.f32(0)]), e.op('LessOrEqual', [x, e.f32(1)])], {}, { hint: 'inside' })),
};

/** dL/dx of an activation quantizer on x (`channels` on axis 1). */
export function activationGrad(e: Emitter, q: QuantizerRef<ActivationQuantizerName>, x: string, dy: string, channels: number): string {
  return ACTIVATION_GRADS[q.name](e, x, dy, q.args, channels);
}

/** A weight quantizer's kernel in the training graph: its per-output-channel scale and its gradient. */
interface KernelRule {
  /** The scale `[O]` applied after the product, or null for a plain sign. */
  scale: string | null;
  /** dL/d(latent W) from dL/dQ, where Q = scale · sign(W) is the quantized kernel. */
  grad(dq: string): string;
}

/** A latent kernel `w` (output channel on `outAxis`), its ±1 kernel, and the quantizer's arguments. */
interface KernelInput {
  w: string;
  binary: string;
  shape: readonly number[];
  rank: number;
  outAxis: number;
  args: Record<string, number>;
}

/** Axes of a kernel other than its output channel's: those a per-output-channel mean reduces. */
const innerAxes = (k: KernelInput) => Array.from({ length: k.rank }, (_, i) => i).filter((i) => i !== k.outAxis);

/** A per-output-channel vector `[O]` shaped to broadcast over the kernel (`[O, 1, 1, 1]`, or `[O]` against `[in, out]`). */
const alongOutputs = (e: Emitter, v: string, k: KernelInput) => (k.rank === 2 ? v : e.op('Reshape', [v, e.i64([-1, 1, 1, 1])], {}, { hint: 'per_filter' }));

/**
 * The mean of `magnitudes` over `axes` (all but the output channel, or every axis), accumulated in
 * float64 and rounded once, as the exporter computes it on the host: float32 sums would round in
 * onnxruntime's order, and the exported model and the engine's validation would differ in the last bit
 * of the odd scale.
 */
function meanInFloat64(e: Emitter, magnitudes: string, axes: number[]): string {
  const wide = e.op('Cast', [magnitudes], { to: DOUBLE }, { hint: 'abs64' });
  return e.op('Cast', [e.op('ReduceMean', [wide], { axes, keepdims: 0 }, { hint: 'scale64' })], { to: FLOAT }, { hint: 'scale' });
}

const KERNEL_RULES: Readonly<Record<WeightQuantizerName, (e: Emitter, k: KernelInput) => KernelRule>> = {
  ste_sign: (e, k) => ({ scale: null, grad: (dq) => passInside(e, k.w, dq, k.args.clip) }),
  // s_o = mean|W[o, …]|, held constant: dQ/dW = s_o · 1{|W| ≤ clip}.
  magnitude_aware_sign: (e, k) => {
    const scale = meanInFloat64(e, e.op('Abs', [k.w]), innerAxes(k));
    return { scale, grad: (dq) => passInside(e, k.w, e.op('Mul', [dq, alongOutputs(e, scale, k)], {}, { hint: 'dq_scaled' }), k.args.clip) };
  },
  // One s = mean|W| for the whole kernel (repeated per output channel), held constant; identity gradient.
  magnitude_aware_sign_unclipped: (e, k) => {
    const mean = meanInFloat64(e, e.op('Abs', [k.w]), Array.from({ length: k.rank }, (_, i) => i));
    const scale = e.op('Expand', [mean, e.i64([k.shape[k.outAxis]])], {}, { hint: 'scale' });
    return { scale, grad: (dq) => dq };
  },
  // α_o = mean|clip(W, −1, 1)[o, …]|, not held constant (docs/semantics.md):
  // dL/dW = 1{|W| ≤ 1} · (α_o dq + sgn(W)/n · Σ_{j∈o} dq_j sign(W_j)), sgn(0) = 0 (ONNX Sign).
  xnor_weight_scale: (e, k) => {
    const clipped = e.op('Clip', [k.w, e.f32(-1), e.f32(1)], {}, { hint: 'clipped' });
    const scale = meanInFloat64(e, e.op('Abs', [clipped]), innerAxes(k));
    const grad = (dq: string) => {
      const n = k.shape.reduce((a, b) => a * b, 1) / k.shape[k.outAxis];
      const through = e.op('ReduceSum', [e.op('Mul', [dq, k.binary]), e.i64(innerAxes(k))], { keepdims: 1 }, { hint: 'dscale' });
      const viaScale = e.op('Mul', [e.op('Sign', [k.w]), e.op('Div', [through, e.f32(n)])], {}, { hint: 'via_scale' });
      const direct = e.op('Mul', [dq, alongOutputs(e, scale, k)], {}, { hint: 'dq_scaled' });
      return passInside(e, k.w, e.op('Add', [direct, viaScale], {}, { hint: 'dq_total' }), 1);
    };
    return { scale, grad };
  },
};

/** A binary kernel as the training graph computes it, with what its backward pass needs. */
export interface TrainedKernel {
  /** The ±1 kernel the layer multiplies by. */
  binary: string;
  /** The per-output-channel scale `[O]` applied after the product, or null. */
  scale: string | null;
  /** dL/d(latent W) from dL/dQ, Q = scale · binary the quantized kernel (docs/semantics.md's gradient column). */
  grad(dq: string): string;
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
    const s = e.op('Div', [ctx.floatParamOr(bn, 'gamma', 1), e.op('Sqrt', [e.op('Add', [param(bn, 'moving_variance'), e.f32(bn.attrs.epsilon)])])], {}, { hint: 'fold_scale' });
    const kernel = e.op('Mul', [param(conv, 'kernel'), e.op('Reshape', [s, e.i64([-1, 1, 1, 1])])], {}, { hint: 'folded_kernel' });
    const centred = conv.attrs.bias ? e.op('Sub', [param(conv, 'bias'), param(bn, 'moving_mean')]) : e.op('Neg', [param(bn, 'moving_mean')]);
    const bias = e.op('Add', [e.op('Mul', [centred, s]), ctx.floatParamOr(bn, 'beta', 0)], {}, { hint: 'folded_bias' });
    return { kernel, bias };
  }

  /** `integer`: the kernel the forward product reads is uint8 {0, 2}; the backward pass keeps the float ±1 one. */
  binaryKernel(ctx: LowerCtx, node: GraphNode, spec: ParamSpec, quantizer: QuantizerRef<WeightQuantizerName>, scaleDims: readonly number[], integer: boolean): LoweredKernel {
    const { e } = this;
    const latent = this.view(spec, spec.shape);
    // The output channel is axis 0 of a conv kernel [O, I, kh, kw] and axis 1 of a dense kernel [in, out].
    const outAxis = spec.shape.length === 2 ? 1 : 0;
    const binary = ctx.sign(node, latent, `${spec.name}/binary`);
    const rule = KERNEL_RULES[quantizer.name](e, { w: latent, binary, shape: spec.shape, rank: spec.shape.length, outAxis, args: quantizer.args });
    const scale = rule.scale;
    this.kernels.set(spec.name, { binary, scale, grad: rule.grad });
    return { kernel: integer ? ctx.asUint8Binary(node, binary) : binary, scale: scale && (scaleDims.length === 1 ? scale : e.op('Reshape', [scale, e.i64(scaleDims)], {}, { hint: 'scale' })) };
  }
}
