/**
 * The cost model: `larq.models.summary`'s counting (DESIGN.md), so that every figure compares with
 * Larq's field for field, plus Bi-Real Net's OPs.
 *
 * - Parameters: every weight, except that batch norm keeps only its moving statistics (2 non-trainable
 *   values a channel: γ and β fold into them at inference). Keras' `count_params()` (every weight,
 *   4 a channel for batch norm) is kept as `kerasParams`.
 * - A weight's bit width is its quantizer's precision (1 for the sign family), else 32.
 * - Model size = Σ weights × bit width / 8 bytes; "8-bit FP weights" counts weights wider than 8 bits
 *   at 8; the float-32 equivalent counts every weight at 32.
 * - MACs (convolutions and dense layers only, biases excluded): kernel size × output pixels. A MAC's
 *   precision is the larger of its input's (1 for a sign-quantized input, k for a k-bit one, 32 for a
 *   real one) and its kernel's; binary MACs are the 1-bit ones.
 * - OPs = binary MACs / 64 + the other MACs (Bi-Real Net's convention).
 */
import type { Graph, GraphNode, ParamSpec } from './graph/types.js';
import { outputsSign, quantizerBits } from './quantizers.js';

export interface LayerCost {
  name: string;
  op: string;
  outputShape: number[];
  /** Larq's count (batch norm: its 2 moving statistics a channel). */
  params: number;
  /** Keras' count_params(): every weight of the node. */
  kerasParams: number;
  /** The Larq-counted weights stored at 1 bit. */
  binaryParams: number;
  /** Larq's model size of this layer, in bytes. */
  memoryBytes: number;
  /** The bit width of the layer's input as its MACs see it (1, k or 32); null for a layer without MACs. */
  inputBits: number | null;
  macs: number;
  /** The precision of this layer's MACs (max of input and kernel bit widths); null without MACs. */
  macBits: number | null;
  binaryMacs: number;
  source?: string;
}

