/**
 * The state one lowering shares across node kinds: the ONNX graph under construction, the weights, the
 * value each graph node produced, and the handful of constants and sub-graphs every layer reuses
 * (sign constants, the bit-unpacking chain).
 */
import type { GraphNode, NodeOf, ParamSpec, QuantizerRef, WeightMap } from '../../src/graph/types.js';
import { packBits, quantizeKernel } from './kernels.js';
import { onnx, OnnxGraph, type AttrValue, type ElemType } from './proto.js';

export interface LowerOptions {
  /** Store binary kernels one bit per weight (unpacked by constant-folded ops). */
  packBits: boolean;
  /** Binary convs and dense layers as ConvInteger / MatMulInteger on uint8 {0, 2} with zero point 1. */
  integer: boolean;
  /** Binary layers and signs as `ai.sofar` operators (docs/operators.md) instead of standard ones. */
  binaryOps: boolean;
}

/** A lowered binary kernel: the value holding it and its magnitude-aware scale, if any. */
export interface LoweredKernel {
  kernel: string;
  scale: Float32Array | null;
}

export class LowerCtx {
  /** The ONNX value holding each graph node's output, indexed by node id. */
  readonly values: string[] = [];
  private readonly cache = new Map<string, string>();

  constructor(
    readonly g: OnnxGraph,
    readonly weights: WeightMap,
    readonly options: LowerOptions,
    /** `--binary-ops`: batch norms folded into the binary layer before them, by that layer's id. */
    readonly bnFolds: ReadonlyMap<number, NodeOf<'batchnorm'>> = new Map(),
  ) {}

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

  /** Like `emit`, for an operator of another domain (`ai.sofar`). */
  emitIn(node: GraphNode, domain: string, opType: string, inputs: readonly string[], output: string, attrs: Record<string, AttrValue>): string {
    const name = this.g.fresh(output);
    this.g.node(opType, inputs, [name], attrs, { doc: describe(node), domain });
    return name;
  }

  /** A float parameter stored under its hierarchical name, optionally with broadcastable dims. */
  floatParam(node: GraphNode, role: string, dims?: readonly number[]): string {
    const spec = this.spec(node, role);
    return this.g.initializer(spec.name, 'float32', dims ?? spec.shape, this.values32(spec), paramDoc(node, spec));
  }

  spec(node: GraphNode, role: string): ParamSpec {
    const spec = node.params.find((p) => p.role === role);
    if (!spec) throw new Error(`internal: ${node.name} has no parameter '${role}'`);
    return spec;
  }

  values32(spec: ParamSpec): Float32Array {
    const data = this.weights.get(spec.name);
    if (!data) throw new Error(`internal: no weights for ${spec.name}`);
    return data;
  }

  /**
   * A binary kernel as an ONNX value: ±1 float32, or uint8 {0, 2} in the integer variant. Packed, the
   * file holds one bit per weight; a Gather from a 256-row table (each byte's eight values) unpacks it
   * one byte per weight (bool, or the uint8 values themselves), and a Where turns the bools into ±1.
   * Every input of that chain is constant, so onnxruntime folds it when the session loads; working in
   * single bytes until the last step keeps that folding cheap.
   */
  binaryKernel(node: GraphNode, role: string, quantizer: QuantizerRef): LoweredKernel {
    const spec = this.spec(node, role);
    const { positive, scale } = quantizeKernel(spec, this.values32(spec), quantizer);
    const integer = this.options.integer;
    const form = integer ? 'uint8 {0, 2} (zero point 1)' : 'float32 ±1';
    if (!this.options.packBits) {
      const data = integer ? Uint8Array.from(positive, (b) => 2 * b) : Float32Array.from(positive, (b) => 2 * b - 1);
      return { kernel: this.g.initializer(spec.name, integer ? 'uint8' : 'float32', spec.shape, data, `${paramDoc(node, spec)}; binary, stored as ${form}`), scale };
    }
    const count = positive.length;
    const bits = this.g.initializer(`${spec.name}/bits`, 'uint8', [Math.ceil(count / 8)], packBits(positive),
      `${paramDoc(node, spec)}; binary, 1 bit per weight, most significant bit first, 1 = +1, 0 = −1; unpacked to ${form}`);
    const step = (op: string, inputs: string[], suffix: string, attrs: Record<string, AttrValue> = {}) => {
      const out = this.g.fresh(`${spec.name}/${suffix}`);
      this.g.node(op, inputs, [out], attrs);
      return out;
    };
    const indices = step('Cast', [bits], 'bytes', { to: INT32 });
    let flat = step('Gather', [this.byteTable(), indices], 'unpacked', { axis: 0 });
    if (count % 8 !== 0) flat = step('Slice', [step('Reshape', [flat, this.int64s([-1])], 'flat'), this.int64s([0]), this.int64s([count])], 'trimmed');
    const doc = { doc: `${spec.name} unpacked from 1 bit per weight to ${form}; constant, so folded when the session loads` };
    if (integer) {
      const kernel = this.g.fresh(spec.name);
      this.g.node('Reshape', [flat, this.int64s(spec.shape)], [kernel], {}, doc);
      return { kernel, scale };
    }
    const isPositive = step('Reshape', [flat, this.int64s(spec.shape)], 'is_positive');
    const kernel = this.g.fresh(spec.name);
    this.g.node('Where', [isPositive, this.scalar(1, 'sofar/plus_one'), this.scalar(-1, 'sofar/minus_one')], [kernel], {}, doc);
    return { kernel, scale };
  }

