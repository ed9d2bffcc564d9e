/**
 * The safetensors format (Hugging Face), the ecosystem's neutral tensor file:
 *
 *   [8 bytes: header length N, little-endian u64][N bytes: JSON header][byte buffer]
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets into the
 * byte buffer) plus an optional `"__metadata__"` map of strings to strings. Data are little-endian and
 * row-major; the tensors tile the buffer without gaps or overlaps. Writers pad the header with spaces
 * so that the buffer starts on an 8-byte boundary.
 *
 * No well-kept safetensors library exists on npm (the one package of that name is a single 0.0.1
 * release), so this is a small codec written from the format's description.
 */

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<Dtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface TensorEntry {
  dtype: Dtype;
  shape: number[];
  /** Little-endian bytes of the values, row-major. */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** Malformed input; the message says what is wrong. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** The reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER = 100_000_000;
const METADATA_KEY = '__metadata__';

/** An F32 entry for a Float32Array (copied into little-endian bytes). */
export function f32(shape: readonly number[], values: Float32Array): TensorEntry {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return { dtype: 'F32', shape: [...shape], bytes };
}

/** Encodes tensors (in the given order) and metadata into one safetensors file. */
export function encodeSafetensors(tensors: ReadonlyMap<string, TensorEntry>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === METADATA_KEY) throw new SafetensorsError(`a tensor cannot be named ${METADATA_KEY}`);
    checkSize(name, t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const t of tensors.values()) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}

/** Decodes and validates a safetensors file; tensor bytes are copied out of `bytes`. */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.length < 8) throw new SafetensorsError(`the file is ${bytes.length} bytes long, shorter than its 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) throw new SafetensorsError(`the header claims ${n} bytes, more than the ${MAX_HEADER} allowed`);
  const headerLength = Number(n);
  if (8 + headerLength > bytes.length) throw new SafetensorsError(`the header claims ${headerLength} bytes but the file holds only ${bytes.length - 8} after the length`);
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  if (!text.startsWith('{')) throw new SafetensorsError('the header is not a JSON object');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`the header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(header)) throw new SafetensorsError('the header is not a JSON object');
  const buffer = bytes.subarray(8 + headerLength);
  const metadata = readMetadata(header[METADATA_KEY]);
  const entries: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    if (!isObject(value)) throw new SafetensorsError(`tensor '${name}': its entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) throw new SafetensorsError(`tensor '${name}': unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isCount)) throw new SafetensorsError(`tensor '${name}': the shape is not a list of sizes`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      throw new SafetensorsError(`tensor '${name}': data_offsets must be [begin, end] with begin ≤ end`);
    }
    entries.push({ name, dtype: dtype as Dtype, shape: shape as number[], begin: offsets[0], end: offsets[1] });
  }
  // The tensors must tile the buffer exactly: sorted by offset, each starts where the last ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of sorted) {
    if (e.begin !== expected) {
      throw new SafetensorsError(`tensor '${e.name}' starts at byte ${e.begin} of the data, expected ${expected} (tensors must not overlap or leave gaps)`);
    }
    expected = e.end;
  }
  if (expected !== buffer.length) {
    throw new SafetensorsError(`the tensors cover ${expected} bytes of data but the file holds ${buffer.length}`);
  }
  const tensors = new Map<string, TensorEntry>();
  for (const e of entries) {
    const t: TensorEntry = { dtype: e.dtype, shape: e.shape, bytes: buffer.slice(e.begin, e.end) };
    checkSize(e.name, t);
    tensors.set(e.name, t);
  }
  return { tensors, metadata };
}

/** Values of a floating-point entry as float32 (F64, F16 and BF16 are converted). */
export function toFloat32(name: string, t: TensorEntry): Float32Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Float32Array(count);
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(i * 2, true) << 16);
        out[i] = word.getFloat32(0);
      }
      return out;
    }
    default:
      throw new SafetensorsError(`tensor '${name}' holds ${t.dtype} values, not floating-point`);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function checkSize(name: string, t: TensorEntry): void {
  const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
  if (t.bytes.length !== expected) {
    throw new SafetensorsError(`tensor '${name}': a ${t.dtype} tensor of shape [${t.shape.join(', ')}] needs ${expected} bytes, got ${t.bytes.length}`);
  }
}

function readMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new SafetensorsError(`${METADATA_KEY} must map names to strings`);
  }
  return { ...(value as Record<string, string>) };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
