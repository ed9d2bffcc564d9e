/**
 * ONNX bytes → a checked `RuntimeModel`: plain data the planner can trust. Every operator, attribute,
 * weight and shape is validated here, before any kernel exists, so a truncated, inconsistent or
 * hostile file ends in a `RuntimeModelError` that says what is wrong and where — never in a kernel.
 *
 * Supported: the operators SoFAr's `--binary-ops` export writes (docs/operators.md): `ai.sofar`
 * Sign, BinaryConv2D, BinaryDense, and the standard Conv (grouped and depthwise too), BatchNormalization,
 * Relu, PRelu, Clip, Sigmoid, Round, Greater(x, 0) cast to float, MaxPool, AveragePool, GlobalAveragePool,
 * Flatten, Gemm, MatMul (by a stored matrix), Add, Sub, Mul, Div (with a constant that is a scalar or one
 * value per channel: an affine map; Add and Mul of two values of the same shape; Mul of a map by a
 * per-sample channel vector [C, 1, 1]), Concat, Slice and Pad along channels, Reshape / Unsqueeze /
 * Squeeze between [C] and [C, 1, 1], Mean, Sum, Max, Identity. Subgraphs on stored weights alone (the
 * unpacking of a binary kernel for a real-valued input) are computed once at load time (constants.ts).
 */
