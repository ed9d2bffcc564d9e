/**
 * The reference the cross-backend checks compare with: onnxruntime on the standard export of seeded
 * busy weights (test/helpers/values.ts), run exactly as written (no graph optimisations, which can move
 * a pre-sign value across 0; test/runtime/zoo.test.ts), on a seeded batch.
 */
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { seededInput } from '../../src/weights/init.js';
import { busyWeights } from '../helpers/values.js';
import { batchOf } from './cases.js';

export interface Reference {
  weights: WeightMap;
  x: Float32Array;
  n: number;
  logits: Float32Array;
}

export async function referenceLogits(graph: Graph): Promise<Reference> {
  const n = batchOf(graph);
  const weights = busyWeights(graph, 1);
  const x = seededInput(graph, n, 1);
  const session = await createSession(exportOnnx(graph, weights), { threads: 1, optimization: 'disabled' });
  try {
    return { weights, x, n, logits: await runOnnx(session, x, n) };
  } finally {
    await session.release();
  }
}
