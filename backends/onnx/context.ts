/**
 * The state one forward lowering shares across node kinds: the ONNX graph under construction, where
 * parameters come from (constants in an exported file, or slices of the training engine's flat
 * vectors), the value each graph node produced, and the constants every layer reuses.
 */
import type { Graph, GraphNode, NodeOf, ParamSpec, QuantizerRef } from '../../src/graph/types.js';
import type { WeightQuantizerName } from '../../src/quantizers.js';
import { onnx, OnnxGraph, type AttrValue, type ElemType } from './proto.js';
import type { convAttributes } from './attributes.js';

export interface LowerOptions {
  /** Store binary kernels one bit per weight (unpacked by constant-folded ops). */
  packBits: boolean;
  /** Binary convs and dense layers as ConvInteger / MatMulInteger on uint8 {0, 2} with zero point 1. */
  integer: boolean;
  /** Binary layers and signs as `ai.sofar` operators (docs/operators.md) instead of standard ones. */
  binaryOps: boolean;
}

/** The standard lowering with kernels as the layer computes with them: what the training engine uses. */
export const PLAIN_LOWERING: LowerOptions = { packBits: false, integer: false, binaryOps: false };

/** A lowered binary kernel: the ±1 (or uint8 {0, 2}) kernel, and its per-output-channel scale, if any. */
export interface LoweredKernel {
  kernel: string;
  /** Broadcastable over the layer's output (`[O, 1, 1]` for a conv, `[O]` for a dense layer). */
  scale: string | null;
}

/**
 * Where a lowering's parameters come from. The exporter stores them as constants; the training engine
 * slices them from the flat vectors it feeds each step, and quantizes binary kernels in the graph.
 */
export interface ParamSource {
  /** A float parameter as a value of shape `dims`. */
  float(ctx: LowerCtx, node: GraphNode, spec: ParamSpec, dims: readonly number[]): string;
  /**
   * A binary layer's kernel (`scaleDims`: the broadcastable shape of its scale); `integer`: as uint8
   * {0, 2} for ConvInteger / MatMulInteger, else ±1 float32.
   */
  binaryKernel(ctx: LowerCtx, node: GraphNode, spec: ParamSpec, quantizer: QuantizerRef<WeightQuantizerName>, scaleDims: readonly number[], integer: boolean): LoweredKernel;
  /**
   * A float conv's kernel and bias with the inference batch norm after it folded in (only sources
   * whose lowering folds them, see folds.ts): float32, one rounding per step, in this order:
   * s = γ / √(σ² + ε), W·s per output channel, (b − μ)·s + β.
   */
  foldedConv?(ctx: LowerCtx, conv: NodeOf<'conv'>, bn: NodeOf<'batchnorm'>): { kernel: string; bias: string };
  /** The parameter's values where the model holds them as constants (folding needs them), else null. */
  constantValues(spec: ParamSpec): Float32Array | null;
}

export interface LowerCtxOptions {
  /** The graph being lowered (a layer looks up the precision of its inputs). */
  graph: Graph;
  /** The model's input, when the caller has declared it (the training engine); else `input` is declared. */
  input?: string;
  /** `--binary-ops`: batch norms folded into the binary layer before them, by that layer's id. */
  bnFolds?: ReadonlyMap<number, NodeOf<'batchnorm'>>;
}

export class LowerCtx {
  /** The ONNX value holding each graph node's output, indexed by node id. */
  readonly values: string[] = [];
  readonly bnFolds: ReadonlyMap<number, NodeOf<'batchnorm'>>;
  private readonly cache = new Map<string, string>();
  /** Each value `sign` made, with the comparison (x ≥ 0, bool) it was made from. */
  protected readonly signBits = new Map<string, string>();

  constructor(
    readonly g: OnnxGraph,
    readonly params: ParamSource,
    readonly options: LowerOptions,
    private readonly setup: LowerCtxOptions,
  ) {
    this.bnFolds = setup.bnFolds ?? new Map();
  }

  /** The model's input `[batch, C, H, W]`. */
  modelInput(node: NodeOf<'input'>): string {
    return this.setup.input ?? this.g.input('input', 'float32', ['batch', ...node.shape]);
  }

  /** The ONNX value of the node's i-th input. */
  input(node: GraphNode, i = 0): string {
    const value = this.values[node.inputs[i]];
    if (value === undefined) throw new Error(`internal: ${node.name} reads node ${node.inputs[i]} before it is lowered`);
    return value;
  }

