/** `exportOnnx`: encode.ts with SoFAr's package version (read from package.json) as the producer version. */
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { encodeOnnx, type ExportOptions } from './encode.js';
import { sofarVersion } from './version.js';

export { variantName, weightProblem, type ExportOptions } from './encode.js';

export function exportOnnx(graph: Graph, weights: WeightMap, options: ExportOptions = {}): Uint8Array {
  return encodeOnnx(graph, weights, { ...options, producerVersion: options.producerVersion ?? sofarVersion() });
}