import { SOFAR_DOMAIN, SOFAR_OPSET } from '../onnx/binary-ops.js';
import { onnx, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/onnx-messages.js';
import { recordsGraph, binaryOpsFromStandardExport } from '../onnx/to-binary-ops.js';
import { foldConstants } from './constants.js';


/**
 * A model the runtime cannot run, with the reason (and the node, where there is one). `export` is what the
 * file's own metadata says it is when it is another of SoFAr's exports (`float`, `int`, ...: for ONNX
 * runtimes), so that callers can say how to get the `--binary-ops` one.
 */
export class RuntimeModelError extends Error {
  constructor(
    message: string,
    readonly otherExport?: { variant: string; spec: string | null },
  ) {
    super(message);
  }
}

/** Per-sample shapes: `[C, H, W]` feature maps or `[F]` vectors. */
export type Shape = number[];

export interface Window {
  kernel: [number, number];
  stride: [number, number];
  /** top, left, bottom, right */
  pads: [number, number, number, number];
  dilation: [number, number];
}

export type RuntimeOp =
  | { op: 'conv'; window: Window; groups: number; weights: Float32Array; bias: Float32Array | null }
  | { op: 'bconv'; window: Window; groups: number; padValue: number; bits: Uint8Array; multiplier: Float32Array; bias: Float32Array | null }
  | { op: 'bdense'; bits: Uint8Array; multiplier: Float32Array; bias: Float32Array | null }
  | { op: 'dense'; weights: Float32Array; bias: Float32Array | null }
  /** x·scale[c] + shift[c]: an inference batch norm, a per-channel bias (scale 1), a product with a constant (shift 0). */
  | { op: 'affine'; scale: Float32Array; shift: Float32Array }
  | { op: 'div'; divisor: Float32Array }
  | { op: 'sigmoid' }
  | { op: 'round' }
  /** x > 0 ? 1 : 0: ONNX Greater(x, 0) (a boolean) cast to float, as ste_heaviside is exported. */
  | { op: 'heaviside' }
  /** Two values of the same shape, element by element. */
  | { op: 'mul' }
  /** A map [C, H, W] times a per-sample channel vector (input 1, [C, 1, 1] or [C]). */
  | { op: 'mul_channels' }
  /** Channels [start, start + C_out) of the input. */
  | { op: 'slice'; start: number }
  /** Zero channels before and after the input's. */
  | { op: 'pad'; before: number; after: number }
  /** The same values under another shape ([C] and [C, 1, 1]). */
  | { op: 'reshape' }
  | { op: 'sign' }
  | { op: 'relu' }
  | { op: 'prelu'; alpha: Float32Array }
  | { op: 'clip'; min: number; max: number }
  | { op: 'maxpool'; window: Window }
  | { op: 'avgpool'; window: Window }
  | { op: 'global_avgpool' }
  | { op: 'flatten' }
  | { op: 'identity' }
  | { op: 'add' }
  | { op: 'concat' }
  | { op: 'join'; mode: 'mean' | 'sum' | 'max' };

export type RuntimeNode = RuntimeOp & {
  name: string;
  inputs: string[];
  output: string;
  /** Output shape per sample. */
  shape: Shape;
};

export interface RuntimeModel {
  name: string;
  input: { name: string; shape: Shape };
  output: { name: string; shape: Shape };
  nodes: RuntimeNode[];
  /** The model's metadata (`sofar.summary`, `sofar.variant`, ...). */
  metadata: Record<string, string>;
  /**
   * Set where the file was SoFAr's standard export (variant `from`: `float`, `int`, ...) and was converted
   * to the --binary-ops form on load, its weights kept (`metadata` is then the converted model's).
   */
  converted?: { from: string };
}

/** Largest per-sample tensor the runtime accepts (elements); larger ones are refused, not attempted. */
export const MAX_ELEMENTS = 1 << 28;
const SUPPORTED = 'Sign, BinaryConv2D, BinaryDense (ai.sofar) and Conv, BatchNormalization, Relu, PRelu, Clip, Sigmoid, Round, Greater (with 0) and Cast (to float), MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Unsqueeze, Squeeze, Gemm, MatMul, Add, Sub, Mul, Div, Concat, Slice, Pad, Mean, Sum, Max, Identity';

export function readRuntimeModel(bytes: Uint8Array): RuntimeModel {
  const { model, metadata } = decoded(bytes);
  if (recordsGraph(metadata)) return convertedOnLoad(bytes, metadata);
  try {
    return checkedModel(model, metadata);
  } catch (e) {
    const variant = metadata['sofar.variant'];
    if (!(e instanceof RuntimeModelError) || !variant || variant === 'binary-ops') throw e;
    throw new RuntimeModelError(e.message, { variant, spec: metadata['sofar.spec'] ?? null });
  }
}

function decoded(bytes: Uint8Array): { model: ModelProto; metadata: Record<string, string> } {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new RuntimeModelError(`not a readable ONNX model (${(e as Error).message})`);
  }
  const metadata: Record<string, string> = {};
  for (const p of model.metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? '';
  return { model, metadata };
}

/**
 * SoFAr's standard export that records its graph, lowered to binary-ops here (weights kept) and read as
 * that: what `sofar convert MODEL.onnx --binary-ops` writes, without the file.
 */
function convertedOnLoad(bytes: Uint8Array, metadata: Record<string, string>): RuntimeModel {
  const from = metadata['sofar.variant'];
  const spec = metadata['sofar.spec'] ?? null;
  let converted: Uint8Array;
  try {
    converted = binaryOpsFromStandardExport(bytes, metadata);
  } catch (e) {
    throw new RuntimeModelError(`SoFAr's '${from}' export could not be converted to the --binary-ops form on load: ${(e as Error).message}`, { variant: from, spec });
  }
  const again = decoded(converted);
  return { ...checkedModel(again.model, again.metadata), converted: { from } };
}

function checkedModel(model: ModelProto, metadata: Record<string, string>): RuntimeModel {
  const graph = model.graph;
  if (!graph) throw new RuntimeModelError('the ONNX model has no graph');
  const opsets = new Map((model.opsetImport ?? []).map((o) => [o.domain ?? '', Number(o.version ?? 0)]));
  const initializers = new Map<string, TensorProto>();
  for (const t of graph.initializer ?? []) {
    if (!t.name) throw new RuntimeModelError('an initializer has no name');
    if (initializers.has(t.name)) throw new RuntimeModelError(`initializer '${t.name}' is defined twice`);
    initializers.set(t.name, t);
  }
  const inputs = (graph.input ?? []).filter((v) => v.name && !initializers.has(v.name));
  if (inputs.length !== 1) throw new RuntimeModelError(`the model must have exactly one input, it has ${inputs.length}`);
  const input = { name: inputs[0].name!, shape: inputShape(inputs[0]) };
  if ((graph.output ?? []).length !== 1) throw new RuntimeModelError(`the model must have exactly one output, it has ${(graph.output ?? []).length}`);

  const shapes = new Map<string, Shape>([[input.name, input.shape]]);
  const reader = new Reader(initializers, shapes);
  const nodes: RuntimeNode[] = [];
  const computed = foldConstants(graph.node ?? [], initializers, (message) => {
    throw new RuntimeModelError(message);
  });
  for (const proto of computed) {
    const node = reader.node(proto, opsets);
    if (shapes.has(node.output)) throw new RuntimeModelError(`${node.name}: value '${node.output}' is produced twice`);
    shapes.set(node.output, node.shape);
    nodes.push(node);
  }
  const outputName = graph.output![0].name ?? '';
  const outputShape = shapes.get(outputName);
  if (!outputShape) throw new RuntimeModelError(`the model's output '${outputName}' is not computed by any node`);
  return { name: graph.name || metadata['sofar.spec'] || 'model', input, output: { name: outputName, shape: outputShape }, nodes, metadata };
}

function inputShape(v: ValueInfoProto): Shape {
  const t = v.type?.tensorType;
  if (!t || t.elemType !== onnx.TensorProto.DataType.FLOAT) throw new RuntimeModelError(`input '${v.name}' must be a float32 tensor`);
  const dims = (t.shape?.dim ?? []).slice(1).map((d) => Number(d.dimValue ?? 0));
  if ((dims.length !== 3 && dims.length !== 1) || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RuntimeModelError(`input '${v.name}' must be [batch, C, H, W] or [batch, F] with fixed sizes`);
  }
  checkSize(dims, `input '${v.name}'`);
  return dims;
}

function checkSize(shape: readonly number[], what: string): number {
  const size = shape.reduce((a, b) => a * b, 1);
  if (!(size <= MAX_ELEMENTS)) throw new RuntimeModelError(`${what} has ${size} elements per sample, more than the runtime's limit of ${MAX_ELEMENTS}`);
  return size;
}

const eq = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Reads one node: its inputs, attributes and weights, and infers its output shape. */
class Reader {
  /** Values that are booleans (Greater's output): held as floats 0/1, read only by a Cast to float. */
  private readonly booleans = new Set<string>();

  constructor(
    private readonly initializers: Map<string, TensorProto>,
    private readonly shapes: Map<string, Shape>,
  ) {}

  node(proto: NodeProto, opsets: Map<string, number>): RuntimeNode {
    const domain = proto.domain ?? '';
    const type = proto.opType ?? '';
    const name = proto.name || proto.output?.[0] || type;
    const fail = (message: string): never => {
      throw new RuntimeModelError(`node '${name}' (${domain ? `${domain}.` : ''}${type}): ${message}`);
    };
    if (!opsets.has(domain)) fail(`its domain '${domain || 'ai.onnx'}' is not imported by the model`);
    if (domain === SOFAR_DOMAIN && opsets.get(domain) !== SOFAR_OPSET) fail(`this runtime implements ${SOFAR_DOMAIN} version ${SOFAR_OPSET}, the model imports version ${opsets.get(domain)}`);
    if ((proto.output ?? []).length !== 1 || !proto.output![0]) fail('must have exactly one output');
    const output = proto.output![0];
    const ctx = new NodeReader(proto, this.initializers, this.shapes, this.booleans, fail);
    const read = domain === SOFAR_DOMAIN ? SOFAR_OPS[type] : domain === '' ? STANDARD_OPS[type] : undefined;
    if (!read) return fail(`operator not supported by SoFAr's runtime (it runs ${SUPPORTED})`);
    const { op, inputs, shape } = read(ctx);
    checkSize(shape, `node '${name}'`);
    ctx.checkAttributesUsed();
    if (ctx.boolean) this.booleans.add(output);
    return { ...op, name, inputs, output, shape } as RuntimeNode;
  }
}

type Read = (r: NodeReader) => { op: RuntimeOp; inputs: string[]; shape: Shape };

/** Access to one node's inputs and attributes, each checked as it is read. */
class NodeReader {
  private readonly attrs = new Map<string, AttributeProto>();
  private readonly used = new Set<string>();
  readonly inputNames: string[];

  /** Whether this node's output is a boolean. */
  boolean = false;

  constructor(
    proto: NodeProto,
    private readonly initializers: Map<string, TensorProto>,
    private readonly shapes: Map<string, Shape>,
    private readonly booleans: ReadonlySet<string>,
    readonly fail: (message: string) => never,
  ) {
    for (const a of proto.attribute ?? []) this.attrs.set(a.name ?? '', a);
    this.inputNames = [...(proto.input ?? [])];
  }

  arity(min: number, max = min): void {
    const n = this.inputNames.length;
    if (n < min || n > max) this.fail(`takes ${min === max ? min : `${min} to ${max}`} inputs, has ${n}`);
  }

  /** A computed value (not a weight) and its per-sample shape; a boolean only where `boolean` allows it. */
  value(i: number, boolean = false): { name: string; shape: Shape } {
    const name = this.inputNames[i];
    const shape = this.shapes.get(name);
    if (!shape) this.fail(`input '${name}' is not computed before this node (or is a weight where a value is expected)`);
    if (this.booleans.has(name) !== boolean) this.fail(boolean ? `input '${name}' must be a boolean (Greater's output)` : `input '${name}' is a boolean: cast it to float first`);
    return { name, shape: shape! };
  }

  featureMap(i: number): { name: string; shape: Shape } {
    const v = this.value(i);
    if (v.shape.length !== 3) this.fail(`input '${v.name}' must be a feature map [C, H, W], it is [${v.shape.join(', ')}]`);
    return v;
  }

  vector(i: number): { name: string; shape: Shape } {
    const v = this.value(i);
    if (v.shape.length !== 1) this.fail(`input '${v.name}' must be a vector [F], it is [${v.shape.join(', ')}] (flatten it first)`);
    return v;
  }

  producesBoolean(): void {
    this.boolean = true;
  }

  has(i: number): boolean {
    return i < this.inputNames.length && this.inputNames[i] !== '';
  }

  /** A float32 weight of exactly these dims. */
  floats(i: number, dims: readonly number[], what: string): Float32Array {
    const t = this.tensor(i, what);
    if (t.dataType !== onnx.TensorProto.DataType.FLOAT) this.fail(`${what} must be float32`);
    this.dims(t, dims, what);
    const size = dims.reduce((a, b) => a * b, 1);
    if (t.rawData && t.rawData.length) {
      if (t.rawData.length !== size * 4) this.fail(`${what} holds ${t.rawData.length} bytes, [${dims.join(', ')}] float32 needs ${size * 4}`);
      const copy = new Uint8Array(t.rawData);
      return new Float32Array(copy.buffer, 0, size);
    }
    const data = t.floatData ?? [];
    if (data.length !== size) this.fail(`${what} holds ${data.length} values, [${dims.join(', ')}] needs ${size}`);
    return Float32Array.from(data);
  }

  /** A uint8 weight of exactly these dims. */
  bytes(i: number, dims: readonly number[], what: string): Uint8Array {
    const t = this.tensor(i, what);
    if (t.dataType !== onnx.TensorProto.DataType.UINT8) this.fail(`${what} must be uint8 (packed bits)`);
    this.dims(t, dims, what);
    const size = dims.reduce((a, b) => a * b, 1);
    const raw = t.rawData && t.rawData.length ? t.rawData : Uint8Array.from(t.int32Data ?? []);
    if (raw.length !== size) this.fail(`${what} holds ${raw.length} bytes, [${dims.join(', ')}] needs ${size}`);
    return new Uint8Array(raw);
  }

  /** Whether input i is a stored weight (an initializer) rather than a computed value. */
  isWeight(i: number): boolean {
    return this.has(i) && this.initializers.has(this.inputNames[i]);
  }

  /** An int64 weight (shapes, axes, pads): its values, checked to be safe integers. */
  int64s(i: number, what: string): number[] {
    const t = this.tensor(i, what);
    if (t.dataType !== onnx.TensorProto.DataType.INT64) this.fail(`${what} must be int64`);
    const dims = (t.dims ?? []).map(Number);
    if (dims.length > 1) this.fail(`${what} must be a scalar or a vector`);
    const size = dims.reduce((a, b) => a * b, 1);
    if (!(size <= 64)) this.fail(`${what} has ${size} values, more than any shape needs`);
    let values: number[];
    if (t.rawData && t.rawData.length) {
      if (t.rawData.length !== size * 8) this.fail(`${what} holds ${t.rawData.length} bytes, ${size} int64 need ${size * 8}`);
      const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
      values = Array.from({ length: size }, (_, k) => Number(view.getBigInt64(k * 8, true)));
    } else {
      values = (t.int64Data ?? []).map(Number);
      if (values.length !== size) this.fail(`${what} holds ${values.length} values, needs ${size}`);
    }
    // Slice's "to the end" is INT64_MAX; clamp the extremes to what any shape here can use.
    return values.map((v) => Math.max(-(2 ** 40), Math.min(2 ** 40, Number.isFinite(v) ? v : 0)));
  }

  /**
   * A float32 constant that broadcasts per channel against a value of `shape`: one value, or one per
   * channel laid out as [C, 1, 1] / [1, C, 1, 1] for maps and [C] / [1, C] for vectors. Returns C values.
   */
  channelConstant(i: number, shape: Shape, what: string): Float32Array {
    const dims = this.weightDims(i, what);
    const c = shape[0];
    const size = dims.reduce((a, b) => a * b, 1);
    const rank = shape.length + 1;
    const trailing = dims.length === 0 ? [] : dims.slice(Math.max(0, dims.length - shape.length));
    const perChannel = size === c && dims.length >= shape.length && dims.length <= rank && trailing[0] === c && trailing.slice(1).every((d) => d === 1) && dims.slice(0, dims.length - shape.length).every((d) => d === 1);
    const scalar = size === 1 && dims.length <= rank;
    if (!perChannel && !scalar) this.fail(`${what} has dims [${dims.join(', ')}]: it must be one value or one per channel (${c}) that broadcasts over [N, ${shape.join(', ')}]`);
    const data = this.floats(i, dims, what);
    return data.length === c ? data : new Float32Array(c).fill(data[0]);
  }

  /** The dims of a weight, before its data is read. */
  weightDims(i: number, what: string): number[] {
    return (this.tensor(i, what).dims ?? []).map(Number);
  }

  private tensor(i: number, what: string): TensorProto {
    const name = this.inputNames[i];
    const t = this.initializers.get(name);
    if (!t) this.fail(`${what} '${name}' must be a stored weight (an initializer)`);
    return t!;
  }

  private dims(t: TensorProto, dims: readonly number[], what: string): void {
    const actual = (t.dims ?? []).map(Number);
    if (!eq(actual, dims)) this.fail(`${what} has dims [${actual.join(', ')}], expected [${dims.join(', ')}]`);
  }

  int(name: string, fallback: number): number {
    const a = this.attr(name, onnx.AttributeProto.AttributeType.INT);
    return a ? Number(a.i) : fallback;
  }

  float(name: string, fallback: number): number {
    const a = this.attr(name, onnx.AttributeProto.AttributeType.FLOAT);
    return a ? Number(a.f) : fallback;
  }

  ints(name: string, fallback: number[] | null): number[] | null {
    const a = this.attr(name, onnx.AttributeProto.AttributeType.INTS);
    return a ? (a.ints ?? []).map(Number) : fallback;
  }

  string(name: string, fallback: string): string {
    const a = this.attr(name, onnx.AttributeProto.AttributeType.STRING);
    return a ? new TextDecoder().decode(a.s ?? new Uint8Array()) : fallback;
  }

  private attr(name: string, type: number): AttributeProto | undefined {
    const a = this.attrs.get(name);
    this.used.add(name);
    if (a && a.type !== type) this.fail(`attribute '${name}' has the wrong type`);
    return a;
  }

  /** An attribute the runtime did not read could change the meaning: refuse rather than ignore it. */
  checkAttributesUsed(): void {
    for (const name of this.attrs.keys()) if (!this.used.has(name)) this.fail(`attribute '${name}' is not supported`);
  }

  /** kernel_shape / strides / pads / dilations of a 2-D window, checked against the input. */
  window(shape: Shape, kernel: [number, number] | null, allowDilation: boolean): { window: Window; out: [number, number] } {
    if (this.string('auto_pad', 'NOTSET') !== 'NOTSET') this.fail(`auto_pad is not supported; give explicit pads`);
    const k = this.ints('kernel_shape', kernel);
    if (!k || k.length !== 2 || !k.every((v) => Number.isInteger(v) && v >= 1 && v <= 4096)) this.fail('kernel_shape must be two sizes ≥ 1');
    if (kernel && !eq(k!, kernel)) this.fail(`kernel_shape [${k!.join(', ')}] does not match the weights' [${kernel.join(', ')}]`);
    const stride = this.ints('strides', [1, 1])!;
    const pads = this.ints('pads', [0, 0, 0, 0])!;
    const dilation = allowDilation ? this.ints('dilations', [1, 1])! : [1, 1];
    if (stride.length !== 2 || !stride.every((v) => Number.isInteger(v) && v >= 1 && v <= 4096)) this.fail('strides must be two integers ≥ 1');
    if (dilation.length !== 2 || !dilation.every((v) => Number.isInteger(v) && v >= 1 && v <= 4096)) this.fail('dilations must be two integers ≥ 1');
    if (pads.length !== 4 || !pads.every((v) => Number.isInteger(v) && v >= 0 && v <= 4096)) this.fail('pads must be four integers ≥ 0');
    const [, h, w] = shape;
    const out: [number, number] = [
      Math.floor((h + pads[0] + pads[2] - dilation[0] * (k![0] - 1) - 1) / stride[0]) + 1,
      Math.floor((w + pads[1] + pads[3] - dilation[1] * (k![1] - 1) - 1) / stride[1]) + 1,
    ];
    if (out[0] < 1 || out[1] < 1) this.fail(`a ${k![0]}×${k![1]} window does not fit the ${h}×${w} input`);
    return { window: { kernel: [k![0], k![1]], stride: [stride[0], stride[1]], pads: [pads[0], pads[1], pads[2], pads[3]], dilation: [dilation[0], dilation[1]] }, out };
  }

  groups(channels: number, outputs: number): number {
    const g = this.int('group', 1);
    if (!Number.isInteger(g) || g < 1 || channels % g !== 0 || outputs % g !== 0) this.fail(`group ${g} must divide the ${channels} input and ${outputs} output channels`);
    return g;
  }

  /** Optional per-channel bias at input i. */
  bias(i: number, channels: number): Float32Array | null {
    return this.has(i) ? this.floats(i, [channels], 'bias') : null;
  }
}

function sameShapes(r: NodeReader, count: number): Shape {
  const first = r.value(0).shape;
  for (let i = 1; i < count; i++) {
    const s = r.value(i).shape;
    if (!eq(s, first)) r.fail(`inputs must have the same shape: [${first.join(', ')}] and [${s.join(', ')}] (no broadcasting)`);
  }
  return first;
}

const unary = (op: RuntimeOp): Read => (r) => {
  r.arity(1);
  const x = r.value(0);
  return { op, inputs: [x.name], shape: x.shape };
};

const join = (mode: 'mean' | 'sum' | 'max'): Read => (r) => {
  if (r.inputNames.length < 1 || r.inputNames.length > 64) r.fail('takes 1 to 64 inputs');
  const shape = sameShapes(r, r.inputNames.length);
  return { op: { op: 'join', mode }, inputs: r.inputNames.map((_, i) => r.value(i).name), shape };
};

const pool = (op: 'maxpool' | 'avgpool'): Read => (r) => {
  r.arity(1);
  const x = r.featureMap(0);
  if (r.int('ceil_mode', 0) !== 0) r.fail('ceil_mode 1 is not supported');
  if (op === 'maxpool' && r.int('storage_order', 0) !== 0) r.fail('storage_order 1 is not supported');
  if (op === 'maxpool' && !eq(r.ints('dilations', [1, 1])!, [1, 1])) r.fail('dilated pooling is not supported');
  if (op === 'avgpool' && r.int('count_include_pad', 0) !== 0) r.fail('count_include_pad 1 is not supported (padded cells are excluded from the mean)');
  const { window, out } = r.window(x.shape, null, false);
  if (window.pads[0] >= window.kernel[0] || window.pads[2] >= window.kernel[0] || window.pads[1] >= window.kernel[1] || window.pads[3] >= window.kernel[1]) r.fail('pads must be smaller than the window');
  return { op: { op, window }, inputs: [x.name], shape: [x.shape[0], ...out] };
};

/** The same values under another per-sample shape: [C] and [C, 1, 1] (NHWC makes them the same bytes). */
function reshaped(r: NodeReader, x: { name: string; shape: Shape }, shape: Shape): ReturnType<Read> {
  const size = (s: Shape) => s.reduce((a, b) => a * b, 1);
  if (size(shape) !== size(x.shape)) r.fail(`cannot reshape [${x.shape.join(', ')}] to [${shape.join(', ')}]`);
  const vectorLike = (s: Shape) => s.length === 1 || (s.length === 3 && s[1] === 1 && s[2] === 1);
  if (eq(shape, x.shape)) return { op: { op: 'identity' }, inputs: [x.name], shape };
  if (!(shape.length === 1 || shape.length === 3) || !vectorLike(shape) || !vectorLike(x.shape)) r.fail(`only reshapes between [C] and [C, 1, 1] are supported, not [${x.shape.join(', ')}] to [${shape.join(', ')}] (use Flatten)`);
  return { op: { op: 'reshape' }, inputs: [x.name], shape };
}

/**
 * Add, Sub, Mul, Div. With a constant operand (one value, or one per channel): an affine map, or a division
 * (x / d is not x · (1/d) in float32). Of two values: Add and Mul of the same shape, and Mul of a map by a
 * per-sample channel vector [C, 1, 1] (squeeze-and-excite scaling).
 */
function arithmetic(r: NodeReader, type: 'Add' | 'Sub' | 'Mul' | 'Div'): ReturnType<Read> {
  r.arity(2);
  const constant = r.isWeight(0) ? 0 : r.isWeight(1) ? 1 : -1;
  if (constant >= 0) {
    const x = r.value(1 - constant);
    const k = r.channelConstant(constant, x.shape, 'the constant operand');
    const c = x.shape[0];
    const ones = new Float32Array(c).fill(1);
    const zeros = new Float32Array(c);
    const out = (op: RuntimeOp) => ({ op, inputs: [x.name], shape: x.shape });
    if (type === 'Add') return out({ op: 'affine', scale: ones, shift: k });
    if (type === 'Mul') return out({ op: 'affine', scale: k, shift: zeros });
    // x − k = x + (−k) and k − x = (−1)·x + k, both exact.
    if (type === 'Sub') return constant === 1 ? out({ op: 'affine', scale: ones, shift: k.map((v) => -v) }) : out({ op: 'affine', scale: ones.map(() => -1), shift: k });
    if (constant === 0) r.fail('dividing a constant by a value is not supported');
    return out({ op: 'div', divisor: k });
  }
  const [a, b] = [r.value(0), r.value(1)];
  if (type === 'Add' && eq(a.shape, b.shape)) return { op: { op: 'add' }, inputs: [a.name, b.name], shape: a.shape };
  if (type === 'Mul') {
    if (eq(a.shape, b.shape)) return { op: { op: 'mul' }, inputs: [a.name, b.name], shape: a.shape };
    const vectorOf = (m: Shape, v: Shape) => m.length === 3 && v.length === 3 && v[0] === m[0] && v[1] === 1 && v[2] === 1;
    if (vectorOf(a.shape, b.shape)) return { op: { op: 'mul_channels' }, inputs: [a.name, b.name], shape: a.shape };
    if (vectorOf(b.shape, a.shape)) return { op: { op: 'mul_channels' }, inputs: [b.name, a.name], shape: b.shape };
  }
  return r.fail(`${type} of values shaped [${a.shape.join(', ')}] and [${b.shape.join(', ')}] is not supported (${type === 'Mul' ? 'the same shape, or a map and a per-channel vector [C, 1, 1]' : type === 'Add' ? 'the same shape' : 'one operand must be a constant'})`);
}

const STANDARD_OPS: Record<string, Read> = {
  Identity: unary({ op: 'identity' }),
  Relu: unary({ op: 'relu' }),

  Conv: (r) => {
    r.arity(2, 3);
    const x = r.featureMap(0);
    const dims = r.weightDims(1, 'weight');
    if (dims.length !== 4 || !dims.every((d) => Number.isInteger(d) && d >= 1)) r.fail('the weight must be [O, C/group, kh, kw]');
    const [outputs, perGroup, kh, kw] = dims;
    const groups = r.groups(x.shape[0], outputs);
    if (perGroup * groups !== x.shape[0]) r.fail(`the weight reads ${perGroup}×${groups} channels, the input has ${x.shape[0]}`);
    checkSize(dims, 'the weight');
    const { window, out } = r.window(x.shape, [kh, kw], true);
    const op: RuntimeOp = { op: 'conv', window, groups, weights: r.floats(1, dims, 'weight'), bias: r.bias(2, outputs) };
    return { op, inputs: [x.name], shape: [outputs, ...out] };
  },

  BatchNormalization: (r) => {
    r.arity(5);
    const x = r.value(0);
    if (r.int('training_mode', 0) !== 0) r.fail('training_mode is not supported');
    r.float('momentum', 0.9);
    const epsilon = r.float('epsilon', 1e-5);
    if (!(epsilon > 0)) r.fail('epsilon must be positive');
    const c = x.shape[0];
    const [gamma, beta, mean, variance] = ['scale', 'bias', 'mean', 'variance'].map((what, i) => r.floats(i + 1, [c], what));
    // scale·(x − μ) + β with scale = γ / √(σ² + ε): computed in float32 as ONNX Runtime does.
    const scale = new Float32Array(c);
    const shift = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      scale[i] = gamma[i] / Math.fround(Math.sqrt(Math.fround(variance[i] + epsilon)));
      shift[i] = beta[i] - Math.fround(mean[i] * scale[i]);
    }
    return { op: { op: 'affine', scale, shift }, inputs: [x.name], shape: x.shape };
  },

  PRelu: (r) => {
    r.arity(2);
    const x = r.value(0);
    const dims = r.weightDims(1, 'slope');
    const c = x.shape[0];
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== c && size !== 1) r.fail(`the slope must have one value or one per channel (${c})`);
    if (dims.length > x.shape.length || dims.slice(1).some((d) => d !== 1)) r.fail(`the slope's dims [${dims.join(', ')}] must broadcast per channel`);
    const data = r.floats(1, dims, 'slope');
    const alpha = size === c ? data : new Float32Array(c).fill(data[0]);
    return { op: { op: 'prelu', alpha }, inputs: [x.name], shape: x.shape };
  },

  Clip: (r) => {
    r.arity(1, 3);
    const x = r.value(0);
    const min = r.has(1) ? r.floats(1, [], 'min')[0] : -Infinity;
    const max = r.has(2) ? r.floats(2, [], 'max')[0] : Infinity;
    if (!(min <= max)) r.fail(`min ${min} is above max ${max}`);
    return { op: { op: 'clip', min, max }, inputs: [x.name], shape: x.shape };
  },

  MaxPool: pool('maxpool'),
  AveragePool: pool('avgpool'),

  GlobalAveragePool: (r) => {
    r.arity(1);
    const x = r.featureMap(0);
    return { op: { op: 'global_avgpool' }, inputs: [x.name], shape: [x.shape[0], 1, 1] };
  },

  Flatten: (r) => {
    r.arity(1);
    const x = r.value(0);
    if (r.int('axis', 1) !== 1) r.fail('only axis 1 is supported');
    return { op: { op: 'flatten' }, inputs: [x.name], shape: [x.shape.reduce((a, b) => a * b, 1)] };
  },

  Gemm: (r) => {
    r.arity(2, 3);
    const x = r.vector(0);
    if (r.int('transA', 0) !== 0) r.fail('transA is not supported');
    if (r.float('alpha', 1) !== 1 || r.float('beta', 1) !== 1) r.fail('alpha and beta must be 1');
    const transposed = r.int('transB', 0) === 1;
    const dims = r.weightDims(1, 'weight');
    if (dims.length !== 2) r.fail('the weight must be a matrix');
    const [inputs, outputs] = transposed ? [dims[1], dims[0]] : dims;
    if (inputs !== x.shape[0]) r.fail(`the weight takes ${inputs} inputs, the input has ${x.shape[0]}`);
    checkSize(dims, 'the weight');
    let weights = r.floats(1, dims, 'weight');
    if (transposed) weights = transpose(weights, outputs, inputs);
    return { op: { op: 'dense', weights, bias: r.bias(2, outputs) }, inputs: [x.name], shape: [outputs] };
  },

  // A vector times a stored matrix [in, out] (the exporter's binary dense on a real input): Gemm without bias.
  MatMul: (r) => {
    r.arity(2);
    const x = r.vector(0);
    const dims = r.weightDims(1, 'weight');
    if (dims.length !== 2 || dims[0] !== x.shape[0]) r.fail(`the weight must be [${x.shape[0]}, out], it is [${dims.join(', ')}]`);
    checkSize(dims, 'the weight');
    return { op: { op: 'dense', weights: r.floats(1, dims, 'weight'), bias: null }, inputs: [x.name], shape: [dims[1]] };
  },

  Add: (r) => arithmetic(r, 'Add'),
  Sub: (r) => arithmetic(r, 'Sub'),
  Mul: (r) => arithmetic(r, 'Mul'),
  Div: (r) => arithmetic(r, 'Div'),
  Sigmoid: unary({ op: 'sigmoid' }),

  // Greater(x, 0) is a boolean map, held as floats 0/1; only a Cast to float may read it (ste_heaviside).
  Greater: (r) => {
    r.arity(2);
    const x = r.value(0);
    if (!r.isWeight(1) || !r.channelConstant(1, x.shape, 'the threshold').every((v) => v === 0)) r.fail('only Greater(x, 0) against a stored zero is supported');
    r.producesBoolean();
    return { op: { op: 'heaviside' }, inputs: [x.name], shape: x.shape };
  },

  Cast: (r) => {
    r.arity(1);
    if (r.int('to', 0) !== onnx.TensorProto.DataType.FLOAT) r.fail('only casts to float are supported');
    r.int('saturate', 1);
    const x = r.value(0, true);
    return { op: { op: 'identity' }, inputs: [x.name], shape: x.shape };
  },
  Round: unary({ op: 'round' }),

  Slice: (r) => {
    r.arity(3, 5);
    const x = r.value(0);
    const rank = x.shape.length + 1;
    const starts = r.int64s(1, 'starts');
    const ends = r.int64s(2, 'ends');
    const axes = r.has(3) ? r.int64s(3, 'axes') : starts.map((_, k) => k);
    const steps = r.has(4) ? r.int64s(4, 'steps') : starts.map(() => 1);
    if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) r.fail('starts, ends, axes and steps must have the same length');
    const dims = [1, ...x.shape];
    let range: [number, number] = [0, x.shape[0]];
    const seen = new Set<number>();
    axes.forEach((a, k) => {
      const axis = a < 0 ? a + rank : a;
      if (!(axis >= 0 && axis < rank) || seen.has(axis)) r.fail(`axis ${a} is not an axis of a rank-${rank} tensor, or is repeated`);
      seen.add(axis);
      if (steps[k] !== 1) r.fail('only step 1 is supported');
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dims[axis] : v, 0), dims[axis]);
      const [from, to] = [clamp(starts[k]), clamp(ends[k])];
      if (axis === 1) range = [from, to];
      else if (axis === 0 ? from !== 0 : from !== 0 || to !== dims[axis]) r.fail('only slices along channels (axis 1) are supported');
    });
    if (range[1] <= range[0]) r.fail('the slice is empty');
    return { op: { op: 'slice', start: range[0] }, inputs: [x.name], shape: [range[1] - range[0], ...x.shape.slice(1)] };
  },

  Pad: (r) => {
    r.arity(2, 4);
    const x = r.value(0);
    if (r.string('mode', 'constant') !== 'constant') r.fail('only constant padding is supported');
    if (r.has(2) && !r.floats(2, r.weightDims(2, 'constant_value'), 'constant_value').every((v) => v === 0)) r.fail('only zero padding is supported');
    if (r.has(3)) r.fail('the axes input is not supported');
    const rank = x.shape.length + 1;
    const pads = r.int64s(1, 'pads');
    if (pads.length !== 2 * rank) r.fail(`pads must have ${2 * rank} values`);
    const [before, after] = [pads[1], pads[1 + rank]];
    if (pads.some((p, k) => k % rank !== 1 && p !== 0) || before < 0 || after < 0) r.fail('only non-negative padding of channels (axis 1) is supported');
    return { op: { op: 'pad', before, after }, inputs: [x.name], shape: [x.shape[0] + before + after, ...x.shape.slice(1)] };
  },

  Reshape: (r) => {
    r.arity(2);
    const x = r.value(0);
    if (r.int('allowzero', 0) !== 0) r.fail('allowzero is not supported');
    const target = r.int64s(1, 'shape');
    if (!(target[0] === 0 || target[0] === -1) || target.slice(1).some((d) => !(d >= 1))) r.fail(`shape [${target.join(', ')}] must keep the batch (0 or -1 first) and give every other size`);
    return reshaped(r, x, target.slice(1));
  },

  Unsqueeze: (r) => {
    r.arity(2);
    const x = r.value(0);
    const rank = x.shape.length + 1;
    const axes = r.int64s(1, 'axes').map((a) => (a < 0 ? a + rank + r.int64s(1, 'axes').length : a));
    const shape = [...x.shape];
    for (const a of [...axes].sort((p, q) => p - q)) {
      if (!(a >= 1 && a <= shape.length + 1)) r.fail('only axes after the batch can be inserted');
      shape.splice(a - 1, 0, 1);
    }
    return reshaped(r, x, shape);
  },

  Squeeze: (r) => {
    r.arity(2);
    const x = r.value(0);
    const rank = x.shape.length + 1;
    const axes = new Set(r.int64s(1, 'axes').map((a) => (a < 0 ? a + rank : a)));
    if (axes.has(0) || [...axes].some((a) => !(a >= 1 && a < rank) || x.shape[a - 1] !== 1)) r.fail('only axes of size 1 after the batch can be removed');
    return reshaped(r, x, x.shape.filter((_, k) => !axes.has(k + 1)));
  },

  Concat: (r) => {
    if (r.inputNames.length < 1 || r.inputNames.length > 1024) r.fail('takes 1 to 1024 inputs');
    if (r.int('axis', 0) !== 1) r.fail('only concatenation along channels (axis 1) is supported');
    const values = r.inputNames.map((_, i) => r.value(i));
    const [, ...rest] = values[0].shape;
    for (const v of values) if (v.shape.length !== values[0].shape.length || !eq(v.shape.slice(1), rest)) r.fail(`inputs must agree on all but channels: [${values[0].shape.join(', ')}] and [${v.shape.join(', ')}]`);
    return { op: { op: 'concat' }, inputs: values.map((v) => v.name), shape: [values.reduce((a, v) => a + v.shape[0], 0), ...rest] };
  },

  Mean: join('mean'),
  Sum: join('sum'),
  Max: join('max'),
};

