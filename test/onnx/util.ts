/** Shared pieces of the ONNX tests: run an exported graph, and make weights that exercise every term. */
import { createSession, exportOnnx, runOnnx, type ExportOptions, type SessionOptions } from '../../backends/onnx/index.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { Random } from '../../src/random.js';
import { initWeights } from '../../src/weights/init.js';

export async function runExported(graph: Graph, weights: WeightMap, x: Float32Array, n: number, exportOptions: ExportOptions = {}, sessionOptions: SessionOptions = {}): Promise<Float32Array> {
  const session = await createSession(exportOnnx(graph, weights, exportOptions), sessionOptions);
  try {
    return await runOnnx(session, x, n);
  } finally {
    await session.release();
  }
}

/**
 * Seeded weights with every batch-norm statistic, bias and slope moved off its neutral initial value,
 * so a lowering that dropped or swapped one would change the output.
 */
export function busyWeights(graph: Graph, seed: number): WeightMap {
  const weights = initWeights(graph, seed);
  const rng = new Random(seed, 'test-busy-weights');
  for (const node of graph.nodes) {
    for (const p of node.params) {
      const v = weights.get(p.name)!;
      if (p.role === 'moving_variance') v.forEach((_, i) => (v[i] = 0.5 + rng.uniform()));
      else if (p.role === 'gamma') v.forEach((_, i) => (v[i] = 0.5 + rng.uniform()));
      else if (p.role !== 'kernel') v.forEach((_, i) => (v[i] = rng.normal() * 0.5));
    }
  }
  return weights;
}

export function randomInput(size: number, seed: number): Float32Array {
  const rng = new Random(seed, 'test-input');
  return Float32Array.from({ length: size }, () => rng.normal());
}
