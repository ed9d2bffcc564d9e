/**
 * The differentiation table: for every node kind, its backward pass as ONNX, on top of the forward
 * value the shared lowering (backends/onnx/lower.ts) emits — so the engine trains and validates the
 * very graph the exporter writes. Where training mode changes the forward pass (batch statistics,
 * drop-path, dropout, and max pooling's winners) a rule emits that forward itself. A rule returns its
 * output and a closure that, given dL/dy, emits dL/d(inputs) and dL/d(parameters); the closure reads
 * whatever forward values it needs, so the step model keeps exactly those alive. Numerics follow
 * docs/semantics.md.
 */
import { dispatch, type GraphNode, type OpTable, type Pads } from '../../src/graph/types.js';
import { poolAttributes } from '../onnx/attributes.js';
import type { Emitter } from './emitter.js';
import { gate } from './pointwise.js';
import { activationGrad, type TrainedKernel } from './quantizers.js';
import { avgPoolInputGrad, convInputGrad, convWeightGrad, maxPoolInputGrad, tiledMaxPoolInputGrad, tilesWindows } from './spatial.js';

/** What a rule may ask of the step model while emitting one node. */
export interface RuleContext {
  readonly e: Emitter;
  /** Training mode: batch statistics, drop-path and dropout masks. Otherwise inference. */
  readonly training: boolean;
  /** Forward values of the node's inputs (for the input node: the model's input). */
  readonly inputs: readonly string[];
  /** Per-sample shapes of those inputs. */
  readonly inputShapes: readonly (readonly number[])[];
  /** The node's inference-mode forward value, emitted by the shared lowering (once). */
  forward(): string;
  /** The quantized kernel the lowering computed for a binary layer's parameter; undefined for a float one. */
  kernel(role: string): TrainedKernel | undefined;
  /** Whether dL/d(input i) is needed. */
  wantsGrad(i: number): boolean;
  /** Whether the parameter with this role is trained (gets a gradient). */
  trains(role: string): boolean;
  /** The node's parameter with this role, in its own shape or reshaped to `dims` (as the lowering read it). */
  param(role: string, dims?: readonly number[]): string;
  /** Training only: the new value of a non-trainable parameter (batch norm's moving statistics). */
  setState(role: string, value: string): void;
  /** Training only: the node's mask input (drop-path `[k]`, dropout `[N, ...shape]`). */
  mask(): string;
  /** Float scalar: number of samples in the batch. */
  batchSize(): string;
  /** The CPU's NCHWc channel block for onnxruntime's blocked convolutions (nchwc.ts); 0: plain ops only. */
  readonly nchwcBlock: number;
  /** The CPU provider's operator set, com.microsoft's contributed operators among them (FusedMatMul). */
  readonly cpuOps: boolean;
  /** Batch statistics from the CPU provider's BatchNormalization in training mode (batchnorm below). */
  readonly trainingBatchNorm: boolean;
}

export interface Gradients {
  /** dL/d(input i), aligned with the node's inputs; null where not wanted. */
  inputs?: (string | null)[];
  /**
   * Pending per-channel factors `[C]` of the input gradients: the true dL/d(input i) is
   * `inputs[i] · inputScales[i]` along axis 1. A consumer that is linear in its output gradient folds
   * the factor into its small tensors (a conv into its kernel) and saves a pass over the large one.
   */
  inputScales?: (string | null)[];
  /** dL/d(parameter) by role. */
  params?: Record<string, string>;
}

export interface Emitted {
  output: string;
  /**
   * Absent for nodes with nothing to differentiate. `dyScale`, when given, is a pending per-channel
   * factor of dy (see Gradients.inputScales); only rules that set `foldsScale` receive one.
   */
  backward?: (dy: string, dyScale?: string) => Gradients;
  /** The backward closure accepts a pending per-channel factor of dy. */
  foldsScale?: boolean;
}

/** Channel axis reshape of a per-channel vector so it broadcasts over `[N, C, H, W]` or `[N, C]`. */
export function perChannel(e: Emitter, v: string, rank: number): string {
  return rank === 3 ? e.op('Unsqueeze', [v, e.i64([1, 2])]) : v;
}

