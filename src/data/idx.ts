/**
 * The IDX format of MNIST and Fashion-MNIST (LeCun's): 2 zero bytes, a type code, the number of
 * dimensions, then one big-endian uint32 per dimension, then the values row-major. Files may be
 * gzipped (detected by the gzip magic bytes, not the file name).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { dataError } from './errors.js';

/** IDX type codes and their element sizes; only unsigned bytes (0x08) carry images and labels. */
const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};
const UNSIGNED_BYTE = 0x08;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const isGzip = (bytes: Uint8Array) => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/** Reads an IDX file of unsigned bytes (gzipped or not), checking its header against its size. */
export function readIdx(path: string): IdxArray {
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw dataError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (isGzip(raw)) {
    try {
      raw = gunzipSync(raw);
    } catch (e) {
      throw dataError(`${path} is not a valid gzip file: ${(e as Error).message}`, 'the download may be truncated; fetch it again');
    }
  }
  return parseIdx(raw, path);
}

export function parseIdx(bytes: Uint8Array, path = '<idx>'): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw dataError(`${path} is not an IDX file (its first two bytes are not zero)`);
  }
  const type = bytes[2];
  const rank = bytes[3];
  if (type !== UNSIGNED_BYTE) {
    const name = TYPE_NAMES[type] ? `${TYPE_NAMES[type]} (0x${type.toString(16).padStart(2, '0')})` : `unknown type 0x${type.toString(16)}`;
    throw dataError(`${path} holds ${name} values; images and labels are unsigned bytes (0x08)`);
  }
  if (rank < 1) throw dataError(`${path} declares no dimensions`);
  const headerSize = 4 + 4 * rank;
  if (bytes.length < headerSize) throw dataError(`${path} is truncated inside its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerSize;
  if (actual !== expected) {
    throw dataError(
      `${path} declares ${rank === 1 ? `${expected} values` : `${dims.join('×')} = ${expected} values`} but holds ${actual}`,
      actual < expected ? 'the file is truncated; fetch it again' : undefined,
    );
  }
  return { dims, data: bytes.subarray(headerSize) };
}

/** The images and labels of one split of an IDX data set, checked against each other. */
export interface IdxSplit {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
}

export function readIdxSplit(imagesPath: string, labelsPath: string): IdxSplit {
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.dims.length !== 3) {
    throw dataError(`${imagesPath} should hold images (3 dimensions: count × height × width), found ${images.dims.length}`);
  }
  if (labels.dims.length !== 1) {
    throw dataError(`${labelsPath} should hold labels (1 dimension), found ${labels.dims.length}`);
  }
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    throw dataError(`${imagesPath} holds ${count} images but ${labelsPath} holds ${labels.dims[0]} labels`);
  }
  return { images: images.data, labels: labels.data, count, height, width };
}
