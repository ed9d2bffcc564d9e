/**
 * The typed graph: SoFAr's intermediate representation.
 *
 * Every stage after elaboration reads this plain data and nothing else: the checker, the cost model,
 * the printers and every backend. Nodes are stored in topological order and a node's id is its index
 * in `Graph.nodes`; `inputs` refer to earlier ids. Shapes are per sample (no batch axis), NCHW:
 * `[C, H, W]` for feature maps, `[F]` for vectors.
 */

import type { Span } from '../diagnostics.js';
import type { ActivationQuantizerName, QuantizerName, WeightQuantizerName } from '../quantizers.js';

/** Where a node came from in a `.sofar` file. */
export type SourceLocation = Span;

/** `f32`: real values; `bin`: values known to lie in {−1, +1}. */
export type Precision = 'f32' | 'bin';

/** A quantizer by its registered name and its (numeric) arguments, e.g. `ste_sign(clip=1.3)`. */
export interface QuantizerRef<Name extends QuantizerName = QuantizerName> {
  name: Name;
  args: Record<string, number>;
}

/** Initialiser by registered name (`glorot_normal`, `he_normal`, `zeros`, `ones`, ...). */
export type InitName =
  | 'glorot_normal'
  | 'glorot_uniform'
  | 'he_normal'
  | 'he_uniform'
  | 'zeros'
  | 'ones'
  | 'constant_0.25';

/**
 * One parameter tensor of a node. Layouts: conv kernel `[filters, C_in/groups, kh, kw]` (OIHW), dense
 * kernel `[in, out]`, biases, batch-norm vectors and PReLU slopes `[C]`.
 */
/** One parameter tensor of a node. Names are hierarchical and stable: `stage2/unit1/bconv/kernel`. */
export interface ParamSpec {
  name: string;
  /** The parameter's role inside its node (`kernel`, `bias`, `gamma`, `beta`, `moving_mean`, ...). */
  role: string;
  shape: number[];
  /** A kernel stored and executed as 1 bit per value. */
  binary: boolean;
  trainable: boolean;
  init: InitName;
}

export type Pads = [top: number, left: number, bottom: number, right: number];
export type Pair = [number, number];

export type JoinMode = 'mean' | 'sum' | 'max' | 'concat';

/** Attributes of every node kind. Adding a kind here forces every backend's lowering table to handle it. */
export interface OpAttrs {
  input: Record<string, never>;
  /** Convolution; binary when `kernelQuantizer` is set (its input must then be `bin`). */
  conv: {
    filters: number;
    kernel: Pair;
    stride: Pair;
    pads: Pads;
    dilation: Pair;
    groups: number;
    bias: boolean;
    kernelQuantizer: QuantizerRef<WeightQuantizerName> | null;
    /** Latent weights are clipped to [−clip, clip] after each update (Larq's weight_clip). */
    kernelClip: number | null;
  };
  /** Fully connected layer on a vector input; binary when `kernelQuantizer` is set. */
  dense: {
    units: number;
    bias: boolean;
    kernelQuantizer: QuantizerRef<WeightQuantizerName> | null;
    kernelClip: number | null;
  };
  batchnorm: { momentum: number; epsilon: number };
  /** An activation quantizer: output in {−1, +1}. */
  quantize: { quantizer: QuantizerRef<ActivationQuantizerName> };
  relu: Record<string, never>;
  prelu: Record<string, never>;
  hardtanh: { min: number; max: number };
  maxpool: { kernel: Pair; stride: Pair; pads: Pads };
  /** Average pooling; padded cells are excluded from the mean (TensorFlow's `same`). */
  avgpool: { kernel: Pair; stride: Pair; pads: Pads };
  /** Mean over H and W; output is a vector `[C]`. */
  global_avgpool: Record<string, never>;
  flatten: Record<string, never>;
  dropout: { rate: number };
  /** Element-wise sum of two tensors of equal shape (residual shortcut). */
  add: Record<string, never>;
  /** Channel concatenation (dense shortcut). */
  concat: Record<string, never>;
  /**
   * A fractal join. `columns[i]` is the fractal column (1 = shallowest) that input i belongs to;
   * drop-path rates apply in training only: `local` drops each input with that probability (at least
   * one kept), `global` is the share of batches that keep a single column for the whole network.
   */
  join: {
    mode: JoinMode;
    fractal: string;
    columns: number[];
    dropPath: { local: number; global: number };
  };
}

export type OpKind = keyof OpAttrs;

export const OP_KINDS: readonly OpKind[] = [
  'input',
  'conv',
  'dense',
  'batchnorm',
  'quantize',
  'relu',
  'prelu',
  'hardtanh',
  'maxpool',
  'avgpool',
  'global_avgpool',
  'flatten',
  'dropout',
  'add',
  'concat',
  'join',
] as const;

export interface NodeOf<K extends OpKind> {
  id: number;
  /** Hierarchical, unique: `stage2/fractal/col3/unit1/bconv`. */
  name: string;
  op: K;
  inputs: number[];
  attrs: OpAttrs[K];
  /** Output shape per sample: `[C, H, W]` or `[F]`. */
  shape: number[];
  precision: Precision;
  params: ParamSpec[];
  source?: SourceLocation;
}

export type GraphNode = { [K in OpKind]: NodeOf<K> }[OpKind];

export const GRAPH_FORMAT = 'sofar-graph';
export const GRAPH_VERSION = 1;

export interface Graph {
  format: typeof GRAPH_FORMAT;
  version: typeof GRAPH_VERSION;
  name: string;
  /** Input shape `[C, H, W]`. */
  input: number[];
  classes: number;
  nodes: GraphNode[];
  /** Id of the node whose output is the model's output (the logits). */
  output: number;
}

/**
 * A table with one function per node kind: the shape of every backend's lowering (PyTorch FX style).
 * A new node kind fails to compile until every table handles it.
 */
export type OpTable<Args extends unknown[], R> = { [K in OpKind]: (node: NodeOf<K>, ...args: Args) => R };

/** Calls the table's entry for the node's kind. */
export function dispatch<Args extends unknown[], R>(table: OpTable<Args, R>, node: GraphNode, ...args: Args): R {
  const fn = table[node.op] as (node: GraphNode, ...args: Args) => R;
  return fn(node, ...args);
}

/** Weights keyed by parameter name; values in the parameter's shape, row-major. */
export type WeightMap = Map<string, Float32Array>;

export function isNode<K extends OpKind>(node: GraphNode, op: K): node is NodeOf<K> & GraphNode {
  return node.op === op;
}
