/**
 * Runs a `--binary-ops` model on onnxruntime, which has no `ai.sofar` kernels: every SoFAr-domain node
 * is rewritten into standard operators straight from docs/operators.md (sign with sign(0) = +1; the
 * packed kernel unpacked on the host, bit set = −1, along input channels; sign(X) padded with
 * `pad_value`; then `multiplier · acc + bias`). Written from the operator text, not from the exporter, so
 * a model that says something other than the graph means shows up against the float64 reference.
 */
import { onnx, type AttributeProto, type ModelProto as Model, type NodeProto as Node, type TensorProto as Tensor } from '../../backends/onnx/proto.js';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

const floatTensor = (name: string, dims: number[], data: Float32Array): Tensor =>
  onnx.TensorProto.create({ name, dataType: FLOAT, dims, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
const int64Tensor = (name: string, values: number[]): Tensor =>
  onnx.TensorProto.create({ name, dataType: INT64, dims: [values.length], rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
const floats = (t: Tensor) => new Float32Array(Uint8Array.from(t.rawData!).buffer);

function attr(node: Node, name: string): AttributeProto | undefined {
  return node.attribute!.find((a) => a.name === name);
}
const ints = (node: Node, name: string, fallback: number[]) => attr(node, name)?.ints?.map(Number) ?? fallback;
const int = (node: Node, name: string, fallback: number) => (attr(node, name) ? Number(attr(node, name)!.i) : fallback);

/**
 * The model with its `ai.sofar` nodes replaced. `kernelShape(name)` gives the SoFAr shape of the kernel
 * stored under `name` (`[O, C/group, kh, kw]` or `[in, out]`): the packed form rounds channels up to bytes.
 */
export function expandBinaryOps(bytes: Uint8Array, kernelShape: (initializer: string) => number[]): Uint8Array {
  const model: Model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const inits = new Map(graph.initializer!.map((t) => [t.name!, t]));
  const added: Tensor[] = [];
  let fresh = 0;
  const name = (stem: string) => `expanded/${stem}_${fresh++}`;
  const constant = (t: Tensor) => (added.push(t), t.name!);
  const plusOne = constant(floatTensor('expanded/plus_one', [], Float32Array.of(1)));
  const minusOne = constant(floatTensor('expanded/minus_one', [], Float32Array.of(-1)));
  const zero = constant(floatTensor('expanded/zero', [], Float32Array.of(0)));
  const nodes: Node[] = [];
  const emit = (opType: string, inputs: string[], attrs: AttributeProto[] = [], output = name(opType)) => {
    nodes.push(onnx.NodeProto.create({ opType, input: inputs, output: [output], attribute: attrs }));
    return output;
  };
  const sign = (x: string, output?: string) => emit('Where', [emit('GreaterOrEqual', [x, zero]), plusOne, minusOne], [], output);
  const A = onnx.AttributeProto.AttributeType;
  const intsAttr = (n: string, v: number[]) => onnx.AttributeProto.create({ name: n, type: A.INTS, ints: v });
  const intAttr = (n: string, v: number) => onnx.AttributeProto.create({ name: n, type: A.INT, i: v });

  /** `multiplier · acc + bias`, the vectors reshaped to broadcast over `[N, O, …]`. */
  const outputTransform = (node: Node, acc: string, dims: number[]) => {
    const vector = (i: number) => {
      const t = inits.get(node.input![i])!;
      return constant(floatTensor(name('vector'), dims, floats(t)));
    };
    const scaled = node.input!.length > 3 ? emit('Mul', [acc, vector(2)]) : emit('Mul', [acc, vector(2)], [], node.output![0]);
    if (node.input!.length > 3) emit('Add', [scaled, vector(3)], [], node.output![0]);
  };

  for (const node of graph.node!) {
    if (node.domain !== 'ai.sofar') {
      nodes.push(node);
      continue;
    }
    if (node.opType === 'Sign') {
      sign(node.input![0], node.output![0]);
      continue;
    }
    const bits = inits.get(node.input![1])!.rawData!;
    const shape = kernelShape(node.input![1]);
    if (node.opType === 'BinaryConv2D') {
      const [o, c, kh, kw] = shape;
      const bytesPerRun = Math.ceil(c / 8);
      // Bit (c mod 8) of byte ⌊c/8⌋ of run (o, i, j) is set where the weight is −1.
      const kernel = new Float32Array(o * c * kh * kw);
      for (let f = 0; f < o; f++)
        for (let ch = 0; ch < c; ch++)
          for (let i = 0; i < kh; i++)
            for (let j = 0; j < kw; j++) {
              const bit = (bits[((f * kh + i) * kw + j) * bytesPerRun + (ch >> 3)] >> (ch & 7)) & 1;
              kernel[((f * c + ch) * kh + i) * kw + j] = bit ? -1 : 1;
            }
      const [top, left, bottom, right] = ints(node, 'pads', [0, 0, 0, 0]);
      const padValue = int(node, 'pad_value', 0);
      const padValueName = constant(floatTensor(name('pad_value'), [], Float32Array.of(padValue)));
      const padded = emit('Pad', [sign(node.input![0]), constant(int64Tensor(name('pads'), [0, 0, top, left, 0, 0, bottom, right])), padValueName]);
      const acc = emit('Conv', [padded, constant(floatTensor(name('kernel'), [o, c, kh, kw], kernel))], [
        intsAttr('kernel_shape', [kh, kw]),
        intsAttr('strides', ints(node, 'strides', [1, 1])),
        intsAttr('dilations', ints(node, 'dilations', [1, 1])),
        intAttr('group', int(node, 'group', 1)),
      ]);
      outputTransform(node, acc, [o, 1, 1]);
      continue;
    }
    if (node.opType === 'BinaryDense') {
      const [inputs, outputs] = shape;
      const bytesPerRow = Math.ceil(inputs / 8);
      const kernel = new Float32Array(inputs * outputs);
      for (let u = 0; u < outputs; u++) for (let i = 0; i < inputs; i++) kernel[i * outputs + u] = (bits[u * bytesPerRow + (i >> 3)] >> (i & 7)) & 1 ? -1 : 1;
      const acc = emit('MatMul', [sign(node.input![0]), constant(floatTensor(name('kernel'), [inputs, outputs], kernel))]);
      outputTransform(node, acc, [outputs]);
      continue;
    }
    throw new Error(`unknown ai.sofar operator ${node.opType}`);
  }
  graph.node = nodes;
  graph.initializer = [...graph.initializer!, ...added];
  model.opsetImport = model.opsetImport!.filter((o) => o.domain !== 'ai.sofar');
  return onnx.ModelProto.encode(model);
}
