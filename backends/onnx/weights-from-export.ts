/**
 * The weights of a graph read back from SoFAr's own standard ONNX export of it (`sofar train`'s
 * model.onnx, `sofar build`), so that `sofar convert` can re-export them with the binary-ops lowering.
 * Float parameters are initialisers named after the parameter; a binary kernel is its signs (`NAME/bits`,
 * 1 bit per weight, or unpacked ±1 / {0, 2} under NAME) times the layer's `kernel_scale` where its
 * quantizer has one. The latent weights are gone, but sign(w) and mean |w| per output channel are all
 * the binary-ops lowering reads from a kernel (docs/semantics.md, "Quantizers"), so `sign × scale`
 * gives the same model.
 */
import type { Graph, GraphNode, ParamSpec, WeightMap } from '../../src/graph/types.js';
import { unpackBits } from './kernels.js';
import { onnx, type TensorProto as Tensor } from './onnx-messages.js';


/** The weights of `graph` in `bytes`; throws an Error naming the first parameter it cannot find. */
export function weightsFromStandardExport(graph: Graph, bytes: Uint8Array): WeightMap {
  const model = onnx.ModelProto.decode(bytes);
  const tensors = new Map<string, Tensor>();
  for (const t of model.graph?.initializer ?? []) if (t.name) tensors.set(t.name, t);
  const weights: WeightMap = new Map();
  for (const node of graph.nodes) {
    for (const spec of node.params) {
      if (spec.init === 'fixed') continue; // fixed kernels come from the spec itself
      weights.set(spec.name, spec.binary && hasBinaryKernel(node) ? binaryKernel(node, spec, tensors) : floats(spec, tensors.get(spec.name)));
    }
  }
  return weights;
}

function hasBinaryKernel(node: GraphNode): boolean {
  return (node.op === 'conv' || node.op === 'dense') && node.attrs.kernelQuantizer !== null;
}

function count(spec: ParamSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1);
}

function floats(spec: ParamSpec, t: Tensor | undefined, name = spec.name): Float32Array {
  if (!t) throw new Error(`the model has no initializer '${name}'`);
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) throw new Error(`initializer '${name}' is not float32`);
  const n = count(spec);
  const raw = t.rawData && t.rawData.length ? new Uint8Array(t.rawData) : null;
  const values = raw ? new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4).slice() : Float32Array.from(t.floatData ?? []);
  if (values.length !== n) throw new Error(`initializer '${name}' holds ${values.length} values, [${spec.shape.join(', ')}] needs ${n}`);
  return values;
}

function bytesOf(t: Tensor): Uint8Array {
  return t.rawData && t.rawData.length ? new Uint8Array(t.rawData) : Uint8Array.from(t.int32Data ?? []);
}

/** A binary kernel as sign × (the layer's per-output-channel scale, or 1). */
function binaryKernel(node: GraphNode, spec: ParamSpec, tensors: Map<string, Tensor>): Float32Array {
  const n = count(spec);
  let positive: Uint8Array;
  const packed = tensors.get(`${spec.name}/bits`);
  const plain = tensors.get(spec.name);
  if (packed) {
    const bits = bytesOf(packed);
    // Checked before unpacking: a shape from a damaged graph record must not size an allocation.
    if (bits.length !== Math.ceil(n / 8)) throw new Error(`binary kernel '${spec.name}/bits' holds ${bits.length} bytes, [${spec.shape.join(', ')}] needs ${Math.ceil(n / 8)}`);
    positive = unpackBits(bits, n);
  }
  else if (plain?.dataType === onnx.TensorProto.DataType.UINT8) positive = bytesOf(plain).map((v) => (v > 1 ? 1 : 0));
  else if (plain) positive = Uint8Array.from(floats(spec, plain), (v) => (v >= 0 ? 1 : 0));
  else throw new Error(`the model has no binary kernel '${spec.name}' (as '${spec.name}/bits' or '${spec.name}')`);
  if (positive.length !== n) throw new Error(`binary kernel '${spec.name}' holds ${positive.length} weights, [${spec.shape.join(', ')}] needs ${n}`);
  const scaleTensor = tensors.get(`${node.name}/kernel_scale`);
  const outputs = spec.shape.length === 2 ? spec.shape[1] : spec.shape[0];
  const scale = scaleTensor ? floats({ ...spec, shape: [outputs] }, scaleTensor, `${node.name}/kernel_scale`) : new Float32Array(outputs).fill(1);
  const out = new Float32Array(n);
  if (spec.shape.length === 2) {
    // A dense kernel [in, out]: the output channel is the fastest index.
    for (let i = 0; i < n; i++) out[i] = positive[i] ? scale[i % outputs] : -scale[i % outputs];
  } else {
    // A conv kernel [out, in, kh, kw]: one block of n / outputs weights an output channel.
    const block = n / outputs;
    for (let o = 0, i = 0; o < outputs; o++) for (let end = i + block; i < end; i++) out[i] = positive[i] ? scale[o] : -scale[o];
  }
  return out;
}
