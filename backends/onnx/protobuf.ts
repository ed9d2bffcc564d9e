/**
 * The protobuf wire format (https://protobuf.dev/programming-guides/encoding/), driven by a table of
 * message schemas: enough to read and write ONNX models without a protobuf library (which would weigh
 * more than the runtime itself). Messages are plain objects keyed by camelCase field names. Decoding
 * keeps only the fields the schema names (others are skipped), accepts packed and unpacked repeated
 * scalars, and throws an Error on anything malformed; repeated fields decode as arrays (empty when
 * absent), absent singular fields stay absent. Integers are JavaScript numbers (int64 beyond 2^53 loses
 * precision: no ONNX size or attribute SoFAr reads comes near it). Bytes fields are views into the
 * input, not copies (a model's weights are most of its bytes): they may sit at any byte offset, so a
 * reader that wants a Float32Array copies them first.
 */

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

// Wire types.
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** Deepest nesting read (a graph in an attribute in a graph ...): deeper is refused, not recursed into. */
const MAX_DEPTH = 64;

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

function wireType(type: FieldSpec['type']): number {
  if (typeof type !== 'string' || type === 'string' || type === 'bytes') return LEN;
  if (type === 'float') return I32;
  if (type === 'double') return I64;
  return VARINT;
}

// ---------------------------------------------------------------- reading

class Reader {
  pos: number;
  private readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** An unsigned varint as [low 32 bits, high 32 bits]. */
  private varint64(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw new Error('varint longer than 10 bytes');
  }

  uint32(): number {
    return this.varint64()[0];
  }

  int64(): number {
    const [lo, hi] = this.varint64();
    return hi >= 0x80000000 ? (hi - 0x100000000) * 0x100000000 + lo : hi * 0x100000000 + lo;
  }

  uint64(): number {
    const [lo, hi] = this.varint64();
    return hi * 0x100000000 + lo;
  }

  int32(): number {
    return this.varint64()[0] | 0;
  }

