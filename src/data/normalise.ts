/**
 * Per-channel normalisation: pixels are scaled to [0, 1], then `(x − mean_c) / std_c`.
 *
 * The constants are the mean and (population) standard deviation of each data set's *training*
 * images on the [0, 1] scale, the values PyTorch and Keras tutorials use:
 * - Fashion-MNIST 0.2860 / 0.3530 (measured here on the 60 000 training images: 0.28604 / 0.35302);
 * - MNIST 0.1307 / 0.3081;
 * - CIFAR-10 (R, G, B) 0.4914, 0.4822, 0.4465 / 0.2470, 0.2435, 0.2616 (the per-pixel standard
 *   deviation; the widely copied 0.2023, 0.1994, 0.2010 is a per-image average and not used here).
 * A data set given by path has no published constants: its statistics are measured on its training
 * images, which is deterministic, so training and evaluation normalise alike.
 */

export interface Normalisation {
  /** Per channel, on the [0, 1] pixel scale. */
  mean: number[];
  std: number[];
}

export const NORMALISATION = {
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  mnist: { mean: [0.1307], std: [0.3081] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
} as const satisfies Record<string, Normalisation>;

/** Values already centred and scaled (synthetic data): the identity. */
export const IDENTITY = (channels: number): Normalisation => ({
  mean: new Array<number>(channels).fill(0),
  std: new Array<number>(channels).fill(1),
});

/** Mean and population standard deviation per channel of `count` NCHW byte images. */
export function measureNormalisation(images: Uint8Array, count: number, channels: number): Normalisation {
  const plane = images.length / (count * channels);
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    let sumSquares = 0;
    for (let i = 0; i < count; i++) {
      const start = (i * channels + c) * plane;
      for (let k = start; k < start + plane; k++) {
        const v = images[k];
        sum += v;
        sumSquares += v * v;
      }
    }
    const n = count * plane;
    const m = sum / n;
    mean.push(m / 255);
    std.push(Math.sqrt(Math.max(sumSquares / n - m * m, 0)) / 255 || 1);
  }
  return { mean, std };
}

/** The first `count` byte images of shape `[C, H, W]` as normalised float32 NCHW values. */
export function normaliseImages(images: Uint8Array, count: number, shape: readonly number[], norm: Normalisation): Float32Array {
  const [channels, height, width] = shape;
  const plane = height * width;
  const out = new Float32Array(count * channels * plane);
  for (let c = 0; c < channels; c++) {
    // x/255 − mean over std, folded into one multiply-add per pixel.
    const scale = 1 / (255 * norm.std[c]);
    const shift = -norm.mean[c] / norm.std[c];
    for (let i = 0; i < count; i++) {
      const start = (i * channels + c) * plane;
      for (let k = start; k < start + plane; k++) out[k] = images[k] * scale + shift;
    }
  }
  return out;
}

/**
 * The normalisation a model's inputs went through in training, and the data set it comes from. Exported
 * models record it as the metadata entry `sofar.normalisation` (JSON), checkpoints as `normalisation`.
 */
export interface InputNormalisation extends Normalisation {
  /** `fashion-mnist`, `cifar10`, `synthetic`, or the path of a data set given by path. */
  dataset: string;
}

export const NORMALISATION_METADATA_KEY = 'sofar.normalisation';

export function encodeInputNormalisation(n: InputNormalisation): string {
  return JSON.stringify({ dataset: n.dataset, mean: n.mean, std: n.std });
}

/** Reads a recorded normalisation; null when absent or not well formed (then nothing is applied). */
export function decodeInputNormalisation(text: string | undefined): InputNormalisation | null {
  if (!text) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  const o = v as Partial<InputNormalisation> | null;
  const numbers = (a: unknown): a is number[] => Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!o || typeof o.dataset !== 'string' || !numbers(o.mean) || !numbers(o.std) || o.mean.length !== o.std.length || o.std.some((s) => s <= 0)) return null;
  return { dataset: o.dataset, mean: [...o.mean], std: [...o.std] };
}

/** The normalisation `sofar train --data NAME` applies, for a named data set; null for a path. */
export function namedNormalisation(dataset: string, channels: number): InputNormalisation | null {
  if (dataset === 'synthetic') return { dataset, ...IDENTITY(channels) };
  if (!Object.hasOwn(NORMALISATION, dataset)) return null;
  const n = NORMALISATION[dataset as keyof typeof NORMALISATION];
  return { dataset, mean: [...n.mean], std: [...n.std] };
}

/** `fashion-mnist (mean 0.286, std 0.353)` */
export function describeNormalisation(n: InputNormalisation): string {
  return `${n.dataset} (mean ${n.mean.join(', ')}, std ${n.std.join(', ')})`;
}
