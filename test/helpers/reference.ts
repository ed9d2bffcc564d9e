/**
 * An independent, naive forward reference of docs/semantics.md, in inference and in training mode
 * (batch statistics, drop-path and dropout masks): plain loops over NCHW float64 arrays, one sample at a
 * time, written from the formulas with no code from any backend. The ONNX and tfjs suites compare
 * against it; the ORT training suite has its own reference with reverse mode (test/ort-train/reference.ts).
 * Slow; for tiny graphs only.
 */
import type { Graph, GraphNode, NodeOf, QuantizerRef, WeightMap } from '../../src/graph/types.js';
import type { StepNoise } from '../../src/train/engine.js';

/** A batch of values: `n` samples of `shape` (per sample, NCHW or a vector), row-major. */
export interface Values {
  n: number;
  shape: number[];
  data: Float64Array;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
export const refSign = (x: number) => (x >= 0 ? 1 : -1);

/**
 * A kernel quantizer's forward on a weight tensor whose output channel is `axis`, split as the semantics
 * define it: the kernel a binary layer multiplies with (±1 entries, or the float weights when there is no
 * quantizer) and the per-output-channel scale applied to its sums (magnitude_aware_sign and the other
 * scaled quantizers; else null). Scaling after summing keeps sums of ±1 products exact, so ties at 0 stay
 * exactly 0.
 */
export function refQuantizeKernel(w: Float64Array, shape: number[], axis: number, q: QuantizerRef | null): { k: Float64Array; scale: Float64Array | null } {
  if (!q) return { k: w, scale: null };
  const outer = size(shape.slice(0, axis));
  const channels = shape[axis];
  const inner = size(shape.slice(axis + 1));
  const channelMean = (magnitude: (v: number) => number) => {
    const sums = new Float64Array(channels);
    for (let a = 0; a < outer; a++) for (let c = 0; c < channels; c++) for (let b = 0; b < inner; b++) sums[c] += magnitude(w[(a * channels + c) * inner + b]);
    return sums.map((v) => v / (outer * inner));
  };
  switch (q.name) {
    case 'ste_sign':
      return { k: w.map(refSign), scale: null };
    case 'magnitude_aware_sign':
      return { k: w.map(refSign), scale: channelMean(Math.abs) };
    case 'magnitude_aware_sign_unclipped': {
      // One scale for the whole kernel.
      const mean = w.reduce((acc, v) => acc + Math.abs(v), 0) / w.length;
      return { k: w.map(refSign), scale: new Float64Array(channels).fill(mean) };
    }
    case 'xnor_weight_scale':
      return { k: w.map(refSign), scale: channelMean((v) => Math.abs(Math.max(-1, Math.min(1, v)))) };
    default:
      throw new Error(`reference: ${q.name} is not a weight quantizer`);
  }
}

/** Round half to even. */
const roundHalfEven = (v: number) => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** An activation quantizer's forward value (docs/semantics.md). */
export function refActivation(q: QuantizerRef, x: number): number {
  switch (q.name) {
    case 'ste_heaviside':
      return x > 0 ? 1 : 0;
    case 'dorefa': {
      const n = 2 ** q.args.k_bit - 1;
      return roundHalfEven(Math.min(1, Math.max(0, x)) * n) / n;
    }
    default:
      return refSign(x);
  }
}

export interface RefOptions {
  training?: boolean;
  noise?: StepNoise;
}

export interface RefResult {
  output: Values;
  /** Training: each batch norm's batch mean and biased variance. */
  batchStatistics: Map<string, { mean: Float64Array; variance: Float64Array }>;
}

const param = (node: GraphNode, role: string, w: Map<string, Float64Array>) => {
  const spec = node.params.find((p) => p.role === role);
  return spec ? w.get(spec.name)! : null;
};

function conv(node: NodeOf<'conv'>, x: Values, w: Map<string, Float64Array>): Values {
  const a = node.attrs;
  const [cin, h, wd] = x.shape;
  const [cout, oh, ow] = node.shape;
  const kShape = node.params[0].shape;
  const { k, scale } = refQuantizeKernel(param(node, 'kernel', w)!, kShape, 0, a.kernelQuantizer);
  const bias = param(node, 'bias', w);
  const [kh, kw] = a.kernel;
  const cinG = cin / a.groups;
  const coutG = cout / a.groups;
  const out = new Float64Array(x.n * size(node.shape));
  for (let s = 0; s < x.n; s++)
    for (let o = 0; o < cout; o++) {
      const g = Math.floor(o / coutG);
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let acc = 0;
          for (let c = 0; c < cinG; c++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const y = i * a.stride[0] - a.pads[0] + u * a.dilation[0];
                const z = j * a.stride[1] - a.pads[1] + v * a.dilation[1];
                const weight = k[((o * cinG + c) * kh + u) * kw + v];
                // Padded cells hold the pad value (0, or 1 for one-padding).
                if (y < 0 || y >= h || z < 0 || z >= wd) acc += a.padValue * weight;
                else acc += x.data[((s * cin + g * cinG + c) * h + y) * wd + z] * weight;
              }
          out[((s * cout + o) * oh + i) * ow + j] = acc * (scale ? scale[o] : 1) + (bias ? bias[o] : 0);
        }
    }
  return { n: x.n, shape: node.shape, data: out };
}

