/** Seeded test values shared by the backend suites: weights, inputs and training noise. */
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { Random } from '../../src/random.js';
import type { StepNoise } from '../../src/train/engine.js';
import { initWeights } from '../../src/weights/init.js';

/**
 * Seeded weights with every batch-norm statistic, bias and slope moved off its neutral initial value,
 * so a backend that dropped or swapped one would change the output.
 */
export function busyWeights(graph: Graph, seed: number): WeightMap {
  const weights = initWeights(graph, seed);
  const rng = new Random(seed, 'test-busy-weights');
  for (const node of graph.nodes) {
    for (const p of node.params) {
      const v = weights.get(p.name)!;
      if (p.role === 'moving_variance' || p.role === 'gamma') v.forEach((_, i) => (v[i] = 0.5 + rng.uniform()));
      else if (p.role !== 'kernel') v.forEach((_, i) => (v[i] = rng.normal() * 0.5));
    }
  }
  return weights;
}

/** `count` standard normal values times `scale`. */
export function normalValues(count: number, seed: number, scale = 1): Float32Array {
  const rng = new Random(seed, 'test-values');
  return Float32Array.from({ length: count }, () => rng.normal() * scale);
}

export const noNoise = (): StepNoise => ({ joinMasks: new Map(), dropoutMasks: new Map() });

/** Seeded masks: each join keeps each input with probability `keep` (at least one), each dropout draws its scaled mask. */
export function someNoise(graph: Graph, n: number, seed: number, keep = 0.5): StepNoise {
  const rng = new Random(seed, 'test-noise');
  const noise = noNoise();
  for (const node of graph.nodes) {
    if (node.op === 'join') {
      const mask = Float32Array.from(node.inputs, () => (rng.uniform() < keep ? 1 : 0));
      if (!mask.some((m) => m)) mask[rng.int(mask.length)] = 1;
      noise.joinMasks.set(node.name, mask);
    }
    if (node.op === 'dropout') {
      const p = node.attrs.rate;
      const count = n * node.shape.reduce((a, b) => a * b, 1);
      noise.dropoutMasks.set(node.name, Float32Array.from({ length: count }, () => (rng.uniform() < p ? 0 : 1 / (1 - p))));
    }
  }
  return noise;
}
