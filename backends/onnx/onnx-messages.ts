/**
 * The messages of onnx.proto (IR version 8) that SoFAr reads and writes, as TypeScript types and a
 * schema for the wire-format codec (protobuf.ts). Field numbers and enum values are onnx.proto's;
 * fields SoFAr never uses (sparse tensors, training info, functions, type protos other than tensors)
 * are left out, so a decoder skips them and an encoder never writes them. Repeated numbers are written
 * packed (valid for every reader, and smaller), as SoFAr's exports always were; either form is read.
 *
 *   const model = onnx.ModelProto.decode(bytes);    // plain objects; repeated fields are arrays
 *   const bytes = onnx.ModelProto.encode(model);
 */
import { decodeMessage, encodeMessage, type Schemas } from './protobuf.js';

export interface StringStringEntryProto {
  key?: string;
  value?: string;
}

export interface OperatorSetIdProto {
  domain?: string;
  version?: number;
}

export interface TensorProto {
  dims?: number[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  stringData?: Uint8Array[];
  int64Data?: number[];
  name?: string;
  docString?: string;
  rawData?: Uint8Array;
  externalData?: StringStringEntryProto[];
  dataLocation?: number;
  doubleData?: number[];
  uint64Data?: number[];
}

export interface TensorShapeDimension {
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
}

export interface TypeProto {
  tensorType?: { elemType?: number; shape?: { dim?: TensorShapeDimension[] } };
  denotation?: string;
}

export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  docString?: string;
}

export interface AttributeProto {
  name?: string;
  refAttrName?: string;
  docString?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
}

export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute?: AttributeProto[];
  docString?: string;
}

export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  docString?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
}

export interface ModelProto {
  irVersion?: number;
  opsetImport?: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  metadataProps?: StringStringEntryProto[];
}

const message = (name: string) => ({ message: name });

