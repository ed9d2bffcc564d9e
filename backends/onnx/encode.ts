/**
 * Graph + weights → ONNX model bytes: lowers every node through the table, names the output `logits`
 * and records what the model is in its metadata (visible in Netron's model properties). Free of Node
 * APIs, so that SoFAr's runtime (and the page) can re-export a standard export as binary-ops on load;
 * export.ts adds the package version as the default producer version.
 */
import { summarize } from '../../src/cost.js';
import { dispatch, type Graph, type WeightMap } from '../../src/graph/types.js';
import { LowerCtx } from './context.js';
import { ConstantParams } from './constant-params.js';
import { LOWERINGS } from './lower.js';
import { OnnxGraph } from './proto.js';
import { assertValid } from '../../src/check.js';
import { SOFAR_DOMAIN, SOFAR_OPSET } from './binary-ops.js';
import { foldableBatchNorms } from './folds.js';
import { graphToJson } from '../../src/graph/json.js';

export interface ExportOptions {
  /** Store binary kernels one bit per weight (default true); false stores them as ±1 float32 / uint8. */
  packBits?: boolean;
  /** Binary layers as ConvInteger / MatMulInteger on uint8 {0, 2} with zero point 1 (default false). */
  integer?: boolean;
  /**
   * Binary layers and activation signs as operators of SoFAr's `ai.sofar` domain (docs/operators.md),
   * kernels packed along input channels, batch norms folded where exact; for binary runtimes (default false).
   */
  binaryOps?: boolean;
  /** Default (exportOnnx): SoFAr's package version. */
  producerVersion?: string;
  /** Extra metadata entries; they override the defaults of the same key. */
  metadata?: Record<string, string>;
}

/**
 * The metadata entry in which a standard export records its typed graph (compact JSON, as
 * `sofar graph --format json` writes it), so that it can be lowered to binary-ops without its spec.
 */
export const GRAPH_METADATA_KEY = 'sofar.graph';

export function encodeOnnx(graph: Graph, weights: WeightMap, options: ExportOptions & { producerVersion: string }): Uint8Array {
  assertValid(graph);
  const problem = weightProblem(graph, weights);
  if (problem) throw new Error(problem);
  const packBits = options.packBits ?? true;
  const integer = options.integer ?? false;
  const binaryOps = options.binaryOps ?? false;
  if (binaryOps && (integer || !packBits)) throw new Error('the binary-ops variant always packs its kernels and has no integer form');
  const g = new OnnxGraph(graph.name);
  const ctx = new LowerCtx(g, new ConstantParams(weights), { packBits, integer, binaryOps }, { graph, ...(binaryOps ? { bnFolds: foldableBatchNorms(graph, { binaryLayers: true, floatConvs: false }) } : {}) });
  for (const node of graph.nodes) ctx.values[node.id] = dispatch(LOWERINGS, node, ctx);
  g.node('Identity', [ctx.values[graph.output]], ['logits'], {}, { doc: `the model's output: logits [batch, ${graph.classes}]` });
  g.output('logits', 'float32', ['batch', graph.classes]);
  const version = options.producerVersion;
  return g.encode({
    producerVersion: version,
    ...(binaryOps ? { opsets: { [SOFAR_DOMAIN]: SOFAR_OPSET } } : {}),
    doc: `SoFAr model ${graph.name}: input [batch, ${graph.input.join(', ')}] → logits [batch, ${graph.classes}]`,
    metadata: {
      'sofar.spec': graph.name,
      'sofar.version': version,
      'sofar.variant': variantName({ packBits, integer, binaryOps }),
      'sofar.input': JSON.stringify(graph.input),
      'sofar.classes': String(graph.classes),
      'sofar.summary': JSON.stringify(summarize(graph)),
      // A standard export carries its graph, so that SoFAr's runtime can lower it to binary-ops on load.
      ...(binaryOps ? {} : { [GRAPH_METADATA_KEY]: graphToJson(graph, { indent: 0 }) }),
      ...options.metadata,
    },
  });
}

/** `float`, `float-unpacked`, `int`, `int-unpacked`, `binary-ops`: how binary layers are stored and executed. */
export function variantName(o: { packBits: boolean; integer: boolean; binaryOps?: boolean }): string {
  if (o.binaryOps) return 'binary-ops';
  return `${o.integer ? 'int' : 'float'}${o.packBits ? '' : '-unpacked'}`;
}

/** Why the weights do not fit the graph (a missing tensor or a wrong size), or null when they do. */
export function weightProblem(graph: Graph, weights: WeightMap): string | null {
  for (const node of graph.nodes) {
    for (const p of node.params) {
      const data = weights.get(p.name);
      const size = p.shape.reduce((a, b) => a * b, 1);
      if (!data) return `no weights for parameter '${p.name}' [${p.shape.join('×')}]`;
      if (data.length !== size) return `parameter '${p.name}' expects ${size} values [${p.shape.join('×')}], got ${data.length}`;
    }
  }
  return null;
}
