/**
 * The forward lowering: one entry per graph node kind, each adding the standard ONNX operators (opset
 * 17, NCHW) that compute the node in inference mode as docs/semantics.md defines it, and returning the
 * value that holds its output. The exporter runs it with constant weights; the training engine runs the
 * same table with weights sliced from its flat vectors, adding the backward pass (and its training-mode
 * forward where batch statistics, drop-path or dropout change it), so an exported model computes what
 * the engine validated. A new node kind fails to compile here until it is handled.
 */
import type { GraphNode, NodeOf, OpTable } from '../../src/graph/types.js';
import type { LowerCtx } from './context.js';
import { onnx } from './proto.js';
import { lowerBinaryLayer, lowerSign } from './binary-ops.js';
import { convAttributes, poolAttributes } from './attributes.js';

const FLOAT = onnx.TensorProto.DataType.FLOAT;

export const LOWERINGS: OpTable<[LowerCtx], string> = {
  input: (node, ctx) => ctx.modelInput(node),

  conv: (node, ctx) => {
    const a = node.attrs;
    const attrs = convAttributes(a);
    const x = ctx.input(node);
    if (!a.kernelQuantizer) {
      const bn = ctx.bnFolds.get(node.id);
      if (bn) {
        const { kernel, bias } = ctx.foldedConv(node, bn);
        return ctx.emit(node, 'Conv', [x, kernel, bias], bn.name, attrs);
      }
      const inputs = [x, ctx.floatParam(node, 'kernel')];
      if (a.bias) inputs.push(ctx.floatParam(node, 'bias'));
      return ctx.emit(node, 'Conv', inputs, node.name, attrs);
    }
    if (ctx.options.binaryOps) return lowerBinaryLayer(node, ctx);
    // ±1 inputs (padded cells 0) against ±1 weights: integer sums, exact in float32 and in int32.
    const { kernel, scale } = ctx.binaryKernel(node, 'kernel', a.kernelQuantizer, [a.filters, 1, 1]);
    const after = binaryEpilogue(node, ctx, scale, [a.filters, 1, 1]);
    const raw = after.length ? `${node.name}/binary_conv` : node.name;
    const y = ctx.options.integer
      ? ctx.emit(node, 'Cast', [ctx.emit(node, 'ConvInteger', [ctx.asUint8Binary(node, x), kernel, ctx.uint8ZeroPoint(), ctx.uint8ZeroPoint()], `${node.name}/binary_conv_int32`, attrs)], raw, { to: FLOAT })
      : ctx.emit(node, 'Conv', [x, kernel], raw, attrs);
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
    if (ctx.options.binaryOps) return lowerBinaryLayer(node, ctx);
    const { kernel, scale } = ctx.binaryKernel(node, 'kernel', a.kernelQuantizer, [a.units]);
    const after = binaryEpilogue(node, ctx, scale, [a.units]);
    const raw = after.length ? `${node.name}/binary_matmul` : node.name;
    const y = ctx.options.integer
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
      [ctx.input(node), ...['gamma', 'beta', 'moving_mean', 'moving_variance'].map((role) => ctx.floatParam(node, role))],
      node.name,
      { epsilon: node.attrs.epsilon, momentum: node.attrs.momentum },
      ['epsilon', 'momentum'],
    ),

  // Every activation quantizer is sign(x) forward; they differ in their gradients.
  quantize: (node, ctx) => (ctx.options.binaryOps ? lowerSign(node, ctx) : ctx.sign(node, ctx.input(node), node.name)),

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

  add: (node, ctx) => ctx.emit(node, 'Add', ctx.inputs(node), node.name),

  concat: (node, ctx) => ctx.emit(node, 'Concat', ctx.inputs(node), node.name, { axis: 1 }),

  // Inference mode: every column kept (drop-path is the training engine's).
  bias: () => {
    throw new Error('onnx: bias is not lowered yet (issue 20)');
  },
  sigmoid: () => {
    throw new Error('onnx: sigmoid is not lowered yet (issue 20)');
  },
  multiply: () => {
    throw new Error('onnx: multiply is not lowered yet (issue 20)');
  },
  add_into: () => {
    throw new Error('onnx: add_into is not lowered yet (issue 20)');
  },
  join: (node, ctx) => {
    const op = { mean: 'Mean', sum: 'Sum', max: 'Max', concat: 'Concat' }[node.attrs.mode];
    return ctx.emit(node, op, ctx.inputs(node), node.name, node.attrs.mode === 'concat' ? { axis: 1 } : {});
  },
};

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
