/**
 * The graph as a differentiable function of its parameters: a table over every node kind that computes
 * on tensors directly (PyTorch FX's interpreter). The training engine and `gradients` run through it;
 * inference through it equals the Keras model of lower.ts, since both call ops.ts.
 */
import { dispatch, type Graph, type GraphNode, type NodeOf, type OpTable } from '../../src/graph/types.js';
import type { StepNoise } from '../../src/train/engine.js';
import { activationsToBackend } from './layout.js';
import * as ops from './ops.js';
import { quantize } from './quantizers.js';
import type { Tensor, Tf } from './tf.js';

/** A parameter's tensor (backend layout) by its name. */
export type ParamLookup = (name: string) => Tensor;

export interface ForwardOptions {
  /** Batch statistics in batch norms, drop-path and dropout masks from `noise`. */
  training: boolean;
  /** Training only. A join without a mask keeps every input; a dropout without a mask is the identity. */
  noise?: StepNoise;
}

export interface ForwardResult {
  /** The graph output, NHWC (`[n, classes]` for logits). */
  output: Tensor;
  /** Training only: each batch norm's batch statistics, by node name, for the moving averages. */
  batchStatistics: Map<string, ops.BatchStatistics>;
}

interface Context {
  tf: Tf;
  param: ParamLookup;
  values: Tensor[];
  options: ForwardOptions;
  batchStatistics: Map<string, ops.BatchStatistics>;
}

function paramOf(node: GraphNode, role: string, ctx: Context): Tensor {
  const spec = node.params.find((p) => p.role === role);
  if (!spec) throw new Error(`internal: node '${node.name}' has no parameter '${role}'`);
  return ctx.param(spec.name);
}

function optionalParam(node: GraphNode, role: string, ctx: Context): Tensor | null {
  return node.params.some((p) => p.role === role) ? paramOf(node, role, ctx) : null;
}

const inputOf = (node: GraphNode, ctx: Context, i = 0) => ctx.values[node.inputs[i]];
const inputsOf = (node: GraphNode, ctx: Context) => node.inputs.map((id) => ctx.values[id]);

/**
 * Throws when a mask does not fit its node. Call before a gradient computation: tfjs leaks the tensors
 * it saved for the backward pass when the forward pass throws.
 */
export function checkNoise(graph: Graph, noise: StepNoise, n: number): void {
  for (const node of graph.nodes) {
    if (node.op === 'join') {
      const mask = noise.joinMasks.get(node.name);
      if (mask && (mask.length !== node.inputs.length || !mask.some((m) => m !== 0))) {
        throw new Error(`drop-path mask for '${node.name}' must hold ${node.inputs.length} bits with at least one 1, got [${Array.from(mask).join(', ')}]`);
      }
    } else if (node.op === 'dropout') {
      const mask = noise.dropoutMasks.get(node.name);
      const expected = n * node.shape.reduce((a, b) => a * b, 1);
      if (mask && mask.length !== expected) throw new Error(`dropout mask for '${node.name}' must hold ${expected} values, got ${mask.length}`);
    }
  }
}

function joinMask(node: NodeOf<'join'>, ctx: Context): Float32Array | undefined {
  return ctx.options.training ? ctx.options.noise?.joinMasks.get(node.name) : undefined;
}

const FORWARD: OpTable<[Context], Tensor> = {
  input: () => {
    throw new Error('internal: the input node is bound before the forward pass');
  },
  conv: (node, ctx) => {
    const kernel = ops.layerKernel(ctx.tf, paramOf(node, 'kernel', ctx), node.attrs);
    return ops.conv(ctx.tf, inputOf(node, ctx), kernel, optionalParam(node, 'bias', ctx), node.attrs);
  },
  dense: (node, ctx) => {
    const kernel = ops.layerKernel(ctx.tf, paramOf(node, 'kernel', ctx), node.attrs);
    return ops.dense(ctx.tf, inputOf(node, ctx), kernel, optionalParam(node, 'bias', ctx));
  },
  batchnorm: (node, ctx) => {
    const x = inputOf(node, ctx);
    const gamma = optionalParam(node, 'gamma', ctx);
    const beta = optionalParam(node, 'beta', ctx);
    if (!ctx.options.training) {
      const stats = { mean: paramOf(node, 'moving_mean', ctx), variance: paramOf(node, 'moving_variance', ctx) };
      return ops.batchnorm(ctx.tf, x, stats, gamma, beta, node.attrs.epsilon);
    }
    const stats = ops.batchStatistics(ctx.tf, x);
    ctx.batchStatistics.set(node.name, stats);
    return ops.batchnorm(ctx.tf, x, stats, gamma, beta, node.attrs.epsilon);
  },
  quantize: (node, ctx) => quantize(ctx.tf, inputOf(node, ctx), node.attrs.quantizer),
  relu: (node, ctx) => ctx.tf.relu(inputOf(node, ctx)),
  prelu: (node, ctx) => ops.prelu(ctx.tf, inputOf(node, ctx), paramOf(node, 'alpha', ctx)),
  hardtanh: (node, ctx) => ops.hardtanh(ctx.tf, inputOf(node, ctx), node.attrs),
  maxpool: (node, ctx) => ops.maxpool(ctx.tf, inputOf(node, ctx), node.attrs),
  avgpool: (node, ctx) => ops.avgpool(ctx.tf, inputOf(node, ctx), node.attrs),
  global_avgpool: (node, ctx) => ops.globalAvgpool(ctx.tf, inputOf(node, ctx)),
  flatten: (node, ctx) => ops.flatten(ctx.tf, inputOf(node, ctx)),
  dropout: (node, ctx) => {
    const x = inputOf(node, ctx);
    const mask = ctx.options.training ? ctx.options.noise?.dropoutMasks.get(node.name) : undefined;
    if (!mask) return x;
    // The mask arrives NCHW and already scaled by 1/(1 − p).
    return ctx.tf.mul(x, activationsToBackend(ctx.tf, mask, x.shape[0], node.shape));
  },
  add: (node, ctx) => ops.add(ctx.tf, inputsOf(node, ctx)),
  concat: (node, ctx) => ops.concat(ctx.tf, inputsOf(node, ctx)),
  bias: (node, ctx) => ops.bias(ctx.tf, inputOf(node, ctx), paramOf(node, 'bias', ctx)),
  sigmoid: (node, ctx) => ctx.tf.sigmoid(inputOf(node, ctx)),
  multiply: (node, ctx) => ops.multiply(ctx.tf, inputOf(node, ctx, 0), inputOf(node, ctx, 1)),
  add_into: (node, ctx) => ops.addInto(ctx.tf, inputOf(node, ctx, 0), inputOf(node, ctx, 1), node.attrs.offset),
  join: (node, ctx) => ops.join(ctx.tf, inputsOf(node, ctx), node.attrs.mode, joinMask(node, ctx)),
};

/**
 * Runs the graph on an NHWC batch. Call inside `tf.tidy` (or a gradient function): intermediate
 * tensors are not disposed here.
 */
export function forward(tf: Tf, graph: Graph, param: ParamLookup, x: Tensor, options: ForwardOptions): ForwardResult {
  if (options.training && options.noise) checkNoise(graph, options.noise, x.shape[0]);
  const ctx: Context = { tf, param, values: [], options, batchStatistics: new Map() };
  for (const node of graph.nodes) {
    ctx.values[node.id] = node.op === 'input' ? x : dispatch(FORWARD, node, ctx);
  }
  return { output: ctx.values[graph.output], batchStatistics: ctx.batchStatistics };
}
