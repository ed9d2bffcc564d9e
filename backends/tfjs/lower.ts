/**
 * Lowering: the graph as a `tf.LayersModel` (NHWC inside), one Keras layer per node through a table over
 * every node kind, weights taken from the graph's weight map (its seeded initialisation or trained
 * values). The model takes `[n, H, W, C]` and returns the graph output (logits `[n, classes]`).
 */
import { dispatch, type Graph, type GraphNode, type NodeOf, type OpTable, type WeightMap } from '../../src/graph/types.js';
import { sampleShapeToBackend, paramToBackend } from './layout.js';
import { registerSofarLayers, type SofarLayers } from './layers.js';
import { defaultTf, type LayersModel, type SymbolicTensor, type Tensor, type Tf } from './tf.js';
import { assertValid } from '../../src/check.js';

type Layer = InstanceType<Tf['layers']['Layer']>;

interface Context {
  tf: Tf;
  layers: SofarLayers;
  weights: WeightMap;
  values: SymbolicTensor[];
  layerNames: Map<number, string>;
  /** Weights to load once the model is built, in each layer's weight order. */
  pending: { layer: Layer; tensors: Tensor[] }[];
}

const inputOf = (node: GraphNode, ctx: Context) => ctx.values[node.inputs[0]];
const inputsOf = (node: GraphNode, ctx: Context) => node.inputs.map((id) => ctx.values[id]);

/** Applies `layer` to `inputs` and queues the node's parameters (by role, in the layer's order). */
function apply(ctx: Context, node: GraphNode, layer: Layer, inputs: SymbolicTensor | SymbolicTensor[], roles: string[] = [], reshape?: (shape: number[]) => number[]): SymbolicTensor {
  const out = layer.apply(inputs) as SymbolicTensor;
  if (roles.length) {
    const tensors = roles.map((role) => {
      const spec = node.params.find((p) => p.role === role);
      if (!spec) throw new Error(`internal: node '${node.name}' has no parameter '${role}'`);
      const values = ctx.weights.get(spec.name);
      if (!values) throw new Error(`no weights for parameter '${spec.name}'`);
      const t = paramToBackend(ctx.tf, spec, values);
      if (!reshape) return t;
      const reshaped = ctx.tf.reshape(t, reshape(t.shape));
      t.dispose();
      return reshaped;
    });
    ctx.pending.push({ layer, tensors });
  }
  return out;
}

const name = (node: GraphNode, ctx: Context) => ctx.layerNames.get(node.id)!;