export interface Summary {
  name: string;
  input: number[];
  classes: number;
  /** Larq's counting; `binary` are the 1-bit weights, `float` the 32-bit ones. */
  params: { total: number; trainable: number; nonTrainable: number; binary: number; float: number };
  /** Keras' count_params() (batch norm 4 values a channel, 3 without scale or centre). */
  kerasParams: number;
  /** Larq's "Model size": Σ weights × bit width / 8. */
  memoryBytes: number;
  /** Larq's "Model size (8-bit FP weights)": weights wider than 8 bits counted at 8. */
  memory8BitBytes: number;
  /** Larq's "Float-32 Equivalent": every weight at 32 bits. */
  float32Bytes: number;
  /** Larq's "Compression Ratio of Memory": memoryBytes / float32Bytes. */
  compressionRatio: number;
  /** MACs by precision: `binary` at 1 bit, `float` all others; `byBits` keyed by bit width. */
  macs: { total: number; binary: number; float: number; byBits: Record<string, number> };
  /** Share of the MACs at 1 bit ("Ratio of MACs that are binarized"). */
  binarizedRatio: number;
  /** Share of the MACs at 2 bits (DoReFa-Net's "Ratio of MACs that are ternarized"). */
  ternarizedRatio: number;
  ops: number;
  nodes: number;
  layers: LayerCost[];
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Whether Larq counts a parameter: batch norm's γ and β fold into its moving statistics. */
export function larqCounts(node: GraphNode, p: ParamSpec): boolean {
  if (node.op !== 'batchnorm') return true;
  const has = (role: string) => node.params.some((q) => q.role === role);
  if (p.role === 'beta') return !has('moving_mean');
  if (p.role === 'gamma') return !has('moving_variance');
  return true;
}

/** Larq's parameter count of one node (batch norm: its moving statistics). */
export function nodeParamCount(node: GraphNode): number {
  return node.params.reduce((n, p) => (larqCounts(node, p) ? n + size(p.shape) : n), 0);
}

/** A parameter's bit width: its quantizer's precision for a quantized kernel, else 32. */
export function paramBits(node: GraphNode, p: ParamSpec): number {
  if (!p.binary) return 32;
  if ((node.op === 'conv' || node.op === 'dense') && node.attrs.kernelQuantizer) return quantizerBits(node.attrs.kernelQuantizer);
  return 1;
}

/** The bit width of a layer's input as Larq's MAC count sees it: its input quantizer's precision, else 32. */
function inputBits(input: GraphNode): number {
  if (input.precision === 'bin') return 1;
  if (input.op === 'quantize' && !outputsSign(input.attrs.quantizer)) return quantizerBits(input.attrs.quantizer);
  return 32;
}

/** MACs of one node, their precision in bits, and whether they are binary (1-bit). */
export function nodeMacs(node: GraphNode, graph: Graph): { macs: number; bits: number; inputBits: number; binary: boolean } {
  const input = graph.nodes[node.inputs[0]];
  let macs = 0;
  let kernelBits = 32;
  if (node.op === 'conv') {
    const [kh, kw] = node.attrs.kernel;
    macs = kh * kw * (input.shape[0] / node.attrs.groups) * node.attrs.filters * node.shape[1] * node.shape[2];
    if (node.attrs.kernelQuantizer) kernelBits = quantizerBits(node.attrs.kernelQuantizer);
  } else if (node.op === 'dense') {
    macs = input.shape[0] * node.attrs.units;
    if (node.attrs.kernelQuantizer) kernelBits = quantizerBits(node.attrs.kernelQuantizer);
  } else return { macs: 0, bits: 32, inputBits: 32, binary: false };
  const inBits = inputBits(input);
  const bits = Math.max(inBits, kernelBits);
  return { macs, bits, inputBits: inBits, binary: bits === 1 };
}

export function summarize(graph: Graph): Summary {
  const params = { total: 0, trainable: 0, nonTrainable: 0, binary: 0, float: 0 };
  let kerasParams = 0;
  let memoryBits = 0;
  let memory8Bits = 0;
  const byBits: Record<string, number> = {};
  const layers: LayerCost[] = [];
  for (const node of graph.nodes) {
    let count = 0;
    let keras = 0;
    let binaryCount = 0;
    let bits = 0;
    for (const p of node.params) {
      const n = size(p.shape);
      keras += n;
      if (!larqCounts(node, p)) continue;
      const width = paramBits(node, p);
      count += n;
      bits += n * width;
      memory8Bits += n * Math.min(width, 8);
      if (p.trainable) params.trainable += n;
      else params.nonTrainable += n;
      if (width === 1) binaryCount += n;
      else if (width === 32) params.float += n;
    }
    params.total += count;
    params.binary += binaryCount;
    kerasParams += keras;
    memoryBits += bits;
    const cost = nodeMacs(node, graph);
    if (cost.macs) byBits[cost.bits] = (byBits[cost.bits] ?? 0) + cost.macs;
    if (node.op === 'input') continue;
    layers.push({
      name: node.name,
      op: node.op,
      outputShape: node.shape,
      params: count,
      kerasParams: keras,
      binaryParams: binaryCount,
      memoryBytes: bits / 8,
      inputBits: cost.macs ? cost.inputBits : null,
      macs: cost.macs,
      macBits: cost.macs ? cost.bits : null,
      binaryMacs: cost.binary ? cost.macs : 0,
      ...(node.source ? { source: `${node.source.file}:${node.source.line}:${node.source.column}` } : {}),
    });
  }
  const total = Object.values(byBits).reduce((a, b) => a + b, 0);
  const binary = byBits[1] ?? 0;
  const float32Bytes = params.total * 4;
  return {
    name: graph.name,
    input: graph.input,
    classes: graph.classes,
    params,
    kerasParams,
    memoryBytes: memoryBits / 8,
    memory8BitBytes: memory8Bits / 8,
    float32Bytes,
    compressionRatio: float32Bytes ? memoryBits / 8 / float32Bytes : 0,
    macs: { total, binary, float: total - binary, byBits },
    binarizedRatio: binary / Math.max(1, total),
    ternarizedRatio: (byBits[2] ?? 0) / Math.max(1, total),
    ops: binary / 64 + (total - binary),
    nodes: graph.nodes.length,
    layers,
  };
}
