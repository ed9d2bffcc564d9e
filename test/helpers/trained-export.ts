/** SoFAr standard exports as users hold them: `sofar train`'s model.onnx, and one from before it recorded its graph. */
import { exportOnnx } from '../../backends/onnx/export.js';
import { GRAPH_METADATA_KEY } from '../../backends/onnx/encode.js';
import { onnx } from '../../backends/onnx/proto.js';
import { encodeInputNormalisation, NORMALISATION, NORMALISATION_METADATA_KEY } from '../../src/data/normalise.js';
import type { Graph } from '../../src/graph/types.js';
import { busyWeights } from './values.js';

/**
 * The standard export `sofar train` writes (cli/commands/train.ts: the same call and metadata) of seeded
 * weights with every batch-norm statistic, bias and slope moved off its initial value.
 */
export function trainedLikeExport(graph: Graph, seed: number, o: { packBits?: boolean; integer?: boolean } = {}): Uint8Array {
  const normalisation = encodeInputNormalisation({ dataset: 'fashion-mnist', ...NORMALISATION['fashion-mnist'] });
  return exportOnnx(graph, busyWeights(graph, seed), { ...o, metadata: { [NORMALISATION_METADATA_KEY]: normalisation, 'sofar.params': '{}' } });
}

/** `bytes` without its graph record, as SoFAr's standard exports were before they carried one. */
export function withoutGraphRecord(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  model.metadataProps = (model.metadataProps ?? []).filter((p) => p.key !== GRAPH_METADATA_KEY);
  return onnx.ModelProto.encode(model);
}

/** `bytes` with its graph record replaced by `text`. */
export function withGraphRecord(bytes: Uint8Array, text: string): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  for (const p of model.metadataProps ?? []) if (p.key === GRAPH_METADATA_KEY) p.value = text;
  return onnx.ModelProto.encode(model);
}