const LOWER: OpTable<[Context], SymbolicTensor> = {
  input: () => {
    throw new Error('internal: the input node is lowered before the table runs');
  },
  conv: (node, ctx) => {
    const kernelTrainable = node.params.find((p) => p.role === 'kernel')?.trainable ?? true;
    const layer = new ctx.layers.SofarQuantConv2D({ name: name(node, ctx), ...node.attrs, kernelTrainable });
    return apply(ctx, node, layer, inputOf(node, ctx), node.attrs.bias ? ['kernel', 'bias'] : ['kernel']);
  },
  dense: (node, ctx) => {
    const layer = new ctx.layers.SofarQuantDense({ name: name(node, ctx), ...node.attrs });
    return apply(ctx, node, layer, inputOf(node, ctx), node.attrs.bias ? ['kernel', 'bias'] : ['kernel']);
  },
  batchnorm: (node, ctx) => {
    const layer = ctx.tf.layers.batchNormalization({ name: name(node, ctx), axis: -1, ...node.attrs });
    // Keras orders gamma, beta, moving mean, moving variance, leaving out gamma without scale and beta without center.
    const roles = ['gamma', 'beta', 'moving_mean', 'moving_variance'].filter((role) => node.params.some((p) => p.role === role));
    return apply(ctx, node, layer, inputOf(node, ctx), roles);
  },
  quantize: (node, ctx) => apply(ctx, node, new ctx.layers.SofarQuantizer({ name: name(node, ctx), quantizer: node.attrs.quantizer }), inputOf(node, ctx)),
  relu: (node, ctx) => apply(ctx, node, ctx.tf.layers.reLU({ name: name(node, ctx) }), inputOf(node, ctx)),
  prelu: (node, ctx) => {
    const map = node.shape.length === 3;
    // Keras keeps one slope per channel as [1, 1, C] when height and width share it.
    const layer = ctx.tf.layers.prelu({ name: name(node, ctx), ...(map ? { sharedAxes: [1, 2] } : {}) });
    return apply(ctx, node, layer, inputOf(node, ctx), ['alpha'], map ? (s) => [1, 1, s[0]] : undefined);
  },
  hardtanh: (node, ctx) => apply(ctx, node, new ctx.layers.SofarHardtanh({ name: name(node, ctx), ...node.attrs }), inputOf(node, ctx)),
  maxpool: (node, ctx) => apply(ctx, node, new ctx.layers.SofarPool2D({ name: name(node, ctx), mode: 'max', ...node.attrs }), inputOf(node, ctx)),
  avgpool: (node, ctx) => apply(ctx, node, new ctx.layers.SofarPool2D({ name: name(node, ctx), mode: 'avg', ...node.attrs }), inputOf(node, ctx)),
  global_avgpool: (node, ctx) => apply(ctx, node, ctx.tf.layers.globalAveragePooling2d({ name: name(node, ctx), dataFormat: 'channelsLast' }), inputOf(node, ctx)),
  flatten: (node, ctx) => apply(ctx, node, new ctx.layers.SofarFlatten({ name: name(node, ctx) }), inputOf(node, ctx)),
  dropout: (node, ctx) => apply(ctx, node, ctx.tf.layers.dropout({ name: name(node, ctx), rate: node.attrs.rate }), inputOf(node, ctx)),
  add: (node, ctx) => apply(ctx, node, ctx.tf.layers.add({ name: name(node, ctx) }), inputsOf(node, ctx)),
  concat: (node, ctx) => apply(ctx, node, ctx.tf.layers.concatenate({ name: name(node, ctx), axis: -1 }), inputsOf(node, ctx)),
  bias: (node, ctx) => apply(ctx, node, new ctx.layers.SofarBias({ name: name(node, ctx) }), inputOf(node, ctx), ['bias']),
  sigmoid: (node, ctx) => apply(ctx, node, ctx.tf.layers.activation({ name: name(node, ctx), activation: 'sigmoid' }), inputOf(node, ctx)),
  multiply: (node, ctx) => apply(ctx, node, new ctx.layers.SofarMultiply({ name: name(node, ctx) }), inputsOf(node, ctx)),
  add_into: (node, ctx) => apply(ctx, node, new ctx.layers.SofarAddInto({ name: name(node, ctx), offset: node.attrs.offset }), inputsOf(node, ctx)),
  join: (node: NodeOf<'join'>, ctx) => {
    const { mode, columns, dropPath } = node.attrs;
    return apply(ctx, node, new ctx.layers.SofarJoin({ name: name(node, ctx), mode, columns, dropPath }), inputsOf(node, ctx));
  },
};

/** tfjs accepts `[A-Za-z0-9][-A-Za-z0-9._/]*` in weight names, which derive from layer names. */
export function kerasName(name: string): string {
  const cleaned = name.replace(/[^-A-Za-z0-9._/]/g, '_');
  return /^[A-Za-z0-9]/.test(cleaned) ? cleaned : `n${cleaned}`;
}

function layerNames(graph: Graph): Map<number, string> {
  const used = new Set<string>();
  const names = new Map<number, string>();
  for (const node of graph.nodes) {
    const base = kerasName(node.name);
    let candidate = base;
    for (let k = 1; used.has(candidate); k++) candidate = `${base}_${k}`;
    used.add(candidate);
    names.set(node.id, candidate);
  }
  return names;
}

/** The graph as a Keras model with the given weights (graph layouts); SoFAr's layers get registered. */
export function buildTfjsModel(graph: Graph, weights: WeightMap, tf: Tf = defaultTf): LayersModel {
  assertValid(graph);
  const ctx: Context = { tf, layers: registerSofarLayers(tf), weights, values: [], layerNames: layerNames(graph), pending: [] };
  try {
    for (const node of graph.nodes) {
      ctx.values[node.id] =
        node.op === 'input'
          ? tf.input({ shape: sampleShapeToBackend(graph.input), name: name(node, ctx), dtype: 'float32' })
          : dispatch(LOWER, node, ctx);
    }
    const input = graph.nodes.find((n) => n.op === 'input');
    if (!input) throw new Error('internal: the graph has no input node');
    const model = tf.model({ inputs: ctx.values[input.id], outputs: ctx.values[graph.output], name: kerasName(graph.name) });
    for (const { layer, tensors } of ctx.pending) layer.setWeights(tensors);
    return model;
  } finally {
    for (const { tensors } of ctx.pending) for (const t of tensors) t.dispose();
  }
}
