/**
 * A seeded, separable classification task for tests and smoke runs: each class has a fixed random
 * prototype image (standard normal pixels) and a sample is its class prototype plus Gaussian noise.
 * Labels cycle through the classes (balanced); the loop shuffles. Shapes come from the model, so any
 * spec can be trained on it. The data depend on `seed` only — not on the training seed — so a model
 * is evaluated on the same task it was trained on.
 */
import { Random } from '../random.js';

export interface SyntheticOptions {
  /** Training samples (default 1024). */
  trainSize?: number;
  /** Test samples (default 256). */
  testSize?: number;
  /** Standard deviation of the per-pixel noise (default 0.5; prototypes have 1). */
  noise?: number;
  /** Seed of the task (default 0). */
  seed?: number;
}

export const SYNTHETIC_DEFAULTS = { trainSize: 1024, testSize: 256, noise: 0.5, seed: 0 } as const;

export interface SyntheticSplit {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

export function syntheticPrototypes(shape: readonly number[], classes: number, seed: number): Float32Array[] {
  const size = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: classes }, (_, k) => {
    const rng = new Random(seed, `synthetic/prototype/${k}`);
    const p = new Float32Array(size);
    for (let i = 0; i < size; i++) p[i] = rng.normal();
    return p;
  });
}

/** The first `count` samples of a split; a prefix of a larger request gives the same samples. */
export function syntheticSplit(
  split: 'train' | 'test',
  count: number,
  shape: readonly number[],
  classes: number,
  options: SyntheticOptions = {},
): SyntheticSplit {
  const seed = options.seed ?? SYNTHETIC_DEFAULTS.seed;
  const noise = options.noise ?? SYNTHETIC_DEFAULTS.noise;
  const prototypes = syntheticPrototypes(shape, classes, seed);
  const size = prototypes[0]?.length ?? 0;
  const rng = new Random(seed, `synthetic/${split}`);
  const x = new Float32Array(count * size);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    y[i] = label;
    const p = prototypes[label];
    for (let k = 0; k < size; k++) x[i * size + k] = p[k] + noise * rng.normal();
  }
  return { x, y, n: count };
}
