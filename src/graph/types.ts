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
  | 'constant_0.25'
  /** The parameter's exact values are given in `ParamSpec.values` (a fixed kernel such as a blur). */
  | 'fixed';

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
  /** With `init: 'fixed'`: every value, row-major in `shape` (QuickNet's blur-pool kernel). */
  values?: number[];
}

export type Pads = [top: number, left: number, bottom: number, right: number];
export type Pair = [number, number];

export type JoinMode = 'mean' | 'sum' | 'max' | 'concat';

/** Attributes of every node kind. Adding a kind here forces every backend's lowering table to handle it. */
export interface OpAttrs {
  input: Record<string, never>;
  /**
   * Convolution. Its kernel is quantized when `kernelQuantizer` is set; its MACs are binary when the
   * input is `bin` too (a quantized kernel on a real input, BinaryAlexNet's first layer, is legitimate).
   */
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
    /**
     * The value the (already quantized) input is padded with: 0, or 1 for Larq's `pad_values=1`
     * ("one-padding", a +1 border that keeps a binary input binary).
     */
    padValue: number;
  };
  /** Fully connected layer on a vector input; binary when `kernelQuantizer` is set. */
  dense: {
    units: number;
    bias: boolean;
    kernelQuantizer: QuantizerRef<WeightQuantizerName> | null;
    kernelClip: number | null;
  };
  /**
   * Batch normalisation. Without `scale` the node has no gamma (γ = 1), without `center` no beta
   * (β = 0): Keras' `scale=False` / `center=False`.
   */
  batchnorm: { momentum: number; epsilon: number; scale: boolean; center: boolean };
  /**
   * An activation quantizer. The sign family outputs {−1, +1} (precision `bin`); `ste_heaviside`
   * outputs {0, 1} and `dorefa` k-bit levels in [0, 1] (precision `f32`, counted at their bit width).
   */
  quantize: { quantizer: QuantizerRef<ActivationQuantizerName> };
  relu: Record<string, never>;
  /** PReLU with one slope a channel (shared over H and W), parameter `alpha` `[C]`. */
  prelu: Record<string, never>;
  /** clip(x, min, max); the language's `clip` and `hardtanh`. */
  hardtanh: { min: number; max: number };
  /** A learnable shift a channel: x + b[c], parameter `bias` `[C]` (ReActNet's RSign and RPReLU shifts). */
  bias: Record<string, never>;
  /** 1 / (1 + e^−x). */
  sigmoid: Record<string, never>;
  maxpool: { kernel: Pair; stride: Pair; pads: Pads };
  /** Average pooling; padded cells are excluded from the mean (TensorFlow's `same`). */
  avgpool: { kernel: Pair; stride: Pair; pads: Pads };
  /** Mean over H and W; output is a vector `[C]`. */
  global_avgpool: Record<string, never>;
  flatten: Record<string, never>;
  dropout: { rate: number };
  /** Element-wise sum of two or more tensors of equal shape (residual shortcut, parallel branches). */
  add: Record<string, never>;
  /** Channel concatenation of two or more tensors (dense shortcut, parallel branches). */
  concat: Record<string, never>;
  /**
   * Element-wise product of input 0 (`[C, H, W]` or `[F]`) and input 1, which has the same shape or is a
   * vector `[C]` broadcast over H and W (squeeze-and-excite scaling).
   */
  multiply: Record<string, never>;
  /**
   * Input 0 with input 1 added into its channels `offset … offset + C₁ − 1` (the others pass unchanged):
   * MeliusNet's improvement block adds into the last C₁ channels (`offset = C₀ − C₁`).
   */
  add_into: { offset: number };
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
  'bias',
  'sigmoid',
  'maxpool',
  'avgpool',
  'global_avgpool',
  'flatten',
  'dropout',
  'add',
  'concat',
  'multiply',
  'add_into',
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
