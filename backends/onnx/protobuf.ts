/**
 * Plain objects ⇄ the protobuf wire format, driven by a table of message schemas: the bytes themselves
 * (tags, varints, fixed-width numbers, length-delimited fields, skipping unknown ones) are read and
 * written by @bufbuild/protobuf's BinaryReader / BinaryWriter; this module walks the table. Messages are
 * plain objects keyed by camelCase field names. Decoding keeps only the fields the schema names (others
 * are skipped), accepts packed and unpacked repeated scalars, and throws a plain Error saying what is
 * malformed; repeated fields decode as arrays (empty when absent), absent singular fields stay absent.
 * Integers are JavaScript numbers: int64 values are exact within ±2^53, and the sentinels INT64_MAX and
 * UINT64_MAX (which read as 2^63 and 2^64) are written back as themselves. Bytes fields are views into
 * the input, not copies (a model's weights are most of its bytes): they may sit at any byte offset, so a
 * reader that wants a Float32Array copies them first.
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

export type Scalar = 'string' | 'bytes' | 'int32' | 'int64' | 'uint64' | 'float' | 'double' | 'enum';

/** One field: its number, name, type (a scalar or a message's name in the schema set), and repetition. */
export interface FieldSpec {
  no: number;
  name: string;
  type: Scalar | { message: string };
  repeated?: boolean;
  /** Repeated numbers written packed (one length-delimited run); either form is read. */
  packed?: boolean;
}

export type Schemas = Record<string, readonly FieldSpec[]>;

type Message = Record<string, unknown>;

/** Deepest nesting read (a graph in an attribute in a graph ...): deeper is refused, not recursed into. */
const MAX_DEPTH = 64;

function wireType(type: FieldSpec['type']): WireType {
  if (typeof type !== 'string' || type === 'string' || type === 'bytes') return WireType.LengthDelimited;
  if (type === 'float') return WireType.Bit32;
  if (type === 'double') return WireType.Bit64;
  return WireType.Varint;
}

// ---------------------------------------------------------------- reading

/** The end of the length-delimited field that starts at the reader, checked against its message's end. */
function delimited(r: BinaryReader, end: number): number {
  const stop = r.uint32() + r.pos;
  if (stop > end) throw new Error('a field runs past the end of its message');
  return stop;
}

function readScalar(r: BinaryReader, type: Scalar): unknown {
  switch (type) {
    case 'string':
      return r.string();
    case 'bytes':
      return r.bytes();
    case 'int32':
    case 'enum':
      return r.int32();
    case 'int64':
      return Number(r.int64());
    case 'uint64':
      return Number(r.uint64());
    case 'float':
      return r.float();
    case 'double':
      return r.double();
  }
}

function readMessage(schemas: Schemas, name: string, r: BinaryReader, end: number, depth: number): Message {
  if (depth > MAX_DEPTH) throw new Error(`messages nested more than ${MAX_DEPTH} deep`);
  const fields = schemas[name];
  const message: Message = {};
  for (const f of fields) if (f.repeated) message[f.name] = [];
  while (r.pos < end) {
    const [no, wire] = r.tag();
    const f = fields.find((x) => x.no === no);
    if (!f) {
      r.skip(wire, no);
      continue;
    }
    const type = f.type;
    let value: unknown;
    if (typeof type !== 'string') {
      if (wire !== WireType.LengthDelimited) throw new Error(`${name}.${f.name}: wire type ${wire} for a message`);
      const stop = delimited(r, end);
      value = readMessage(schemas, type.message, r, stop, depth + 1);
    } else if (f.repeated && wire === WireType.LengthDelimited && wireType(type) !== WireType.LengthDelimited) {
      // Packed: a run of scalars in one length-delimited field.
      const stop = delimited(r, end);
      const values = message[f.name] as unknown[];
      while (r.pos < stop) values.push(readScalar(r, type));
      if (r.pos !== stop) throw new Error(`${name}.${f.name}: packed values run past their field`);
      continue;
    } else {
      if (wire !== wireType(type)) throw new Error(`${name}.${f.name}: wire type ${wire}, expected ${wireType(type)}`);
      value = readScalar(r, type);
    }
    if (f.repeated) (message[f.name] as unknown[]).push(value);
    else message[f.name] = value;
  }
  if (r.pos !== end) throw new Error(`${name}: a field runs past the end of the message`);
  return message;
}

