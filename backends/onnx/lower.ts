/**
 * The forward lowering: one entry per graph node kind, each adding the standard ONNX operators (opset
 * 17, NCHW) that compute the node in inference mode as docs/semantics.md defines it, and returning the
 * value that holds its output. The exporter runs it with constant weights; the training engine runs the
 * same table with weights sliced from its flat vectors, adding the backward pass (and its training-mode
 * forward where batch statistics, drop-path or dropout change it), so an exported model computes what
 * the engine validated. A new node kind fails to compile here until it is handled.
 */
import type { GraphNode, NodeOf, OpTable, Pads } from '../../src/graph/types.js';
import type { LowerCtx } from './context.js';
import { onnx } from './proto.js';
import { lowerBinaryLayer, lowerSign } from './binary-ops.js';
import { convAttributes, poolAttributes } from './attributes.js';

const FLOAT = onnx.TensorProto.DataType.FLOAT;

export const LOWERINGS: OpTable<[LowerCtx], string> = {
  input: (node, ctx) => ctx.modelInput(node),

  conv: (node, ctx) => {
    const a = node.attrs;
    const binaryInput = ctx.hasBinaryInput(node);
    if (a.kernelQuantizer && binaryInput && ctx.options.binaryOps) return lowerBinaryLayer(node, ctx);
    // A pad value other than 0 (one-padding) is an explicit Pad before a conv without padding.
    const { x, pads } = paddedInput(node, ctx);
    const attrs = convAttributes({ ...a, pads });
    if (!a.kernelQuantizer) {
      const bn = ctx.bnFolds.get(node.id);
      if (bn) {
        const { kernel, bias } = ctx.foldedConv(node, bn);
        return ctx.conv(node, [x, kernel, bias], bn.name, attrs);
      }
      const inputs = [x, ctx.floatParam(node, 'kernel')];
      if (a.bias) inputs.push(ctx.floatParam(node, 'bias'));
      return ctx.conv(node, inputs, node.name, attrs);
    }
    // ±1 inputs (padded cells 0, or the pad value) against ±1 weights: integer sums, exact in float32
    // and in int32. A real input (BinaryAlexNet's first layer) is a real conv with the ±1 kernel.
    const integer = ctx.integerProduct(node);
    const { kernel, scale } = ctx.binaryKernel(node, 'kernel', a.kernelQuantizer, [a.filters, 1, 1], integer);
    const after = binaryEpilogue(node, ctx, scale, [a.filters, 1, 1]);
    const raw = after.length ? `${node.name}/binary_conv` : node.name;
    const y = integer
      ? ctx.emit(node, 'Cast', [ctx.emit(node, 'ConvInteger', [ctx.asUint8Binary(node, x), kernel, ctx.uint8ZeroPoint(), ctx.uint8ZeroPoint()], `${node.name}/binary_conv_int32`, attrs)], raw, { to: FLOAT })
      : ctx.conv(node, [x, kernel], raw, attrs);
    return applyEpilogue(node, ctx, y, after);
  },

  dense: (node, ctx) => {
    const a = node.attrs;
    const x = ctx.input(node);
    if (!a.kernelQuantizer) {
      const inputs = [x, ctx.floatParam(node, 'kernel')];
      if (a.bias) inputs.push(ctx.floatParam(node, 'bias'));
      return ctx.emit(node, 'Gemm', inputs, node.name);
    }
    const binaryInput = ctx.hasBinaryInput(node);
    if (binaryInput && ctx.options.binaryOps) return lowerBinaryLayer(node, ctx);
    const integer = ctx.integerProduct(node);
    const { kernel, scale } = ctx.binaryKernel(node, 'kernel', a.kernelQuantizer, [a.units], integer);
    const after = binaryEpilogue(node, ctx, scale, [a.units]);
    const raw = after.length ? `${node.name}/binary_matmul` : node.name;
    const y = integer
      ? ctx.emit(node, 'Cast', [ctx.emit(node, 'MatMulInteger', [ctx.asUint8Binary(node, x), kernel, ctx.uint8ZeroPoint(), ctx.uint8ZeroPoint()], `${node.name}/binary_matmul_int32`)], raw, { to: FLOAT })
      : ctx.emit(node, 'MatMul', [x, kernel], raw);
    return applyEpilogue(node, ctx, y, after);
  },

  // Folded into the layer before it where foldableBatchNorms says so (that layer's value already has it).
  batchnorm: (node, ctx) =>
    ctx.bnFolds.has(node.inputs[0])
      ? ctx.input(node)
      : ctx.emit(
      node,
      'BatchNormalization',
      [ctx.input(node), ctx.floatParamOr(node, 'gamma', 1), ctx.floatParamOr(node, 'beta', 0), ctx.floatParam(node, 'moving_mean'), ctx.floatParam(node, 'moving_variance')],
      node.name,
      { epsilon: node.attrs.epsilon, momentum: node.attrs.momentum },
      ['epsilon', 'momentum'],
    ),

  // The sign family is sign(x) forward (they differ in their gradients); the others are not binary and
  // stay standard ops in every variant.
  quantize: (node, ctx) => {
    const q = node.attrs.quantizer;
    const x = ctx.input(node);
    switch (q.name) {
      case 'ste_heaviside':
        return ctx.emit(node, 'Cast', [ctx.emit(node, 'Greater', [x, ctx.scalar(0, 'sofar/zero')], `${node.name}/is_positive`)], node.name, { to: FLOAT });
      case 'dorefa': {
        // round(clip(x, 0, 1)·n)/n; ONNX Round rounds half to even, as the semantics ask.
        const n = ctx.scalar(2 ** q.args.k_bit - 1, `sofar/levels_${q.args.k_bit}`);
        const clipped = ctx.emit(node, 'Clip', [x, ctx.scalar(0, 'sofar/zero'), ctx.scalar(1, 'sofar/plus_one')], `${node.name}/clipped`);
        const rounded = ctx.emit(node, 'Round', [ctx.emit(node, 'Mul', [clipped, n], `${node.name}/scaled`)], `${node.name}/rounded`);
        return ctx.emit(node, 'Div', [rounded, n], node.name);
      }
      default:
        return ctx.options.binaryOps ? lowerSign(node, ctx) : ctx.sign(node, x, node.name);
    }
  },

  relu: (node, ctx) => ctx.emit(node, 'Relu', [ctx.input(node)], node.name),

  prelu: (node, ctx) => {
    const channels = node.shape[0];
    const slope = ctx.floatParam(node, 'alpha', node.shape.length === 3 ? [channels, 1, 1] : [channels]);
    return ctx.emit(node, 'PRelu', [ctx.input(node), slope], node.name);
  },

  hardtanh: (node, ctx) => {
    const min = ctx.floatTensor(`${node.name}/min`, [], Float32Array.of(node.attrs.min), `lower bound of ${node.name}`);
    const max = ctx.floatTensor(`${node.name}/max`, [], Float32Array.of(node.attrs.max), `upper bound of ${node.name}`);
    return ctx.emit(node, 'Clip', [ctx.input(node), min, max], node.name);
  },

  // Padded cells never win a max (ONNX MaxPool ignores padding); ONNX pads read [top, left, bottom, right].
  maxpool: (node, ctx) => ctx.emit(node, 'MaxPool', [ctx.input(node)], node.name, poolAttributes(node.attrs)),

  avgpool: (node, ctx) => ctx.emit(node, 'AveragePool', [ctx.input(node)], node.name, { ...poolAttributes(node.attrs), count_include_pad: 0 }),

  global_avgpool: (node, ctx) => {
    const pooled = ctx.emit(node, 'GlobalAveragePool', [ctx.input(node)], `${node.name}/pooled`);
    return ctx.emit(node, 'Flatten', [pooled], node.name, { axis: 1 });
  },

  flatten: (node, ctx) => ctx.emit(node, 'Flatten', [ctx.input(node)], node.name, { axis: 1 }),

  dropout: (node, ctx) => ctx.emit(node, 'Identity', [ctx.input(node)], node.name),

  // Add takes two inputs; Sum any number (parallel branches).
  add: (node, ctx) => ctx.emit(node, node.inputs.length === 2 ? 'Add' : 'Sum', ctx.inputs(node), node.name),

  concat: (node, ctx) => ctx.emit(node, 'Concat', ctx.inputs(node), node.name, { axis: 1 }),

  bias: (node, ctx) => ctx.emit(node, 'Add', [ctx.input(node), ctx.floatParam(node, 'bias', perChannelDims(node.shape))], node.name),

  sigmoid: (node, ctx) => ctx.emit(node, 'Sigmoid', [ctx.input(node)], node.name),

  // A vector factor [C] on a map scales each channel (squeeze-and-excite): [N, C] → [N, C, 1, 1].
  multiply: (node, ctx) => {
    const [x, s] = ctx.inputs(node);
    const broadcast = node.shape.length === 3 && ctx.inputShape(node, 1).length === 1;
    const factor = broadcast ? ctx.emit(node, 'Unsqueeze', [s, ctx.int64s([2, 3])], `${node.name}/factor`) : s;
    return ctx.emit(node, 'Mul', [x, factor], node.name);
  },

  // z padded with zero channels to x's width, then added: x + 0 is x exactly outside the window.
  add_into: (node, ctx) => {
    const [x, z] = ctx.inputs(node);
    const before = node.attrs.offset;
    const after = node.shape[0] - before - ctx.inputShape(node, 1)[0];
    const rank = node.shape.length + 1;
    const pads = new Array<number>(2 * rank).fill(0);
    pads[1] = before;
    pads[rank + 1] = after;
    const widened = ctx.emit(node, 'Pad', [z, ctx.int64s(pads)], `${node.name}/widened`);
    return ctx.emit(node, 'Add', [x, widened], node.name);
  },

  // Inference mode: every column kept (drop-path is the training engine's).
  join: (node, ctx) => {
    const op = { mean: 'Mean', sum: 'Sum', max: 'Max', concat: 'Concat' }[node.attrs.mode];
    return ctx.emit(node, op, ctx.inputs(node), node.name, node.attrs.mode === 'concat' ? { axis: 1 } : {});
  },
};

