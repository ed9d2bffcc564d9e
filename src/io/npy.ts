/**
 * NumPy `.npy` arrays (format versions 1–3): the header's dtype, order and shape, and the data as
 * float32. Only what a model input needs: little-endian float32/float64 and uint8, C order.
 */

export interface NpyArray {
  shape: number[];
  dtype: 'float32' | 'float64' | 'uint8';
  /** The values in row-major order, converted to float32 (uint8 kept as 0..255). */
  data: Float32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DTYPES: Record<string, NpyArray['dtype']> = { '<f4': 'float32', '<f8': 'float64', '|u1': 'uint8', '<u1': 'uint8', '>u1': 'uint8' };

/** Parses a .npy file; throws an Error whose message says what is wrong with the file. */
export function parseNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error('not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [headerLength, headerStart] = major === 1 ? [view.getUint16(8, true), 10] : [view.getUint32(8, true), 12];
  if (headerStart + headerLength > bytes.length) throw new Error('truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new Error(`unreadable .npy header: ${header.trim()}`);
  const dtype = DTYPES[descr];
  if (!dtype) throw new Error(`unsupported dtype '${descr}' (supported: float32 '<f4', float64 '<f8', uint8 '|u1')`);
  if (fortran === 'True') throw new Error('Fortran-ordered arrays are not supported; save with np.ascontiguousarray');
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`bad shape (${shapeText}) in the .npy header`);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = headerStart + headerLength;
  const width = dtype === 'uint8' ? 1 : dtype === 'float32' ? 4 : 8;
  if (bytes.length - start < count * width) throw new Error(`truncated .npy data: shape (${shape.join(', ')}) needs ${count * width} bytes, the file has ${bytes.length - start}`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const at = start + i * width;
    data[i] = dtype === 'uint8' ? bytes[at] : dtype === 'float32' ? view.getFloat32(at, true) : view.getFloat64(at, true);
  }
  return { shape, dtype, data };
}

/** Writes a little-endian float32 .npy (version 1.0); used by tests and tools that hand arrays to NumPy. */
export function encodeNpy(shape: readonly number[], data: Float32Array): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // Pad with spaces so that the data starts on a 64-byte boundary, ending the header with a newline.
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64 || 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const body = new DataView(out.buffer, 10 + header.length);
  data.forEach((v, i) => body.setFloat32(i * 4, v, true));
  return out;
}