function dense(node: NodeOf<'dense'>, x: Values, w: Map<string, Float64Array>): Values {
  const [fin, units] = node.params[0].shape;
  const { k, scale } = refQuantizeKernel(param(node, 'kernel', w)!, [fin, units], 1, node.attrs.kernelQuantizer);
  const bias = param(node, 'bias', w);
  const out = new Float64Array(x.n * units);
  for (let s = 0; s < x.n; s++)
    for (let u = 0; u < units; u++) {
      let acc = 0;
      for (let f = 0; f < fin; f++) acc += x.data[s * fin + f] * k[f * units + u];
      out[s * units + u] = acc * (scale ? scale[u] : 1) + (bias ? bias[u] : 0);
    }
  return { n: x.n, shape: node.shape, data: out };
}

/** Per-element channel index for NCHW maps and vectors. */
const channelOf = (shape: number[]) => (i: number) => Math.floor(i / size(shape.slice(1))) % shape[0];

function batchnorm(node: NodeOf<'batchnorm'>, x: Values, w: Map<string, Float64Array>, o: RefOptions, stats: RefResult['batchStatistics']): Values {
  const c = x.shape[0];
  const per = size(x.shape.slice(1));
  let mean = param(node, 'moving_mean', w)!;
  let variance = param(node, 'moving_variance', w)!;
  if (o.training) {
    mean = new Float64Array(c);
    variance = new Float64Array(c);
    const count = x.n * per;
    for (let i = 0; i < x.data.length; i++) mean[Math.floor(i / per) % c] += x.data[i] / count;
    for (let i = 0; i < x.data.length; i++) variance[Math.floor(i / per) % c] += (x.data[i] - mean[Math.floor(i / per) % c]) ** 2 / count;
    stats.set(node.name, { mean, variance });
  }
  // Without scale / center: γ = 1, β = 0.
  const gamma = param(node, 'gamma', w) ?? new Float64Array(c).fill(1);
  const beta = param(node, 'beta', w) ?? new Float64Array(c);
  const ch = channelOf(x.shape);
  return { ...x, data: x.data.map((v, i) => (gamma[ch(i)] * (v - mean[ch(i)])) / Math.sqrt(variance[ch(i)] + node.attrs.epsilon) + beta[ch(i)]) };
}

function pool(node: NodeOf<'maxpool'> | NodeOf<'avgpool'>, x: Values): Values {
  const a = node.attrs;
  const [c, h, wd] = x.shape;
  const [, oh, ow] = node.shape;
  const out = new Float64Array(x.n * size(node.shape));
  for (let s = 0; s < x.n; s++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let best = -Infinity;
          let sum = 0;
          let count = 0;
          for (let u = 0; u < a.kernel[0]; u++)
            for (let v = 0; v < a.kernel[1]; v++) {
              const y = i * a.stride[0] - a.pads[0] + u;
              const z = j * a.stride[1] - a.pads[1] + v;
              if (y < 0 || y >= h || z < 0 || z >= wd) continue; // padding: never a max, never counted
              const value = x.data[((s * c + ch) * h + y) * wd + z];
              best = Math.max(best, value);
              sum += value;
              count++;
            }
          out[((s * c + ch) * oh + i) * ow + j] = node.op === 'maxpool' ? best : sum / count;
        }
  return { n: x.n, shape: node.shape, data: out };
}

function concatValues(xs: Values[], shape: number[]): Values {
  const per = xs.map((v) => size(v.shape));
  const total = size(shape);
  const out = new Float64Array(xs[0].n * total);
  for (let s = 0; s < xs[0].n; s++) {
    let offset = 0;
    xs.forEach((v, k) => {
      out.set(v.data.subarray(s * per[k], (s + 1) * per[k]), s * total + offset);
      offset += per[k];
    });
  }
  return { n: xs[0].n, shape, data: out };
}

function join(node: NodeOf<'join'>, xs: Values[], mask: ArrayLike<number> | undefined): Values {
  const m = Array.from({ length: xs.length }, (_, i) => (mask ? mask[i] : 1));
  if (node.attrs.mode === 'concat') return concatValues(xs.map((v, i) => ({ ...v, data: v.data.map((e) => e * m[i]) })), node.shape);
  const kept = xs.filter((_, i) => m[i] !== 0);
  const data = new Float64Array(xs[0].data.length);
  for (let e = 0; e < data.length; e++) {
    const values = kept.map((v) => v.data[e]);
    data[e] =
      node.attrs.mode === 'max' ? Math.max(...values) : node.attrs.mode === 'sum' ? values.reduce((a, b) => a + b, 0) : values.reduce((a, b) => a + b, 0) / values.length;
  }
  return { n: xs[0].n, shape: node.shape, data };
}