/** `[C, 1, 1]` for a map, `[C]` for a vector: a per-channel parameter that broadcasts over the batch. */
const perChannelDims = (shape: readonly number[]) => (shape.length === 3 ? [shape[0], 1, 1] : [shape[0]]);

/**
 * A conv's input and the pads its Conv applies: the input itself and the node's pads, or, with a pad
 * value v ≠ 0 (Larq's one-padding), the input padded with v by an explicit Pad and no pads left.
 */
export function paddedInput(node: NodeOf<'conv'>, ctx: LowerCtx): { x: string; pads: Pads } {
  const a = node.attrs;
  const x = ctx.input(node);
  if (a.padValue === 0 || a.pads.every((p) => p === 0)) return { x, pads: a.pads };
  const [top, left, bottom, right] = a.pads;
  const value = ctx.scalar(a.padValue, `sofar/pad_value_${a.padValue}`.replace('-', 'm').replace('.', '_'));
  const padded = ctx.emit(node, 'Pad', [x, ctx.int64s([0, 0, top, left, 0, 0, bottom, right]), value], `${node.name}/padded`);
  return { x: padded, pads: [0, 0, 0, 0] };
}

type Step = { op: 'Mul' | 'Add'; operand: string; label: string };

/**
 * What follows a binary conv / dense: the per-output-channel scale, then the bias (docs/semantics.md),
 * each with the constant first (see ConstantParams.binaryKernel for why).
 */
function binaryEpilogue(node: NodeOf<'conv'> | NodeOf<'dense'>, ctx: LowerCtx, scale: string | null, dims: number[]): Step[] {
  const steps: Step[] = [];
  if (scale) steps.push({ op: 'Mul', operand: scale, label: 'scaled' });
  if (node.attrs.bias) steps.push({ op: 'Add', operand: ctx.floatParam(node, 'bias', dims), label: 'biased' });
  return steps;
}

/** Applies the steps, constant first (see above); the last one produces the value named after the node. */
function applyEpilogue(node: GraphNode, ctx: LowerCtx, y: string, steps: Step[]): string {
  steps.forEach((step, i) => {
    y = ctx.emit(node, step.op, [step.operand, y], i === steps.length - 1 ? node.name : `${node.name}/${step.label}`);
  });
  return y;
}
