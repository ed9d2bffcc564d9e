/**
 * SoFAr's standard export of a model (`sofar train`'s model.onnx, `sofar build`) → its `--binary-ops`
 * form, without the spec: the export records its typed graph (metadata `sofar.graph`), its weights are
 * read back from the initialisers (weights-from-export.ts) and the binary-ops lowering encodes them.
 * Free of Node APIs: SoFAr's runtime and the page convert on load with it, `sofar convert` on disk.
 */
import { graphFromJson } from '../../src/graph/json.js';
import type { Graph } from '../../src/graph/types.js';
import { encodeOnnx, GRAPH_METADATA_KEY } from './encode.js';
import { readModelMetadata } from './proto.js';
import { weightsFromStandardExport } from './weights-from-export.js';

/** Whether the metadata is that of a standard export that records its graph (so it converts). */
export function recordsGraph(metadata: Record<string, string>): boolean {
  const variant = metadata['sofar.variant'];
  return variant !== undefined && variant !== 'binary-ops' && GRAPH_METADATA_KEY in metadata;
}

/** The graph a standard export records; throws an Error that says what is wrong with it. */
export function recordedGraph(metadata: Record<string, string>): Graph {
  const text = metadata[GRAPH_METADATA_KEY];
  if (text === undefined) throw new Error(`it records no graph (metadata '${GRAPH_METADATA_KEY}')`);
  const { graph, diagnostics } = graphFromJson(text, `metadata '${GRAPH_METADATA_KEY}'`);
  if (!graph) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return graph;
}

/**
 * The `--binary-ops` model of the standard export `bytes` (whose metadata is `metadata`), with the same
 * weights and metadata (weights source, input normalisation, ...); byte for byte what `sofar build
 * --binary-ops` writes from the same weights. Throws an Error that says what is missing.
 */
export function binaryOpsFromStandardExport(bytes: Uint8Array, metadata: Record<string, string> = readModelMetadata(bytes)): Uint8Array {
  const graph = recordedGraph(metadata);
  const weights = weightsFromStandardExport(graph, bytes);
  const { [GRAPH_METADATA_KEY]: _graph, 'sofar.variant': _variant, ...kept } = metadata;
  return encodeOnnx(graph, weights, { binaryOps: true, producerVersion: metadata['sofar.version'] ?? '0.0.0', metadata: kept });
}
