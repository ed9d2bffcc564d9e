/**
 * A model input read from a file: a `.npy` array (float32 / float64 / uint8; `[N,C,H,W]`, `[C,H,W]`
 * or `[H,W]`) or a PNG / JPEG image, checked against the model's input shape. Images and uint8
 * arrays (pixels) are scaled to [0, 1], then normalised per channel, `(x − mean) / std`, when a
 * normalisation is given (the one the model was trained with); float arrays are used as they are.
 * No resizing: sizes must match.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Normalisation } from '../data/normalise.js';
import { error, SofarError } from '../diagnostics.js';
import { decodeImage, imageToChw } from './image.js';
import { parseNpy } from './npy.js';

export interface InputBatch {
  /** `[n, C, H, W]` row-major. */
  x: Float32Array;
  n: number;
  /** True when the file held pixels (an image or a uint8 array), to which the normalisation applies. */
  pixels: boolean;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

function inputError(message: string, hint?: string): SofarError {
  return new SofarError([error('input', message, undefined, hint)]);
}

/**
 * Reads `path` as a batch for a model whose input is `[C, H, W]`; pixels are normalised with
 * `normalisation` when one is given. Throws SofarError on any mismatch.
 */
export function readInputFile(path: string, input: readonly number[], normalisation?: Normalisation | null): InputBatch {
  const [c, h, w] = input;
  const ext = extname(path).toLowerCase();
  if (ext !== '.npy' && !IMAGE_EXTENSIONS.has(ext)) {
    throw inputError(`cannot read ${path}: unknown input format '${ext || '(no extension)'}'`, 'give a .npy array or a .png / .jpg image');
  }
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw inputError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const batch = ext === '.npy' ? fromNpy(path, bytes, c, h, w) : fromImage(path, bytes, c, h, w);
  if (batch.pixels && normalisation) {
    if (normalisation.mean.length !== c) throw inputError(`the model's recorded normalisation has ${normalisation.mean.length} channel(s), its input ${c}`, 'turn it off with --no-normalise');
    normaliseInPlace(batch.x, c, h * w, normalisation);
  }
  return batch;
}

/** `(x − mean_c) / std_c` over NCHW values already on the [0, 1] scale. */
function normaliseInPlace(x: Float32Array, channels: number, plane: number, norm: Normalisation): void {
  for (let start = 0; start < x.length; start += plane) {
    const c = (start / plane) % channels;
    for (let k = start; k < start + plane; k++) x[k] = (x[k] - norm.mean[c]) / norm.std[c];
  }
}

function fromNpy(path: string, bytes: Uint8Array, c: number, h: number, w: number): InputBatch {
  let array;
  try {
    array = parseNpy(bytes);
  } catch (e) {
    throw inputError(`${path}: ${(e as Error).message}`);
  }
  const s = array.shape;
  const fits = (s.length === 4 && s[1] === c && s[2] === h && s[3] === w) || (s.length === 3 && s[0] === c && s[1] === h && s[2] === w) || (s.length === 2 && c === 1 && s[0] === h && s[1] === w);
  if (!fits || (s.length === 4 && s[0] === 0)) {
    throw inputError(
      `${path} holds an array of shape (${s.join(', ')}); the model takes ${c}×${h}×${w}`,
      `save it as (N, ${c}, ${h}, ${w}) or (${c}, ${h}, ${w})${c === 1 ? ` or (${h}, ${w})` : ''}, NCHW`,
    );
  }
  const pixels = array.dtype === 'uint8';
  const x = pixels ? array.data.map((v) => v / 255) : array.data;
  return { x, n: s.length === 4 ? s[0] : 1, pixels };
}

function fromImage(path: string, bytes: Uint8Array, c: number, h: number, w: number): InputBatch {
  if (c !== 1 && c !== 3) throw inputError(`${path}: the model takes ${c} channels; images give 1 (grey) or 3 (RGB)`, 'pass a .npy array instead');
  let img;
  try {
    img = decodeImage(bytes);
  } catch (e) {
    throw inputError(`${path}: ${(e as Error).message}`);
  }
  if (img.width !== w || img.height !== h) {
    throw inputError(`${path} is ${img.width}×${img.height} pixels; the model takes ${w}×${h}`, 'resize it first (no resizing is done here)');
  }
  return { x: imageToChw(img, c), n: 1, pixels: true };
}