/** Runs the graph on `n` NCHW samples; weights are converted to float64 once. */
export function referenceForward(graph: Graph, weights: WeightMap | Map<string, Float64Array>, x: ArrayLike<number>, n: number, o: RefOptions = {}): RefResult {
  const w = new Map<string, Float64Array>();
  for (const [k, v] of weights) w.set(k, Float64Array.from(v));
  const values: Values[] = [];
  const batchStatistics: RefResult['batchStatistics'] = new Map();
  for (const node of graph.nodes) {
    const ins = node.inputs.map((id) => values[id]);
    const x0 = ins[0];
    let out: Values;
    switch (node.op) {
      case 'input':
        out = { n, shape: graph.input, data: Float64Array.from(x) };
        break;
      case 'conv':
        out = conv(node, x0, w);
        break;
      case 'dense':
        out = dense(node, x0, w);
        break;
      case 'batchnorm':
        out = batchnorm(node, x0, w, o, batchStatistics);
        break;
      case 'quantize':
        out = { ...x0, data: x0.data.map((v) => refActivation(node.attrs.quantizer, v)) };
        break;
      case 'relu':
        out = { ...x0, data: x0.data.map((v) => Math.max(0, v)) };
        break;
      case 'prelu': {
        const alpha = param(node, 'alpha', w)!;
        const ch = channelOf(x0.shape);
        out = { ...x0, data: x0.data.map((v, i) => (v >= 0 ? v : alpha[ch(i)] * v)) };
        break;
      }
      case 'hardtanh':
        out = { ...x0, data: x0.data.map((v) => Math.min(node.attrs.max, Math.max(node.attrs.min, v))) };
        break;
      case 'maxpool':
      case 'avgpool':
        out = pool(node, x0);
        break;
      case 'global_avgpool': {
        const [c, h, wd] = x0.shape;
        const data = new Float64Array(n * c);
        x0.data.forEach((v, i) => (data[Math.floor(i / (h * wd))] += v / (h * wd)));
        out = { n, shape: [c], data };
        break;
      }
      case 'flatten':
        out = { ...x0, shape: node.shape };
        break;
      case 'dropout': {
        const mask = o.training ? o.noise?.dropoutMasks.get(node.name) : undefined;
        out = mask ? { ...x0, data: x0.data.map((v, i) => v * mask[i]) } : x0;
        break;
      }
      case 'add':
        out = { ...x0, data: x0.data.map((v, i) => ins.slice(1).reduce((acc, t) => acc + t.data[i], v)) };
        break;
      case 'bias': {
        const b = param(node, 'bias', w)!;
        const ch = channelOf(x0.shape);
        out = { ...x0, data: x0.data.map((v, i) => v + b[ch(i)]) };
        break;
      }
      case 'sigmoid':
        out = { ...x0, data: x0.data.map((v) => 1 / (1 + Math.exp(-v))) };
        break;
      case 'multiply': {
        const f = ins[1];
        // A vector factor [C] scales whole channels of a map; otherwise element by element.
        const perChannel = x0.shape.length === 3 && f.shape.length === 1;
        const per = size(x0.shape.slice(1));
        const c = x0.shape[0];
        out = { ...x0, data: x0.data.map((v, i) => v * (perChannel ? f.data[Math.floor(i / (c * per)) * c + (Math.floor(i / per) % c)] : f.data[i])) };
        break;
      }
      case 'add_into': {
        const z = ins[1];
        const [c0] = x0.shape;
        const c1 = z.shape[0];
        const per = size(x0.shape.slice(1));
        const data = Float64Array.from(x0.data);
        for (let s = 0; s < n; s++)
          for (let c = 0; c < c1; c++)
            for (let k = 0; k < per; k++) data[(s * c0 + node.attrs.offset + c) * per + k] += z.data[(s * c1 + c) * per + k];
        out = { ...x0, data };
        break;
      }
      case 'concat':
        out = concatValues(ins, node.shape);
        break;
      case 'join':
        out = join(node, ins, o.training ? o.noise?.joinMasks.get(node.name) : undefined);
        break;
      default:
        throw new Error(`reference: unknown node kind ${(node as GraphNode).op}`);
    }
    values[node.id] = out;
  }
  return { output: values[graph.output], batchStatistics };
}

/** Inference-mode outputs `[n, classes]` rounded to float32, for comparison with a backend's. */
export function referenceOutputs(graph: Graph, weights: WeightMap, x: ArrayLike<number>, n: number): Float32Array {
  return Float32Array.from(referenceForward(graph, weights, x, n).output.data);
}

/** max |a − b| and max |b|, for tolerance checks relative to the output's scale. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}

/** Mean softmax cross-entropy of `[n, classes]` logits, in float64. */
export function referenceLoss(logits: Values, labels: ArrayLike<number>): number {
  const k = logits.shape[0];
  let total = 0;
  for (let s = 0; s < logits.n; s++) {
    const row = logits.data.subarray(s * k, (s + 1) * k);
    const max = Math.max(...row);
    const logSum = Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) + max;
    total += logSum - row[labels[s]];
  }
  return total / logits.n;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