  inputs(node: GraphNode): string[] {
    return node.inputs.map((_, i) => this.input(node, i));
  }

  /** Adds one ONNX node that stands for (part of) a graph node, named and documented after it. */
  emit(node: GraphNode, opType: string, inputs: readonly string[], output: string, attrs: Record<string, AttrValue> = {}, floatAttrs: string[] = []): string {
    const name = this.g.fresh(output);
    this.g.node(opType, inputs, [name], attrs, { doc: describe(node), floatAttrs });
    return name;
  }

  /**
   * A float convolution (`Conv`, NCHW) of the lowered node: `inputs` are x, the kernel and, optionally,
   * a bias. The training engine's CPU lowering overrides it with onnxruntime's blocked kernels.
   */
  conv(node: NodeOf<'conv'>, inputs: readonly string[], output: string, attrs: ReturnType<typeof convAttributes>): string {
    return this.emit(node, 'Conv', inputs, output, attrs);
  }

  /** Like `emit`, for an operator of another domain (`ai.sofar`). */
  emitIn(node: GraphNode, domain: string, opType: string, inputs: readonly string[], output: string, attrs: Record<string, AttrValue>): string {
    const name = this.g.fresh(output);
    this.g.node(opType, inputs, [name], attrs, { doc: describe(node), domain });
    return name;
  }

  /**
   * Whether a binary conv or dense layer multiplies ±1 inputs (its input is `bin`): then its sums are
   * integers (ConvInteger, `ai.sofar` operators); with a quantized kernel on a real input (BinaryAlexNet's
   * first layer, DoReFa's k-bit activations) it is a real product with the quantized kernel.
   */
  hasBinaryInput(node: NodeOf<'conv'> | NodeOf<'dense'>): boolean {
    return node.attrs.kernelQuantizer !== null && this.setup.graph.nodes[node.inputs[0]].precision === 'bin';
  }

  /**
   * Whether a binary conv or dense layer multiplies as ConvInteger / MatMulInteger: the integer variant
   * on ±1 inputs. The training engine's CPU lowering takes the blocked float convolution instead where
   * it can.
   */
  integerProduct(node: NodeOf<'conv'> | NodeOf<'dense'>): boolean {
    return this.options.integer && this.hasBinaryInput(node);
  }

  /** The per-sample shape of the node's i-th input. */
  inputShape(node: GraphNode, i = 0): readonly number[] {
    return this.setup.graph.nodes[node.inputs[i]].shape;
  }

  /** A float parameter, in its own shape or with broadcastable `dims`. */
  floatParam(node: GraphNode, role: string, dims?: readonly number[]): string {
    const spec = this.spec(node, role);
    return this.params.float(this, node, spec, dims ?? spec.shape);
  }

  /**
   * A batch norm's γ (`fill` 1) or β (`fill` 0): the parameter, or a constant vector of `fill` where the
   * node has none (`scale` / `center` off).
   */
  floatParamOr(node: NodeOf<'batchnorm'>, role: 'gamma' | 'beta', fill: number): string {
    if (node.params.some((p) => p.role === role)) return this.floatParam(node, role);
    const channels = node.shape[0];
    return this.constant('float32', [channels], new Float32Array(channels).fill(fill), `sofar/${fill}_x${channels}`.replace('.', '_'));
  }

  /** `floatParamOr`'s values, for folding. */
  values32Or(node: NodeOf<'batchnorm'>, role: 'gamma' | 'beta', fill: number): Float32Array {
    const spec = node.params.find((p) => p.role === role);
    return spec ? this.values32(spec) : new Float32Array(node.shape[0]).fill(fill);
  }

  /** A binary layer's kernel and scale (see ParamSource.binaryKernel). */
  binaryKernel(node: GraphNode, role: string, quantizer: QuantizerRef<WeightQuantizerName>, scaleDims: readonly number[], integer = this.options.integer): LoweredKernel {
    return this.params.binaryKernel(this, node, this.spec(node, role), quantizer, scaleDims, integer);
  }

  spec(node: GraphNode, role: string): ParamSpec {
    const spec = node.params.find((p) => p.role === role);
    if (!spec) throw new Error(`internal: ${node.name} has no parameter '${role}'`);
    return spec;
  }