const SOFAR_OPS: Record<string, Read> = {
  Sign: unary({ op: 'sign' }),

  BinaryConv2D: (r) => {
    r.arity(3, 4);
    const x = r.featureMap(0);
    const dims = r.weightDims(1, 'packed kernel');
    if (dims.length !== 4 || !dims.every((d) => Number.isInteger(d) && d >= 1)) r.fail('the packed kernel must be uint8 [O, kh, kw, ⌈C/(8·group)⌉]');
    const [outputs, kh, kw] = dims;
    const groups = r.groups(x.shape[0], outputs);
    const perGroup = x.shape[0] / groups;
    if (dims[3] !== Math.ceil(perGroup / 8)) r.fail(`the packed kernel holds ${dims[3]} bytes per tap, ${perGroup} channels per group need ${Math.ceil(perGroup / 8)}`);
    checkSize(dims, 'the packed kernel');
    const { window, out } = r.window(x.shape, [kh, kw], true);
    const padValue = r.int('pad_value', 0);
    if (padValue !== 0 && padValue !== 1 && padValue !== -1) r.fail(`pad_value must be 0, 1 or -1, not ${padValue}`);
    const bits = maskTails(r.bytes(1, dims, 'packed kernel'), dims[3], perGroup);
    const op: RuntimeOp = { op: 'bconv', window, groups, padValue, bits, multiplier: r.floats(2, [outputs], 'multiplier'), bias: r.bias(3, outputs) };
    return { op, inputs: [x.name], shape: [outputs, ...out] };
  },

  BinaryDense: (r) => {
    r.arity(3, 4);
    const x = r.vector(0);
    const dims = r.weightDims(1, 'packed kernel');
    if (dims.length !== 2 || !(dims[0] >= 1)) r.fail('the packed kernel must be uint8 [out, ⌈in/8⌉]');
    if (dims[1] !== Math.ceil(x.shape[0] / 8)) r.fail(`the packed kernel holds ${dims[1]} bytes per output, ${x.shape[0]} inputs need ${Math.ceil(x.shape[0] / 8)}`);
    checkSize(dims, 'the packed kernel');
    const outputs = dims[0];
    const bits = maskTails(r.bytes(1, dims, 'packed kernel'), dims[1], x.shape[0]);
    const op: RuntimeOp = { op: 'bdense', bits, multiplier: r.floats(2, [outputs], 'multiplier'), bias: r.bias(3, outputs) };
    return { op, inputs: [x.name], shape: [outputs] };
  },
};

/** Bits past the channel count carry no weight (docs/operators.md): cleared, since kernels count every bit. */
function maskTails(bits: Uint8Array, bytesPerRow: number, channels: number): Uint8Array {
  const used = channels % 8;
  if (used === 0) return bits;
  const mask = (1 << used) - 1;
  for (let i = bytesPerRow - 1; i < bits.length; i += bytesPerRow) bits[i] &= mask;
  return bits;
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}