/**
 * The library's exceptions as the plain Errors this module promises: a read past the end of the input
 * is a RangeError there (its bounds check, or a DataView's); the rest are plain Errors already.
 */
function plainError(e: unknown): Error {
  if (e instanceof RangeError) return new Error('a field runs past the end of its message');
  if (!(e instanceof Error)) return new Error(String(e));
  return e.message === 'invalid varint' ? new Error('varint longer than 10 bytes') : e;
}

/** Decodes `bytes` as message `name` of `schemas`; throws an Error saying what is malformed. */
export function decodeMessage(schemas: Schemas, name: string, bytes: Uint8Array): Message {
  try {
    return readMessage(schemas, name, new BinaryReader(bytes), bytes.length, 0);
  } catch (e) {
    throw plainError(e);
  }
}

// ---------------------------------------------------------------- writing

const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

function writeScalar(w: BinaryWriter, type: Scalar, v: unknown): void {
  switch (type) {
    case 'string':
      w.string(String(v));
      return;
    case 'bytes':
      w.bytes(v instanceof Uint8Array ? v : Uint8Array.from(v as ArrayLike<number>));
      return;
    case 'int32':
    case 'enum':
      w.int32(v as number);
      return;
    // A number that read as 2^63 (2^64) was INT64_MAX (UINT64_MAX), the only int64 a double rounds out of range.
    case 'int64':
      w.int64(v === 2 ** 63 ? INT64_MAX : (v as number | bigint));
      return;
    case 'uint64':
      w.uint64(v === 2 ** 64 ? UINT64_MAX : (v as number | bigint));
      return;
    case 'float':
      w.float(Number(v));
      return;
    case 'double':
      w.double(Number(v));
      return;
  }
}

/** Each message's fields in field-number order, the order protobuf serialisers write them in. */
const writeOrder = new WeakMap<readonly FieldSpec[], readonly FieldSpec[]>();
function fieldsInOrder(fields: readonly FieldSpec[]): readonly FieldSpec[] {
  let sorted = writeOrder.get(fields);
  if (!sorted) writeOrder.set(fields, (sorted = [...fields].sort((a, b) => a.no - b.no)));
  return sorted;
}

function writeMessage(schemas: Schemas, name: string, message: Message, w: BinaryWriter): void {
  for (const f of fieldsInOrder(schemas[name])) {
    const v = message[f.name];
    if (v === undefined || v === null) continue;
    const type = f.type;
    const values = f.repeated ? (v as unknown[]) : [v];
    if (f.repeated && values.length === 0) continue;
    if (typeof type !== 'string') {
      for (const item of values) {
        w.tag(f.no, WireType.LengthDelimited).fork();
        writeMessage(schemas, type.message, item as Message, w);
        w.join();
      }
      continue;
    }
    try {
      if (f.packed) {
        w.tag(f.no, WireType.LengthDelimited).fork();
        for (const item of values) writeScalar(w, type, item);
        w.join();
      } else for (const item of values) writeScalar(w.tag(f.no, wireType(type)), type, item);
    } catch (e) {
      throw new Error(`${name}.${f.name}: ${(e as Error).message}`);
    }
  }
}

/**
 * Encodes a message (a plain object) as message `name` of `schemas`; fields that are unset are left out.
 * A value its field's type cannot hold (a fraction in an int64, 1e39 in a float) is an Error naming the field.
 */
export function encodeMessage(schemas: Schemas, name: string, message: object): Uint8Array {
  const w = new BinaryWriter();
  writeMessage(schemas, name, message as Message, w);
  return w.finish();
}