  /** A float conv's kernel and bias with the batch norm after it folded in (see ParamSource.foldedConv). */
  foldedConv(conv: NodeOf<'conv'>, bn: NodeOf<'batchnorm'>): { kernel: string; bias: string } {
    if (!this.params.foldedConv) throw new Error(`internal: this lowering's parameters cannot fold ${bn.name} into ${conv.name}`);
    return this.params.foldedConv(this, conv, bn);
  }

  /** A parameter's values; only lowerings whose parameters are constants (exports) can fold them. */
  values32(spec: ParamSpec): Float32Array {
    const data = this.params.constantValues(spec);
    if (!data) throw new Error(`internal: ${spec.name} is not a constant of this model, so it cannot be folded`);
    return data;
  }

  /** sign(x) with sign(0) = +1 (ONNX `Sign` gives 0 at 0, so compare instead), as the value `output`. */
  sign(node: GraphNode, x: string, output: string): string {
    const nonNegative = this.emit(node, 'GreaterOrEqual', [x, this.scalar(0, 'sofar/zero')], `${output}/is_positive`);
    const sign = this.signOf(node, nonNegative, output);
    this.signBits.set(sign, nonNegative);
    return sign;
  }

  /** ±1 from the comparison x ≥ 0, as the value `output`. */
  protected signOf(node: GraphNode, nonNegative: string, output: string): string {
    return this.emit(node, 'Where', [nonNegative, this.scalar(1, 'sofar/plus_one'), this.scalar(-1, 'sofar/minus_one')], output);
  }

  /**
   * A ±1 activation as uint8 {0, 2} for ConvInteger / MatMulInteger (zero point 1 maps it back to ±1,
   * and padded cells hold the zero point, i.e. 0, as in Larq). Computed once per value.
   */
  asUint8Binary(node: GraphNode, value: string): string {
    return this.cached(`u8:${value}`, () => this.uint8Binary(node, this.emit(node, 'GreaterOrEqual', [value, this.scalar(0, 'sofar/zero')], `${value}/is_positive`), value));
  }

  /** uint8 {0, 2} from `nonNegative` (bool), as the value `<value>/u8`. */
  protected uint8Binary(node: GraphNode, nonNegative: string, value: string): string {
    return this.emit(node, 'Where', [nonNegative, this.constant('uint8', [], Uint8Array.of(2), 'sofar/u8_plus_one'), this.constant('uint8', [], Uint8Array.of(0), 'sofar/u8_minus_one')], `${value}/u8`);
  }

  /** The uint8 zero point 1 shared by every integer binary layer. */
  uint8ZeroPoint(): string {
    return this.constant('uint8', [], Uint8Array.of(1), 'sofar/u8_zero_point');
  }

  /** A shared float scalar, stored once under `name`. */
  scalar(value: number, name: string): string {
    return this.constant('float32', [], Float32Array.of(value), name);
  }

  /** A shared int64 vector (shapes, axes). */
  int64s(values: readonly number[]): string {
    return this.constant('int64', [values.length], BigInt64Array.from(values.map((v) => BigInt(v))), `sofar/i64_${values.join('_').replace(/-/g, 'm')}`);
  }

  /** A float initialiser private to one node (e.g. a magnitude scale), with broadcastable dims. */
  floatTensor(name: string, dims: readonly number[], data: Float32Array, doc: string): string {
    return this.g.initializer(this.g.fresh(name), 'float32', dims, data, doc);
  }

  /** A constant made once per key. */
  cached(key: string, make: () => string): string {
    let value = this.cache.get(key);
    if (value === undefined) {
      value = make();
      this.cache.set(key, value);
    }
    return value;
  }

  private constant(type: ElemType, dims: readonly number[], data: ArrayBufferView, name: string): string {
    return this.cached(`${type}:${name}`, () => this.g.initializer(this.g.fresh(name), type, dims, data));
  }
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** `conv (binary) → 64×56×56 bin, specs/x.sofar:12:5`: what a node is and where it was written. */
export function describe(node: GraphNode): string {
  const where = node.source ? `, ${node.source.file}:${node.source.line}:${node.source.column}` : '';
  const binary = node.params.some((p) => p.binary) ? ' (binary)' : '';
  return `${node.name}: ${node.op}${binary} → ${node.shape.join('×')} ${node.precision}${where}`;
}

export function paramDoc(node: GraphNode, spec: ParamSpec): string {
  return `${spec.role} of ${node.name} [${spec.shape.join('×')}]`;
}