const SCHEMAS: Schemas = {
  StringStringEntryProto: [
    { no: 1, name: 'key', type: 'string' },
    { no: 2, name: 'value', type: 'string' },
  ],
  OperatorSetIdProto: [
    { no: 1, name: 'domain', type: 'string' },
    { no: 2, name: 'version', type: 'int64' },
  ],
  TensorProto: [
    { no: 1, name: 'dims', type: 'int64', repeated: true, packed: true },
    { no: 2, name: 'dataType', type: 'int32' },
    { no: 4, name: 'floatData', type: 'float', repeated: true, packed: true },
    { no: 5, name: 'int32Data', type: 'int32', repeated: true, packed: true },
    { no: 6, name: 'stringData', type: 'bytes', repeated: true },
    { no: 7, name: 'int64Data', type: 'int64', repeated: true, packed: true },
    { no: 8, name: 'name', type: 'string' },
    { no: 12, name: 'docString', type: 'string' },
    { no: 9, name: 'rawData', type: 'bytes' },
    { no: 13, name: 'externalData', type: message('StringStringEntryProto'), repeated: true },
    { no: 14, name: 'dataLocation', type: 'enum' },
    { no: 10, name: 'doubleData', type: 'double', repeated: true, packed: true },
    { no: 11, name: 'uint64Data', type: 'uint64', repeated: true, packed: true },
  ],
  TensorShapeDimension: [
    { no: 1, name: 'dimValue', type: 'int64' },
    { no: 2, name: 'dimParam', type: 'string' },
    { no: 3, name: 'denotation', type: 'string' },
  ],
  TensorShapeProto: [{ no: 1, name: 'dim', type: message('TensorShapeDimension'), repeated: true }],
  TypeProtoTensor: [
    { no: 1, name: 'elemType', type: 'int32' },
    { no: 2, name: 'shape', type: message('TensorShapeProto') },
  ],
  TypeProto: [
    { no: 1, name: 'tensorType', type: message('TypeProtoTensor') },
    { no: 6, name: 'denotation', type: 'string' },
  ],
  ValueInfoProto: [
    { no: 1, name: 'name', type: 'string' },
    { no: 2, name: 'type', type: message('TypeProto') },
    { no: 3, name: 'docString', type: 'string' },
  ],
  AttributeProto: [
    { no: 1, name: 'name', type: 'string' },
    { no: 21, name: 'refAttrName', type: 'string' },
    { no: 13, name: 'docString', type: 'string' },
    { no: 20, name: 'type', type: 'enum' },
    { no: 2, name: 'f', type: 'float' },
    { no: 3, name: 'i', type: 'int64' },
    { no: 4, name: 's', type: 'bytes' },
    { no: 5, name: 't', type: message('TensorProto') },
    { no: 6, name: 'g', type: message('GraphProto') },
    { no: 7, name: 'floats', type: 'float', repeated: true, packed: true },
    { no: 8, name: 'ints', type: 'int64', repeated: true, packed: true },
    { no: 9, name: 'strings', type: 'bytes', repeated: true },
    { no: 10, name: 'tensors', type: message('TensorProto'), repeated: true },
    { no: 11, name: 'graphs', type: message('GraphProto'), repeated: true },
  ],
  NodeProto: [
    { no: 1, name: 'input', type: 'string', repeated: true },
    { no: 2, name: 'output', type: 'string', repeated: true },
    { no: 3, name: 'name', type: 'string' },
    { no: 4, name: 'opType', type: 'string' },
    { no: 7, name: 'domain', type: 'string' },
    { no: 5, name: 'attribute', type: message('AttributeProto'), repeated: true },
    { no: 6, name: 'docString', type: 'string' },
  ],
  GraphProto: [
    { no: 1, name: 'node', type: message('NodeProto'), repeated: true },
    { no: 2, name: 'name', type: 'string' },
    { no: 5, name: 'initializer', type: message('TensorProto'), repeated: true },
    { no: 10, name: 'docString', type: 'string' },
    { no: 11, name: 'input', type: message('ValueInfoProto'), repeated: true },
    { no: 12, name: 'output', type: message('ValueInfoProto'), repeated: true },
    { no: 13, name: 'valueInfo', type: message('ValueInfoProto'), repeated: true },
  ],
  ModelProto: [
    { no: 1, name: 'irVersion', type: 'int64' },
    { no: 8, name: 'opsetImport', type: message('OperatorSetIdProto'), repeated: true },
    { no: 2, name: 'producerName', type: 'string' },
    { no: 3, name: 'producerVersion', type: 'string' },
    { no: 4, name: 'domain', type: 'string' },
    { no: 5, name: 'modelVersion', type: 'int64' },
    { no: 6, name: 'docString', type: 'string' },
    { no: 7, name: 'graph', type: message('GraphProto') },
    { no: 14, name: 'metadataProps', type: message('StringStringEntryProto'), repeated: true },
  ],
};

/** A message's codec: `create` (a copy of the fields given), `encode` to bytes, `decode` from them. */
export interface MessageCodec<T> {
  create(fields?: T): T;
  encode(message: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

function codec<T extends object>(name: string): MessageCodec<T> {
  return {
    create: (fields) => ({ ...fields }) as T,
    encode: (m) => encodeMessage(SCHEMAS, name, m),
    decode: (bytes) => decodeMessage(SCHEMAS, name, bytes) as T,
  };
}

/** onnx.proto's `TensorProto.DataType`. */
const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;

/** onnx.proto's `AttributeProto.AttributeType`. */
const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

export const onnx = {
  ModelProto: codec<ModelProto>('ModelProto'),
  GraphProto: codec<GraphProto>('GraphProto'),
  NodeProto: codec<NodeProto>('NodeProto'),
  AttributeProto: { ...codec<AttributeProto>('AttributeProto'), AttributeType },
  TensorProto: { ...codec<TensorProto>('TensorProto'), DataType },
  ValueInfoProto: codec<ValueInfoProto>('ValueInfoProto'),
};
