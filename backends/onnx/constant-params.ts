/**
 * The exporter's parameters: every weight a constant of the model file. Binary kernels are quantized
 * here, on the host, and stored as ±1 float32 or uint8 {0, 2}, or one bit per weight with a chain of
 * constant ops that onnxruntime folds when the session loads.
 */
import type { GraphNode, ParamSpec, QuantizerRef, WeightMap } from '../../src/graph/types.js';
import type { WeightQuantizerName } from '../../src/quantizers.js';
import { paramDoc, type LowerCtx, type LoweredKernel, type ParamSource } from './context.js';
import { packBits, quantizeKernel } from './kernels.js';
import { onnx, type AttrValue } from './proto.js';

const INT32 = onnx.TensorProto.DataType.INT32;

export class ConstantParams implements ParamSource {
  constructor(private readonly weights: WeightMap) {}

  constantValues(spec: ParamSpec): Float32Array {
    const data = this.weights.get(spec.name);
    if (!data) throw new Error(`internal: no weights for ${spec.name}`);
    return data;
  }

  float(ctx: LowerCtx, node: GraphNode, spec: ParamSpec, dims: readonly number[]): string {
    return ctx.g.initializer(spec.name, 'float32', dims, this.constantValues(spec), paramDoc(node, spec));
  }

  /**
   * The float variant always has a scale, 1 for a plain sign, which the layer applies as
   * `Mul(scale, y)`: onnxruntime then cannot fold it, or the batch norm after it, into the constant ±1
   * kernel (its Conv+Mul and Conv+BN fusions match only `Mul(y, constant)` and a BN fed by the Conv).
   * Folded, the kernel's values would no longer be ±1 and an exact 0 sum would come out as ±1e−7,
   * flipping the next sign(0) = +1. The integer variant cannot fold, and needs no scale of 1.
   */
  binaryKernel(ctx: LowerCtx, node: GraphNode, spec: ParamSpec, quantizer: QuantizerRef<WeightQuantizerName>, scaleDims: readonly number[], integer: boolean): LoweredKernel {
    const { positive, scale: magnitude } = quantizeKernel(spec, this.constantValues(spec), quantizer);
    const kernel = this.kernelValue(ctx, node, spec, positive, integer);
    const scale = magnitude ?? (integer ? null : new Float32Array(scaleDims[0]).fill(1));
    if (!scale) return { kernel, scale: null };
    const doc = magnitude
      ? `${quantizer.name} scale of ${node.name}, per output channel`
      : `output scale of ${node.name}: 1 (a plain sign), kept so that runtimes cannot fold later affine ops into the ±1 kernel`;
    return { kernel, scale: ctx.floatTensor(`${node.name}/kernel_scale`, scaleDims, scale, doc) };
  }

  /**
   * A binary kernel as an ONNX value: ±1 float32, or uint8 {0, 2} in the integer variant. Packed, the
   * file holds one bit per weight; a Gather from a 256-row table (each byte's eight values) unpacks it
   * one byte per weight (bool, or the uint8 values themselves), and a Where turns the bools into ±1.
   * Every input of that chain is constant, so onnxruntime folds it when the session loads; working in
   * single bytes until the last step keeps that folding cheap.
   */
  private kernelValue(ctx: LowerCtx, node: GraphNode, spec: ParamSpec, positive: Uint8Array, integer: boolean): string {
    const { g } = ctx;
    const form = integer ? 'uint8 {0, 2} (zero point 1)' : 'float32 ±1';
    if (!ctx.options.packBits) {
      const data = integer ? Uint8Array.from(positive, (b) => 2 * b) : Float32Array.from(positive, (b) => 2 * b - 1);
      return g.initializer(spec.name, integer ? 'uint8' : 'float32', spec.shape, data, `${paramDoc(node, spec)}; binary, stored as ${form}`);
    }
    const count = positive.length;
    const bits = g.initializer(`${spec.name}/bits`, 'uint8', [Math.ceil(count / 8)], packBits(positive),
      `${paramDoc(node, spec)}; binary, 1 bit per weight, most significant bit first, 1 = +1, 0 = −1; unpacked to ${form}`);
    const step = (op: string, inputs: string[], suffix: string, attrs: Record<string, AttrValue> = {}) => {
      const out = g.fresh(`${spec.name}/${suffix}`);
      g.node(op, inputs, [out], attrs);
      return out;
    };
    const indices = step('Cast', [bits], 'bytes', { to: INT32 });
    let flat = step('Gather', [byteTable(ctx, integer), indices], 'unpacked', { axis: 0 });
    if (count % 8 !== 0) flat = step('Slice', [step('Reshape', [flat, ctx.int64s([-1])], 'flat'), ctx.int64s([0]), ctx.int64s([count])], 'trimmed');
    const doc = { doc: `${spec.name} unpacked from 1 bit per weight to ${form}; constant, so folded when the session loads` };
    const kernel = g.fresh(spec.name);
    if (integer) {
      g.node('Reshape', [flat, ctx.int64s(spec.shape)], [kernel], {}, doc);
      return kernel;
    }
    const isPositive = step('Reshape', [flat, ctx.int64s(spec.shape)], 'is_positive');
    g.node('Where', [isPositive, ctx.scalar(1, 'sofar/plus_one'), ctx.scalar(-1, 'sofar/minus_one')], [kernel], {}, doc);
    return kernel;
  }
}

/** Row b holds the eight kernel bits byte b stands for, most significant bit first: bool, or uint8 {0, 2}. */
function byteTable(ctx: LowerCtx, integer: boolean): string {
  const name = integer ? 'sofar/byte_to_uint8_binary' : 'sofar/byte_to_bits';
  return ctx.cached(`table:${name}`, () => {
    const table = new Uint8Array(256 * 8);
    for (let b = 0; b < 256; b++) for (let k = 0; k < 8; k++) table[b * 8 + k] = ((b >> (7 - k)) & 1) * (integer ? 2 : 1);
    return ctx.g.initializer(name, integer ? 'uint8' : 'bool', [256, 8], table,
      `bit-unpacking table: row b holds the eight binary weights byte b encodes (most significant bit first), as ${integer ? 'uint8 {0, 2}' : 'bool (true = +1)'}`);
  });
}
