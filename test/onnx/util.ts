/** Shared pieces of the ONNX tests: run an exported graph, and make weights that exercise every term. */
import { createSession, exportOnnx, runOnnx, type ExportOptions, type SessionOptions } from '../../backends/onnx/index.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { normalValues } from '../helpers/values.js';

export async function runExported(graph: Graph, weights: WeightMap, x: Float32Array, n: number, exportOptions: ExportOptions = {}, sessionOptions: SessionOptions = {}): Promise<Float32Array> {
  const session = await createSession(exportOnnx(graph, weights, exportOptions), sessionOptions);
  try {
    return await runOnnx(session, x, n);
  } finally {
    await session.release();
  }
}

export { busyWeights } from '../helpers/values.js';

/** `size` standard normal inputs. */
export const randomInput = (size: number, seed: number): Float32Array => normalValues(size, seed);