  float(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** The end of a length-delimited field that starts here. */
  delimited(): number {
    const length = this.uint32();
    this.need(length);
    return this.pos + length;
  }

  skip(wire: number): void {
    if (wire === VARINT) this.varint64();
    else if (wire === LEN) this.pos = this.delimited();
    else if (wire === I64 || wire === I32) {
      const n = wire === I64 ? 8 : 4;
      this.need(n);
      this.pos += n;
    } else throw new Error(`unsupported wire type ${wire}`);
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new Error('field runs past the end of its message');
  }
}

function readScalar(r: Reader, type: Scalar): unknown {
  switch (type) {
    case 'string': {
      const end = r.delimited();
      const s = utf8Decoder.decode(r.buf.subarray(r.pos, end));
      r.pos = end;
      return s;
    }
    case 'bytes': {
      const end = r.delimited();
      const b = r.buf.subarray(r.pos, end);
      r.pos = end;
      return b;
    }
    case 'int32':
    case 'enum':
      return r.int32();
    case 'int64':
      return r.int64();
    case 'uint64':
      return r.uint64();
    case 'float':
      return r.float();
    case 'double':
      return r.double();
  }
}

function readMessage(schemas: Schemas, name: string, r: Reader, end: number, depth: number): Message {
  if (depth > MAX_DEPTH) throw new Error(`messages nested more than ${MAX_DEPTH} deep`);
  const fields = schemas[name];
  const message: Message = {};
  for (const f of fields) if (f.repeated) message[f.name] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wire = tag & 7;
    if (no === 0) throw new Error(`${name}: field number 0`);
    const f = fields.find((x) => x.no === no);
    if (!f) {
      r.skip(wire);
      continue;
    }
    const type = f.type;
    let value: unknown;
    if (typeof type !== 'string') {
      if (wire !== LEN) throw new Error(`${name}.${f.name}: wire type ${wire} for a message`);
      const stop = r.delimited();
      value = readMessage(schemas, type.message, r, stop, depth + 1);
      r.pos = stop;
    } else if (f.repeated && wire === LEN && wireType(type) !== LEN) {
      // Packed: a run of scalars in one length-delimited field.
      const stop = r.delimited();
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

/** Decodes `bytes` as message `name` of `schemas`; throws an Error saying what is malformed. */
export function decodeMessage(schemas: Schemas, name: string, bytes: Uint8Array): Message {
  return readMessage(schemas, name, new Reader(bytes, 0, bytes.length), bytes.length, 0);
}

// ---------------------------------------------------------------- writing

/**
 * Bytes written as a list of parts: small writes gather in `pending`, bytes fields and nested messages
 * are referenced, not copied, and joined once at the end.
 */
class Writer {
  readonly parts: Uint8Array[] = [];
  length = 0;
  private pending: number[] = [];
  private static readonly scratch = new DataView(new ArrayBuffer(8));

  byte(b: number): void {
    this.pending.push(b);
    this.length++;
  }

  uint32(v: number): void {
    v >>>= 0;
    while (v > 0x7f) {
      this.byte((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    this.byte(v);
  }

  /** Any integer as a 64-bit two's complement varint (negative ones take 10 bytes). */
  int64(v: number | bigint): void {
    let x = BigInt.asUintN(64, typeof v === 'bigint' ? v : BigInt(Math.trunc(v)));
    while (x > 0x7fn) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }

  fixed(bytes: number, set: (view: DataView) => void): void {
    set(Writer.scratch);
    for (let i = 0; i < bytes; i++) this.byte(Writer.scratch.getUint8(i));
  }

  chunk(bytes: Uint8Array): void {
    this.flush();
    this.parts.push(bytes);
    this.length += bytes.length;
  }

  append(other: Writer): void {
    other.flush();
    this.flush();
    this.parts.push(...other.parts);
    this.length += other.length;
  }

  flush(): void {
    if (this.pending.length) this.parts.push(Uint8Array.from(this.pending));
    this.pending = [];
  }

  finish(): Uint8Array {
    this.flush();
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function writeScalar(w: Writer, type: Scalar, v: unknown): void {
  switch (type) {
    case 'string': {
      const b = utf8Encoder.encode(String(v));
      w.uint32(b.length);
      w.chunk(b);
      return;
    }
    case 'bytes': {
      const b = v instanceof Uint8Array ? v : Uint8Array.from(v as ArrayLike<number>);
      w.uint32(b.length);
      w.chunk(b);
      return;
    }
    case 'int32':
    case 'enum':
    case 'int64':
    case 'uint64':
      return w.int64(v as number | bigint);
    case 'float':
      return w.fixed(4, (d) => d.setFloat32(0, Number(v), true));
    case 'double':
      return w.fixed(8, (d) => d.setFloat64(0, Number(v), true));
  }
}

/** Each message's fields in field-number order, the order protobuf serialisers write them in. */
const writeOrder = new WeakMap<readonly FieldSpec[], readonly FieldSpec[]>();
function fieldsInOrder(fields: readonly FieldSpec[]): readonly FieldSpec[] {
  let sorted = writeOrder.get(fields);
  if (!sorted) writeOrder.set(fields, (sorted = [...fields].sort((a, b) => a.no - b.no)));
  return sorted;
}

function writeMessage(schemas: Schemas, name: string, message: Message): Writer {
  const w = new Writer();
  for (const f of fieldsInOrder(schemas[name])) {
    const v = message[f.name];
    if (v === undefined || v === null) continue;
    const type = f.type;
    const values = f.repeated ? (v as unknown[]) : [v];
    if (f.repeated && values.length === 0) continue;
    if (typeof type !== 'string') {
      for (const item of values) {
        const inner = writeMessage(schemas, type.message, item as Message);
        w.uint32((f.no << 3) | LEN);
        w.uint32(inner.length);
        w.append(inner);
      }
    } else if (f.packed) {
      const inner = new Writer();
      for (const item of values) writeScalar(inner, type, item);
      w.uint32((f.no << 3) | LEN);
      w.uint32(inner.length);
      w.append(inner);
    } else {
      for (const item of values) {
        w.uint32((f.no << 3) | wireType(type));
        writeScalar(w, type, item);
      }
    }
  }
  return w;
}

/** Encodes a message (a plain object) as message `name` of `schemas`; fields that are unset are left out. */
export function encodeMessage(schemas: Schemas, name: string, message: object): Uint8Array {
  return writeMessage(schemas, name, message as Message).finish();
}