  /** Row b holds the eight kernel bits byte b stands for, most significant bit first: bool, or uint8 {0, 2}. */
  private byteTable(): string {
    const integer = this.options.integer;
    const name = integer ? 'sofar/byte_to_uint8_binary' : 'sofar/byte_to_bits';
    const key = `table:${name}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const table = new Uint8Array(256 * 8);
    for (let b = 0; b < 256; b++) for (let k = 0; k < 8; k++) table[b * 8 + k] = ((b >> (7 - k)) & 1) * (integer ? 2 : 1);
    const value = this.g.initializer(name, integer ? 'uint8' : 'bool', [256, 8], table,
      `bit-unpacking table: row b holds the eight binary weights byte b encodes (most significant bit first), as ${integer ? 'uint8 {0, 2}' : 'bool (true = +1)'}`);
    this.cache.set(key, value);
    return value;
  }

  /**
   * A ±1 activation as uint8 {0, 2} for ConvInteger / MatMulInteger (zero point 1 maps it back to ±1,
   * and padded cells hold the zero point, i.e. 0, as in Larq). Computed once per value.
   */
  asUint8Binary(node: GraphNode, value: string): string {
    const key = `u8:${value}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const nonNegative = this.emit(node, 'GreaterOrEqual', [value, this.scalar(0, 'sofar/zero')], `${value}/is_positive`);
    const out = this.emit(node, 'Where', [nonNegative, this.constant('uint8', [], Uint8Array.of(2), 'sofar/u8_plus_one'), this.constant('uint8', [], Uint8Array.of(0), 'sofar/u8_minus_one')], `${value}/u8`);
    this.cache.set(key, out);
    return out;
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

  /** A float vector initialiser private to one node (e.g. a magnitude scale), with broadcastable dims. */
  floatTensor(name: string, dims: readonly number[], data: Float32Array, doc: string): string {
    return this.g.initializer(this.g.fresh(name), 'float32', dims, data, doc);
  }

  private constant(type: ElemType, dims: readonly number[], data: ArrayBufferView, name: string): string {
    const key = `${type}:${name}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const value = this.g.initializer(this.g.fresh(name), type, dims, data);
    this.cache.set(key, value);
    return value;
  }
}

const INT32 = onnx.TensorProto.DataType.INT32;

/** `conv (binary) → 64×56×56 bin, specs/x.sofar:12:5`: what a node is and where it was written. */
export function describe(node: GraphNode): string {
  const where = node.source ? `, ${node.source.file}:${node.source.line}:${node.source.column}` : '';
  const binary = node.params.some((p) => p.binary) ? ' (binary)' : '';
  return `${node.name}: ${node.op}${binary} → ${node.shape.join('×')} ${node.precision}${where}`;
}

function paramDoc(node: GraphNode, spec: ParamSpec): string {
  return `${spec.role} of ${node.name} [${spec.shape.join('×')}]`;
}
