/**
 * A small writer for ONNX models over SoFAr's own ONNX messages (onnx-messages.ts): nodes, initialisers,
 * graph inputs and outputs, then one `encode()` to bytes. Shared by the inference exporter and the
 * training step generator so both speak ONNX the same way.
 */
import { onnx, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './onnx-messages.js';

export { onnx };
export type * from './onnx-messages.js';

/** The opset every SoFAr model targets (the newest the Debian ONNX checker, 1.12, knows). */
export const OPSET = 17;
/** IR version 8 goes with opset 17. */
export const IR_VERSION = 8;

export type ElemType = 'float32' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

const ELEM: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  uint8: onnx.TensorProto.DataType.UINT8,
  int8: onnx.TensorProto.DataType.INT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

export type AttrValue = number | string | number[] | { floats: number[] } | { tensor: ReturnType<typeof tensorProto> };

/** A dimension: a fixed size or a symbolic name (`batch`). */
export type Dim = number | string;

export function tensorProto(name: string, type: ElemType, dims: readonly number[], data: ArrayBufferView): TensorProto {
  return onnx.TensorProto.create({
    name,
    dataType: ELEM[type],
    dims: [...dims],
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

function valueInfo(name: string, type: ElemType, dims: readonly Dim[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

function attribute(name: string, value: AttrValue) {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(value) });
  if (typeof value === 'number') {
    return Number.isInteger(value) && !Object.is(value, -0)
      ? onnx.AttributeProto.create({ name, type: A.INT, i: value })
      : onnx.AttributeProto.create({ name, type: A.FLOAT, f: value });
  }
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: A.INTS, ints: value });
  if ('floats' in value) return onnx.AttributeProto.create({ name, type: A.FLOATS, floats: value.floats });
  return onnx.AttributeProto.create({ name, type: A.TENSOR, t: value.tensor });
}

export interface NodeOptions {
  /** Node name; defaults to the first output's name. */
  name?: string;
  doc?: string;
  /** Float attributes that happen to be whole numbers must be marked, e.g. `{ alpha: 1 }`. */
  floatAttrs?: readonly string[];
  /** The operator's domain; default the standard one. */
  domain?: string;
}

export class OnnxGraph {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private constantCount = 0;

  constructor(readonly name: string) {}

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: ElemType, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A stored tensor (weights, constants). */
  initializer(name: string, type: ElemType, dims: readonly number[], data: ArrayBufferView, doc?: string): string {
    this.claim(name);
    const t = tensorProto(name, type, dims, data);
    if (doc) t.docString = doc;
    this.initializers.push(t);
    return name;
  }

  /** A small constant initialiser with a generated name. */
  constant(type: ElemType, dims: readonly number[], data: ArrayBufferView, hint = 'const'): string {
    return this.initializer(this.fresh(`${hint}_${this.constantCount++}`), type, dims, data);
  }

  int64s(values: readonly number[], hint = 'ints'): string {
    return this.constant('int64', [values.length], BigInt64Array.from(values.map((v) => BigInt(v))), hint);
  }

  scalar(value: number, hint = 'scalar'): string {
    return this.constant('float32', [], Float32Array.of(value), hint);
  }

  /** Adds a node; returns its output names. */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attrs: Record<string, AttrValue> = {}, o: NodeOptions = {}): string[] {
    for (const out of outputs) this.claim(out);
    const floatAttrs = new Set(o.floatAttrs ?? []);
    const node = onnx.NodeProto.create({
      opType,
      ...(o.domain ? { domain: o.domain } : {}),
      name: o.name ?? outputs[0],
      input: [...inputs],
      output: [...outputs],
      attribute: Object.entries(attrs).map(([k, v]) =>
        floatAttrs.has(k) && typeof v === 'number'
          ? onnx.AttributeProto.create({ name: k, type: onnx.AttributeProto.AttributeType.FLOAT, f: v })
          : attribute(k, v),
      ),
    });
    if (o.doc) node.docString = o.doc;
    this.nodes.push(node);
    return [...outputs];
  }

  /** A name not used yet in this graph, based on `base`. */
  fresh(base: string): string {
    let candidate = base;
    for (let k = 1; this.names.has(candidate); k++) candidate = `${base}_${k}`;
    return candidate;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  toModel(o: { producerVersion: string; doc?: string; metadata?: Record<string, string>; domain?: string; opsets?: Record<string, number> }): ModelProto {
    return onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }, ...Object.entries(o.opsets ?? {}).map(([domain, version]) => ({ domain, version }))],
      producerName: 'sofar',
      producerVersion: o.producerVersion,
      domain: o.domain ?? 'ai.sofar',
      docString: o.doc ?? '',
      metadataProps: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: onnx.GraphProto.create({
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
  }

  encode(o: Parameters<OnnxGraph['toModel']>[0]): Uint8Array {
    return onnx.ModelProto.encode(this.toModel(o));
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`internal: ONNX value name '${name}' used twice`);
    this.names.add(name);
  }
}

/** The metadata entries of an ONNX model (`sofar.spec`, `sofar.normalisation`, ...); empty when it cannot be decoded. */
export function readModelMetadata(bytes: Uint8Array): Record<string, string> {
  const metadata: Record<string, string> = {};
  try {
    for (const p of onnx.ModelProto.decode(bytes).metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? '';
  } catch {
    // Not a model this reader understands: the runtime that loads it will say why.
  }
  return metadata;
}