/** Reduction axes that leave the channel axis: `[0, 2, 3]` for maps, `[0]` for vectors. */
const channelAxes = (rank: number) => (rank === 3 ? [0, 2, 3] : [0]);

const where = (e: Emitter, cond: string, a: string, b: string) => e.op('Where', [cond, a, b]);

interface BatchStatistics {
  y: string;
  mean: string;
  /** Biased, as Keras and docs/semantics.md use for both normalising and the update. */
  variance: string;
  /** x − μ: the one the reductions made on the way, or made at the first call (the backward's). */
  centred: () => string;
}

/**
 * A training batch norm's output and batch statistics. On the CPU (`trainingBatchNorm`) one pass of
 * onnxruntime's BatchNormalization in training mode, whose running outputs with momentum 0 are the batch
 * mean and biased variance: 1.7 against 6.1 ms for ReduceMean, Sub, ReduceSumSquare and an inference
 * BatchNormalization on a [128, 32, 28, 28] map (2 threads). The kernel may write those outputs into its
 * mean and variance inputs' buffers even where other nodes read them, so its inputs are zeros of their own
 * (the moving statistic × 0, finite while training is).
 */
function batchStatistics(ctx: RuleContext, x: string, gamma: string, beta: string, epsilon: number, rank: number, count: string): BatchStatistics {
  const { e } = ctx;
  const centre = (mean: string) => {
    let centred: string | undefined;
    return () => (centred ??= e.op('Sub', [x, perChannel(e, mean, rank)], {}, { hint: 'centred' }));
  };
  if (ctx.trainingBatchNorm) {
    const privateZeros = (role: string) => e.op('Mul', [ctx.param(role), e.f32(0)], {}, { hint: `${role}_unread` });
    const [y, mean, variance] = e.opN('BatchNormalization', [x, gamma, beta, privateZeros('moving_mean'), privateZeros('moving_variance')], 3, { epsilon, momentum: 0, training_mode: 1 }, { hint: 'y', floats: ['epsilon', 'momentum'] });
    return { y, mean, variance, centred: centre(mean) };
  }
  const axes = channelAxes(rank);
  const mean = e.op('ReduceMean', [x], { axes, keepdims: 0 }, { hint: 'mean' });
  const centred = centre(mean);
  const variance = e.op('Div', [e.op('ReduceSumSquare', [centred()], { axes, keepdims: 0 }), count], {}, { hint: 'var' });
  const y = e.op('BatchNormalization', [x, gamma, beta, mean, variance], { epsilon }, { hint: 'y', floats: ['epsilon'] });
  return { y, mean, variance, centred };
}

export const TRAIN_RULES: OpTable<[RuleContext], Emitted> = {
  input: (_node, ctx) => ({ output: ctx.forward() }),

  // y = s·conv(x, w) + b, with w the ±1 kernel and s its scale for binary layers (w the latent kernel
  // and no s for float ones). With a pending factor p of dy (true dy = dy·p per output channel), the
  // bias sees dy·p, the quantized kernel s·w sees dy·p and the input dy·p·s: each folds into the small
  // tensors, dW and the kernel of dx. A pad value v ≠ 0 convolves the input padded with v (the
  // lowering's explicit Pad) without pads; dx is then that of the padded input, cropped.
  conv: (node, ctx) => {
    const { e } = ctx;
    const { x: unpadded, output, binary, w } = productLayer(ctx);
    const [, h, wd] = ctx.inputShapes[0];
    const [top, left, bottom, right] = node.attrs.pads;
    const onePadded = node.attrs.padValue !== 0 && node.attrs.pads.some((p) => p !== 0);
    const a = onePadded ? { ...node.attrs, pads: [0, 0, 0, 0] as Pads } : node.attrs;
    const inShape = onePadded ? [ctx.inputShapes[0][0], h + top + bottom, wd + left + right] : ctx.inputShapes[0];
    return {
      output,
      foldsScale: true,
      backward: (dy, dyScale) => {
        const x = onePadded ? e.op('Pad', [unpadded, e.i64([0, 0, top, left, 0, 0, bottom, right]), e.f32(node.attrs.padValue)], {}, { hint: 'padded' }) : unpadded;
        const perFilter = (v: string | null) => (v ? e.op('Reshape', [v, e.i64([-1, 1, 1, 1])], {}, { hint: 'dyscale' }) : null);
        const params: Record<string, string> = {};
        if (ctx.trains('kernel')) {
          const raw = convWeightGrad(e, x, dy, a, inShape, node.shape, ctx.cpuOps, ctx.nchwcBlock);
          const pending = perFilter(dyScale ?? null);
          const dq = pending ? e.op('Mul', [raw, pending], {}, { hint: 'dWscaled' }) : raw;
          params.kernel = binary ? binary.grad(dq) : dq;
        }
        if (a.bias && ctx.trains('bias')) {
          const raw = e.op('ReduceSum', [dy, e.i64([0, 2, 3])], { keepdims: 0 }, { hint: 'dbias' });
          params.bias = dyScale ? e.op('Mul', [raw, dyScale], {}, { hint: 'dbias' }) : raw;
        }
        const factor = perFilter(product(e, dyScale ?? null, binary?.scale ?? null));
        const kernel = factor ? e.op('Mul', [w, factor], {}, { hint: 'wscaled' }) : w;
        let dx = ctx.wantsGrad(0) ? convInputGrad(e, dy, kernel, a, inShape, node.shape, ctx.nchwcBlock) : null;
        if (dx && onePadded) dx = e.op('Slice', [dx, e.i64([top, left]), e.i64([top + h, left + wd]), e.i64([2, 3])], {}, { hint: 'dx' });
        return { inputs: [dx], params };
      },
    };
  },

  // y = s·(x w) + b, as the conv above.
  dense: (node, ctx) => {
    const { e } = ctx;
    const a = node.attrs;
    const { x, output, binary, w } = productLayer(ctx);
    return {
      output,
      backward: (dy) => {
        const params: Record<string, string> = {};
        if (ctx.trains('kernel')) {
          const dq = e.op('Gemm', [x, dy], { transA: 1 }, { hint: 'dW' });
          params.kernel = binary ? binary.grad(dq) : dq;
        }
        if (a.bias && ctx.trains('bias')) params.bias = e.op('ReduceSum', [dy, e.i64([0])], { keepdims: 0 }, { hint: 'dbias' });
        const dProduct = binary?.scale ? e.op('Mul', [dy, binary.scale], {}, { hint: 'dyscaled' }) : dy;
        const dx = ctx.wantsGrad(0) ? e.op('Gemm', [dProduct, w], { transB: 1 }, { hint: 'dx' }) : null;
        return { inputs: [dx], params };
      },
    };
  },

  batchnorm: (node, ctx) => {
    const { e } = ctx;
    const { momentum, epsilon } = node.attrs;
    const x = ctx.inputs[0];
    const rank = node.shape.length;
    const channels = node.shape[0];
    if (!ctx.training) return { output: ctx.forward() };
    // Without scale / center the node has no γ / β: 1 and 0 (docs/semantics.md).
    const has = (role: string) => node.params.some((p) => p.role === role);
    const gamma = has('gamma') ? ctx.param('gamma') : e.constantVector(channels, 1);
    const beta = has('beta') ? ctx.param('beta') : e.constantVector(channels, 0);
    const axes = channelAxes(rank);
    const perSample = rank === 3 ? node.shape[1] * node.shape[2] : 1;
    const count = perSample === 1 ? ctx.batchSize() : e.op('Mul', [ctx.batchSize(), e.f32(perSample)], {}, { hint: 'count' });
    const { y, mean, variance, centred: centredOnce } = batchStatistics(ctx, x, gamma, beta, epsilon, rank, count);
    const follow = (role: string, batchValue: string) =>
      ctx.setState(
        role,
        e.op('Add', [e.op('Mul', [ctx.param(role), e.f32(momentum)]), e.op('Mul', [batchValue, e.f32(1 - momentum)])], {}, { hint: role }),
      );
    follow('moving_mean', mean);
    follow('moving_variance', variance);
    const invStd = e.op('Reciprocal', [e.op('Sqrt', [e.op('Add', [variance, e.f32(epsilon)])])], {}, { hint: 'invstd' });
    return {
      output: y,
      backward: (dy) => {
        const centred = centredOnce();
        const dBeta = e.op('ReduceSum', [dy, e.i64(axes)], { keepdims: 0 }, { hint: 'dbeta' });
        const dyCentred = e.op('ReduceSum', [e.op('Mul', [dy, centred]), e.i64(axes)], { keepdims: 0 });
        const dGamma = e.op('Mul', [dyCentred, invStd], {}, { hint: 'dgamma' });
        const params: Record<string, string> = {};
        if (ctx.trains('gamma')) params.gamma = dGamma;
        if (ctx.trains('beta')) params.beta = dBeta;
        if (!ctx.wantsGrad(0)) return { inputs: [null], params };
        // dx = a·(dy − mean(dy) − x̂·mean(dy·x̂)) with a = γ/σ and x̂ = (x − μ)/σ, i.e. a·g with
        // g = dy + coefCentred·(x − μ) + coefConst per channel (BatchNormalization with mean 0 and
        // variance 1 applies the last two terms in one pass). The factor a stays pending: a conv
        // before the batch norm folds it into its kernel, anything else multiplies it in.
        const a = e.op('Mul', [gamma, invStd], {}, { hint: 'a' });
        const coefCentred = e.op('Neg', [e.op('Div', [e.op('Mul', [invStd, dGamma]), count])]);
        const coefConst = e.op('Neg', [e.op('Div', [dBeta, count])]);
        const zeros = e.constantVector(channels, 0);
        const ones = e.constantVector(channels, 1);
        const affine = e.op('BatchNormalization', [centred, coefCentred, coefConst, zeros, ones], { epsilon: 0 }, { floats: ['epsilon'] });
        const g = e.op('Add', [dy, affine], {}, { hint: 'g' });
        return { inputs: [g], inputScales: [a], params };
      },
    };
  },

  quantize: (node, ctx) => ({
    output: ctx.forward(),
    backward: (dy) => ({ inputs: [activationGrad(ctx.e, node.attrs.quantizer, ctx.inputs[0], dy, node.shape[0])] }),
  }),

  relu: (_node, ctx) => {
    const { e } = ctx;
    const x = ctx.inputs[0];
    // The gradient at 0 is 0 (TensorFlow's convention).
    return { output: ctx.forward(), backward: (dy) => ({ inputs: [gate(e, dy, e.op('Greater', [x, e.f32(0)]))] }) };
  },

  prelu: (node, ctx) => {
    const { e } = ctx;
    const x = ctx.inputs[0];
    const rank = node.shape.length;
    const alpha = ctx.param('alpha', rank === 3 ? [node.shape[0], 1, 1] : [node.shape[0]]);
    return {
      output: ctx.forward(),
      backward: (dy) => {
        const negative = e.op('Less', [x, e.f32(0)]);
        const params: Record<string, string> = {};
        if (ctx.trains('alpha')) {
          const contribution = where(e, negative, e.op('Mul', [dy, x]), e.f32(0));
          params.alpha = e.op('ReduceSum', [contribution, e.i64(channelAxes(rank))], { keepdims: 0 }, { hint: 'dalpha' });
        }
        const dx = ctx.wantsGrad(0) ? where(e, negative, e.op('Mul', [dy, alpha]), dy) : null;
        return { inputs: [dx], params };
      },
    };
  },

  hardtanh: (node, ctx) => {
    const { e } = ctx;
    const x = ctx.inputs[0];
    const { min, max } = node.attrs;
    return {
      output: ctx.forward(),
      backward: (dy) => {
        const inside = e.op('And', [e.op('GreaterOrEqual', [x, e.f32(min)]), e.op('LessOrEqual', [x, e.f32(max)])]);
        return { inputs: [gate(e, dy, inside)] };
      },
    };
  },

  maxpool: (node, ctx) => {
    const { e } = ctx;
    const a = node.attrs;
    const x = ctx.inputs[0];
    if (!ctx.training || !ctx.wantsGrad(0)) return { output: ctx.forward() };
    if (tilesWindows(a)) {
      // Non-overlapping windows: winners found by comparing each window tap with the maximum, which
      // is much faster than MaxPool's indices and a scatter.
      const y = ctx.forward();
      return { output: y, backward: (dy) => ({ inputs: [tiledMaxPoolInputGrad(e, x, y, dy, a, ctx.inputShapes[0], node.shape)] }) };
    }
    // Overlapping windows: the winners come from MaxPool's second output, which the forward must emit.
    const [y, indices] = e.opN('MaxPool', [x], 2, poolAttributes(a), { hint: 'pool' });
    return { output: y, backward: (dy) => ({ inputs: [maxPoolInputGrad(e, x, indices, dy)] }) };
  },

  avgpool: (node, ctx) => {
    const { e } = ctx;
    const a = node.attrs;
    return { output: ctx.forward(), backward: (dy) => ({ inputs: [avgPoolInputGrad(e, dy, a, ctx.inputShapes[0], node.shape)] }) };
  },

  global_avgpool: (_node, ctx) => {
    const { e } = ctx;
    const [c, h, w] = ctx.inputShapes[0];
    return {
      output: ctx.forward(),
      backward: (dy) => {
        const share = e.op('Reshape', [e.op('Mul', [dy, e.f32(1 / (h * w))]), e.i64([0, c, 1, 1])]);
        return { inputs: [e.op('Expand', [share, e.i64([1, 1, h, w])], {}, { hint: 'dx' })] };
      },
    };
  },

  flatten: (_node, ctx) => {
    const { e } = ctx;
    return {
      output: ctx.forward(),
      backward: (dy) => ({ inputs: [e.op('Reshape', [dy, e.i64([0, ...ctx.inputShapes[0]])], {}, { hint: 'dx' })] }),
    };
  },

  dropout: (_node, ctx) => {
    const { e } = ctx;
    if (!ctx.training) return { output: ctx.forward() };
    // The mask arrives already scaled by 1/(1 − p).
    const mask = ctx.mask();
    return { output: e.op('Mul', [ctx.inputs[0], mask], {}, { hint: 'y' }), backward: (dy) => ({ inputs: [e.op('Mul', [dy, mask], {}, { hint: 'dx' })] }) };
  },

  add: (node, ctx) => ({
    output: ctx.forward(),
    backward: (dy) => ({ inputs: node.inputs.map(() => dy) }),
  }),

  concat: (_node, ctx) => {
    const { e } = ctx;
    return {
      output: ctx.forward(),
      backward: (dy) => ({ inputs: splitChannels(e, dy, ctx.inputShapes) }),
    };
  },

  // y = x + b_c: dx = dy, db = dy summed over all but the channel axis.
  bias: (node, ctx) => {
    const { e } = ctx;
    return {
      output: ctx.forward(),
      backward: (dy): Gradients => ({
        inputs: [dy],
        params: ctx.trains('bias') ? { bias: e.op('ReduceSum', [dy, e.i64(channelAxes(node.shape.length))], { keepdims: 0 }, { hint: 'dbias' }) } : {},
      }),
    };
  },

  // dx = dy · σ(x)(1 − σ(x)), from the forward value y = σ(x).
  sigmoid: (_node, ctx) => {
    const { e } = ctx;
    const y = ctx.forward();
    return {
      output: y,
      backward: (dy) => ({ inputs: [e.op('Mul', [dy, e.op('Mul', [y, e.op('Sub', [e.f32(1), y])], {}, { hint: 'slope' })], {}, { hint: 'dx' })] }),
    };
  },

  // y = x ⊙ s: dx = dy ⊙ s, ds = dy ⊙ x, summed over H and W where s is a vector broadcast over them.
  multiply: (node, ctx) => {
    const { e } = ctx;
    const [x, s] = ctx.inputs;
    const broadcast = node.shape.length === 3 && ctx.inputShapes[1].length === 1;
    return {
      output: ctx.forward(),
      backward: (dy) => {
        const factor = broadcast ? e.op('Unsqueeze', [s, e.i64([2, 3])], {}, { hint: 'factor' }) : s;
        const dx = ctx.wantsGrad(0) ? e.op('Mul', [dy, factor], {}, { hint: 'dx' }) : null;
        let ds = ctx.wantsGrad(1) ? e.op('Mul', [dy, x], {}, { hint: 'ds' }) : null;
        if (ds && broadcast) ds = e.op('ReduceSum', [ds, e.i64([2, 3])], { keepdims: 0 }, { hint: 'ds' });
        return { inputs: [dx, ds] };
      },
    };
  },

  // y = x with z added into channels offset … offset + C₁ − 1: dx = dy, dz = those channels of dy.
  add_into: (node, ctx) => {
    const { e } = ctx;
    const start = node.attrs.offset;
    const end = start + ctx.inputShapes[1][0];
    return {
      output: ctx.forward(),
      backward: (dy) => ({ inputs: [dy, ctx.wantsGrad(1) ? e.op('Slice', [dy, e.i64([start]), e.i64([end]), e.i64([1])], {}, { hint: 'dz' }) : null] }),
    };
  },

  join: (node, ctx) => {
    const { e } = ctx;
    const xs = ctx.inputs;
    const k = xs.length;
    const { mode } = node.attrs;
    if (!ctx.training) return { output: ctx.forward() };
    // Training: each input weighted by its drop-path mask bit.
    const mask = ctx.mask();
    const bit = (i: number, of = mask) => e.op('Gather', [of, e.i64Scalar(i)], { axis: 0 }, { hint: `m${i}` });
    switch (mode) {
      case 'mean':
      case 'sum': {
        // mean = Σ mᵢxᵢ / Σ mᵢ; sum = Σ mᵢxᵢ.
        const weights = mode === 'mean' ? e.op('Div', [mask, e.op('ReduceSum', [mask], { keepdims: 1 })], {}, { hint: 'weights' }) : mask;
        const w = xs.map((_, i) => bit(i, weights));
        const y = e.op('Sum', xs.map((x, i) => e.op('Mul', [x, w[i]])), {}, { hint: 'y' });
        return { output: y, backward: (dy) => ({ inputs: w.map((wi, i) => (ctx.wantsGrad(i) ? e.op('Mul', [dy, wi], {}, { hint: 'dx' }) : null)) }) };
      }
      case 'max': {
        // Dropped inputs never win; the gradient goes to the first kept input holding the maximum.
        const kept = xs.map((x, i) => where(e, e.op('Greater', [bit(i), e.f32(0)]), x, e.f32(-Infinity)));
        const y = e.op('Max', kept, {}, { hint: 'y' });
        return {
          output: y,
          backward: (dy) => {
            let taken: string | null = null;
            const inputs: (string | null)[] = [];
            for (let i = 0; i < k; i++) {
              const hit = e.op('Equal', [kept[i], y]);
              const wins = taken === null ? hit : e.op('And', [hit, e.op('Not', [taken])]);
              taken = taken === null ? hit : e.op('Or', [taken, hit]);
              inputs.push(ctx.wantsGrad(i) ? gate(e, dy, wins) : null);
            }
            return { inputs };
          },
        };
      }
      case 'concat': {
        const bits = xs.map((_, i) => bit(i));
        const y = e.op('Concat', xs.map((x, i) => e.op('Mul', [x, bits[i]])), { axis: 1 }, { hint: 'y' });
        return {
          output: y,
          backward: (dy) => ({
            inputs: splitChannels(e, dy, ctx.inputShapes).map((part, i) => (ctx.wantsGrad(i) ? e.op('Mul', [part, bits[i]], {}, { hint: 'dx' }) : null)),
          }),
        };
      }
    }
  },
};

/**
 * What a conv's or dense layer's backward pass reads: its input, its forward value, and the kernel the
 * product used (the ±1 kernel of a binary layer, whose record the lowering leaves behind, or the
 * latent one of a float layer).
 */
function productLayer(ctx: RuleContext): { x: string; output: string; binary: TrainedKernel | undefined; w: string } {
  const output = ctx.forward();
  const binary = ctx.kernel('kernel');
  return { x: ctx.inputs[0], output, binary, w: binary ? binary.binary : ctx.param('kernel') };
}

/** The product of two optional per-channel factors. */
function product(e: Emitter, a: string | null, b: string | null): string | null {
  return a && b ? e.op('Mul', [a, b], {}, { hint: 'factor' }) : (a ?? b);
}

function splitChannels(e: Emitter, dy: string, shapes: readonly (readonly number[])[]): string[] {
  if (shapes.length === 1) return [dy];
  return e.opN('Split', [dy, e.i64(shapes.map((s) => s[0]))], shapes.length, { axis: 1 }, { hint: 'dx' });
}

export function emitNode(node: GraphNode, ctx: RuleContext): Emitted {
  return ctx.e.scoped(node.name, () => dispatch(TRAIN_RULES, node, ctx));
}
