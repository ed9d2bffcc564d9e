/**
 * An independent float64 reference of docs/semantics.md for the ORT training tests: training-mode
 * forward, mean softmax cross-entropy, and hand-written reverse mode for every node kind, as plain loops
 * over NCHW arrays, sample by sample. It shares no code with backends/ort-train (whose gradients are
 * ONNX graphs); its float parts are themselves checked against central finite differences in the tests.
 * Slow: tiny graphs only.
 */
import type { Graph, GraphNode, NodeOf, QuantizerRef, WeightMap } from '../../src/graph/types.js';
import type { StepNoise } from '../../src/train/engine.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const sign = (x: number) => (x >= 0 ? 1 : -1);

type Weights64 = Map<string, Float64Array>;

export function toFloat64(weights: WeightMap): Weights64 {
  return new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
}

/** The gradient each activation quantizer passes through, per the semantics table. */
export function activationSlope(q: QuantizerRef, x: number): number {
  switch (q.name) {
    case 'ste_sign':
      return Math.abs(x) <= q.args.clip ? 1 : 0;
    case 'approx_sign':
      return Math.max(0, 2 - 2 * Math.abs(x));
    case 'swish_sign': {
      const b = q.args.beta;
      return (b * (2 - b * x * Math.tanh((b * x) / 2))) / (1 + Math.cosh(b * x));
    }
    default:
      throw new Error(`reference: unknown activation quantizer ${q.name}`);
  }
}

/** Quantized kernel and, per entry, dQ→dW factor (the straight-through rule with s held constant). */
function quantizeKernel(w: Float64Array, shape: number[], outAxis: number, q: QuantizerRef | null): { q: Float64Array; slope: Float64Array } {
  if (!q) return { q: w, slope: new Float64Array(w.length).fill(1) };
  const clip = q.args.clip;
  const inside = (v: number) => (Math.abs(v) <= clip ? 1 : 0);
  if (q.name === 'ste_sign') return { q: w.map(sign), slope: w.map(inside) };
  if (q.name !== 'magnitude_aware_sign') throw new Error(`reference: unknown weight quantizer ${q.name}`);
  const channels = shape[outAxis];
  const inner = size(shape.slice(outAxis + 1));
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const sums = new Float64Array(channels);
  w.forEach((v, i) => (sums[channelOf(i)] += Math.abs(v)));
  const scale = sums.map((s) => s / (w.length / channels));
  return { q: w.map((v, i) => scale[channelOf(i)] * sign(v)), slope: w.map((v, i) => scale[channelOf(i)] * inside(v)) };
}

/** Per node: what its backward needs, saved by the forward. */
interface Saved {
  out: Float64Array;
  aux?: Record<string, Float64Array | Int32Array | number>;
}

export interface RefPass {
  loss: number;
  /** Every discrete choice the forward made (signs, ReLU sides, pooling winners): equal signatures mean the same piece of a piecewise function. */
  signature: number[];
  /** dL/dparam of every trainable parameter (only with `gradients: true`). */
  grads: Map<string, Float64Array>;
  /** Batch norm statistics by node name. */
  batchStats: Map<string, { mean: Float64Array; variance: Float64Array }>;
  logits: Float64Array;
}

export function referencePass(
  graph: Graph,
  weights: Weights64,
  x: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  noise: StepNoise,
  o: { gradients?: boolean } = {},
): RefPass {
  const nodes = graph.nodes;
  const saved: Saved[] = new Array(nodes.length);
  const signature: number[] = [];
  const batchStats = new Map<string, { mean: Float64Array; variance: Float64Array }>();
  const shapeOf = (id: number) => (nodes[id].op === 'input' ? graph.input : nodes[id].shape);
  const param = (node: GraphNode, role: string) => {
    const p = node.params.find((q) => q.role === role);
    return p ? weights.get(p.name)! : null;
  };

  for (const node of nodes) {
    const inShape = node.inputs.length ? shapeOf(node.inputs[0]) : graph.input;
    const xin = node.inputs.length ? saved[node.inputs[0]].out : null;
    saved[node.id] = forwardNode(node, xin!, inShape, n, { param, x, saved, noise, signature, batchStats, shapeOf });
  }

  // Loss: mean softmax cross-entropy.
  const classes = graph.classes;
  const logits = saved[graph.output].out;
  let loss = 0;
  const dLogits = new Float64Array(n * classes);
  for (let s = 0; s < n; s++) {
    const row = logits.subarray(s * classes, (s + 1) * classes);
    const max = Math.max(...row);
    const z = row.reduce((acc, v) => acc + Math.exp(v - max), 0);
    for (let k = 0; k < classes; k++) {
      const p = Math.exp(row[k] - max) / z;
      dLogits[s * classes + k] = (p - (k === labels[s] ? 1 : 0)) / n;
    }
    loss -= row[labels[s]] - max - Math.log(z);
  }
  loss /= n;

  const grads = new Map<string, Float64Array>();
  if (o.gradients) {
    const dOut: (Float64Array | undefined)[] = new Array(nodes.length);
    dOut[graph.output] = dLogits;
    const accumulate = (id: number, g: Float64Array) => {
      const cur = dOut[id];
      if (!cur) dOut[id] = g.slice();
      else for (let i = 0; i < g.length; i++) cur[i] += g[i];
    };
    for (let id = nodes.length - 1; id >= 0; id--) {
      const node = nodes[id];
      const dy = dOut[id];
      if (!dy || node.op === 'input') continue;
      const result = backwardNode(node, dy, n, { param, saved, noise, shapeOf });
      result.inputs.forEach((g, i) => g && accumulate(node.inputs[i], g));
      for (const [role, g] of Object.entries(result.params)) {
        const p = node.params.find((q) => q.role === role)!;
        if (p.trainable) grads.set(p.name, g);
      }
    }
    for (const node of nodes) for (const p of node.params) if (p.trainable && !grads.has(p.name)) grads.set(p.name, new Float64Array(size(p.shape)));
  }
  return { loss, signature, grads, batchStats, logits };
}

interface ForwardEnv {
  param: (node: GraphNode, role: string) => Float64Array | null;
  x: ArrayLike<number>;
  saved: Saved[];
  noise: StepNoise;
  signature: number[];
  batchStats: Map<string, { mean: Float64Array; variance: Float64Array }>;
  shapeOf: (id: number) => readonly number[];
}

/** Window geometry shared by conv and pooling: input cell of output (i, j) and tap (ki, kj), or −1 for padding. */
function cell(i: number, ki: number, stride: number, dilation: number, pad: number, extent: number): number {
  const v = i * stride - pad + ki * dilation;
  return v >= 0 && v < extent ? v : -1;
}

/**
 * The windows of a conv over a batch of n NCHW inputs of shape `inShape`: `output(o, at, taps)` for each
 * output (sample, channel o, row, column), in that order, with `at` its index in the output; `taps(tap)`
 * calls `tap(xi, k)` for each tap of its window that lies inside the input (input channel, then kernel
 * row, then column), xi the input's index and k the kernel's.
 */
function convWindows(
  node: NodeOf<'conv'>,
  inShape: readonly number[],
  n: number,
  output: (o: number, at: number, taps: (tap: (xi: number, k: number) => void) => void) => void,
): void {
  const a = node.attrs;
  const [cin, h, w] = inShape;
  const [cout, oh, ow] = node.shape;
  const cinG = cin / a.groups;
  const coutG = cout / a.groups;
  for (let s = 0; s < n; s++)
    for (let o = 0; o < cout; o++) {
      const g = Math.floor(o / coutG);
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++)
          output(o, ((s * cout + o) * oh + i) * ow + j, (tap) => {
            for (let c = 0; c < cinG; c++)
              for (let ki = 0; ki < a.kernel[0]; ki++) {
                const hi = cell(i, ki, a.stride[0], a.dilation[0], a.pads[0], h);
                if (hi < 0) continue;
                for (let kj = 0; kj < a.kernel[1]; kj++) {
                  const wi = cell(j, kj, a.stride[1], a.dilation[1], a.pads[1], w);
                  if (wi < 0) continue;
                  tap(((s * cin + g * cinG + c) * h + hi) * w + wi, ((o * cinG + c) * a.kernel[0] + ki) * a.kernel[1] + kj);
                }
              }
          });
    }
}

/**
 * The windows of a max or average pool over a batch of n NCHW inputs of shape `inShape`: `output(o, cells)`
 * for each output (sample, channel, row, column), in that order, with `o` its index in the output and
 * `cells` the indices of the inputs its window covers (those inside the input, row by row).
 */
function poolWindows(node: NodeOf<'maxpool'> | NodeOf<'avgpool'>, inShape: readonly number[], n: number, output: (o: number, cells: number[]) => void): void {
  const a = node.attrs;
  const [c, h, w] = inShape;
  const [, oh, ow] = node.shape;
  for (let s = 0; s < n; s++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          const cells: number[] = [];
          for (let ki = 0; ki < a.kernel[0]; ki++) {
            const hi = cell(i, ki, a.stride[0], 1, a.pads[0], h);
            if (hi < 0) continue;
            for (let kj = 0; kj < a.kernel[1]; kj++) {
              const wi = cell(j, kj, a.stride[1], 1, a.pads[1], w);
              if (wi >= 0) cells.push(((s * c + ch) * h + hi) * w + wi);
            }
          }
          output(((s * c + ch) * oh + i) * ow + j, cells);
        }
}

function forwardNode(node: GraphNode, xin: Float64Array, inShape: readonly number[], n: number, env: ForwardEnv): Saved {
  const outSize = size(node.shape);
  const out = new Float64Array(n * outSize);
  switch (node.op) {
    case 'input':
      return { out: Float64Array.from(env.x as ArrayLike<number>).subarray(0, n * size(inShape)) };
    case 'conv': {
      const { q } = quantizeKernel(env.param(node, 'kernel')!, node.params[0].shape, 0, node.attrs.kernelQuantizer);
      const bias = env.param(node, 'bias');
      convWindows(node, inShape, n, (o, at, taps) => {
        let acc = bias ? bias[o] : 0;
        taps((xi, k) => (acc += xin[xi] * q[k]));
        out[at] = acc;
      });
      return { out };
    }
    case 'dense': {
      const a = node.attrs;
      const [inF] = inShape;
      const units = a.units;
      const { q } = quantizeKernel(env.param(node, 'kernel')!, [inF, units], 1, a.kernelQuantizer);
      const bias = env.param(node, 'bias');
      for (let s = 0; s < n; s++)
        for (let u = 0; u < units; u++) {
          let acc = bias ? bias[u] : 0;
          for (let i = 0; i < inF; i++) acc += xin[s * inF + i] * q[i * units + u];
          out[s * units + u] = acc;
        }
      return { out };
    }
    case 'batchnorm': {
      const c = node.shape[0];
      const inner = node.shape.length === 3 ? node.shape[1] * node.shape[2] : 1;
      const gamma = env.param(node, 'gamma')!;
      const beta = env.param(node, 'beta')!;
      const mean = new Float64Array(c);
      const variance = new Float64Array(c);
      const m = n * inner;
      const at = (s: number, ch: number, k: number) => (s * c + ch) * inner + k;
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (let s = 0; s < n; s++) for (let k = 0; k < inner; k++) sum += xin[at(s, ch, k)];
        mean[ch] = sum / m;
        let sq = 0;
        for (let s = 0; s < n; s++) for (let k = 0; k < inner; k++) sq += (xin[at(s, ch, k)] - mean[ch]) ** 2;
        variance[ch] = sq / m;
      }
      const xhat = new Float64Array(out.length);
      const invStd = variance.map((v) => 1 / Math.sqrt(v + node.attrs.epsilon));
      for (let s = 0; s < n; s++)
        for (let ch = 0; ch < c; ch++)
          for (let k = 0; k < inner; k++) {
            const i = at(s, ch, k);
            xhat[i] = (xin[i] - mean[ch]) * invStd[ch];
            out[i] = gamma[ch] * xhat[i] + beta[ch];
          }
      env.batchStats.set(node.name, { mean, variance });
      return { out, aux: { xhat, invStd } };
    }
    case 'quantize':
      xin.forEach((v, i) => {
        out[i] = sign(v);
        env.signature.push(out[i]);
      });
      return { out };
    case 'relu':
      xin.forEach((v, i) => {
        out[i] = Math.max(0, v);
        env.signature.push(v > 0 ? 1 : 0);
      });
      return { out };
    case 'prelu': {
      const alpha = env.param(node, 'alpha')!;
      const inner = node.shape.length === 3 ? node.shape[1] * node.shape[2] : 1;
      const c = node.shape[0];
      xin.forEach((v, i) => {
        out[i] = v >= 0 ? v : alpha[Math.floor(i / inner) % c] * v;
        env.signature.push(v >= 0 ? 1 : 0);
      });
      return { out };
    }
    case 'hardtanh': {
      const { min, max } = node.attrs;
      xin.forEach((v, i) => {
        out[i] = Math.min(max, Math.max(min, v));
        env.signature.push(v < min ? -1 : v > max ? 1 : 0);
      });
      return { out };
    }
    case 'maxpool': {
      const winner = new Int32Array(out.length);
      poolWindows(node, inShape, n, (o, cells) => {
        let best = -Infinity;
        let at = -1;
        for (const idx of cells) {
          // Strictly greater: the first maximum in row-major order wins ties.
          if (xin[idx] > best) {
            best = xin[idx];
            at = idx;
          }
        }
        out[o] = best;
        winner[o] = at;
        env.signature.push(at);
      });
      return { out, aux: { winner } };
    }
    case 'avgpool': {
      poolWindows(node, inShape, n, (o, cells) => {
        let sum = 0;
        for (const idx of cells) sum += xin[idx];
        out[o] = sum / cells.length;
      });
      return { out };
    }
    case 'global_avgpool': {
      const [c, h, w] = inShape;
      for (let s = 0; s < n; s++)
        for (let ch = 0; ch < c; ch++) {
          let sum = 0;
          for (let k = 0; k < h * w; k++) sum += xin[(s * c + ch) * h * w + k];
          out[s * c + ch] = sum / (h * w);
        }
      return { out };
    }
    case 'flatten':
      out.set(xin);
      return { out };
    case 'dropout': {
      const mask = env.noise.dropoutMasks.get(node.name);
      xin.forEach((v, i) => (out[i] = mask ? v * mask[i] : v));
      return { out };
    }
    case 'add': {
      const b = env.saved[node.inputs[1]].out;
      xin.forEach((v, i) => (out[i] = v + b[i]));
      return { out };
    }
    case 'concat':
      return { out: concatChannels(node.inputs.map((id) => env.saved[id].out), node.inputs.map((id) => env.shapeOf(id)), n, node.inputs.map(() => 1)) };
    case 'join': {
      const xs = node.inputs.map((id) => env.saved[id].out);
      const mask = env.noise.joinMasks.get(node.name) ?? new Float32Array(xs.length).fill(1);
      const kept = xs.map((_, i) => i).filter((i) => mask[i] !== 0);
      const mode = node.attrs.mode;
      if (mode === 'concat') return { out: concatChannels(xs, node.inputs.map((id) => env.shapeOf(id)), n, Array.from(mask)) };
      const winner = new Int32Array(out.length);
      for (let e = 0; e < out.length; e++) {
        if (mode === 'max') {
          let best = -Infinity;
          for (const i of kept) if (xs[i][e] > best) [best, winner[e]] = [xs[i][e], i];
          out[e] = best;
          env.signature.push(winner[e]);
        } else {
          let sum = 0;
          for (const i of kept) sum += xs[i][e];
          out[e] = mode === 'mean' ? sum / kept.length : sum;
        }
      }
      return { out, aux: { winner, kept: kept.length } };
    }
    default:
      throw new Error(`reference: ${node.op} is not implemented yet (issue 20)`);
  }
}

function concatChannels(xs: Float64Array[], shapes: readonly (readonly number[])[], n: number, scale: number[]): Float64Array {
  const per = shapes.map(size);
  const total = per.reduce((a, b) => a + b, 0);
  const out = new Float64Array(n * total);
  for (let s = 0; s < n; s++) {
    let offset = s * total;
    xs.forEach((x, i) => {
      for (let k = 0; k < per[i]; k++) out[offset + k] = x[s * per[i] + k] * scale[i];
      offset += per[i];
    });
  }
  return out;
}

interface BackwardEnv {
  param: (node: GraphNode, role: string) => Float64Array | null;
  saved: Saved[];
  noise: StepNoise;
  shapeOf: (id: number) => readonly number[];
}

function backwardNode(node: GraphNode, dy: Float64Array, n: number, env: BackwardEnv): { inputs: (Float64Array | null)[]; params: Record<string, Float64Array> } {
  const inShape = env.shapeOf(node.inputs[0]);
  const xin = env.saved[node.inputs[0]].out;
  const own = env.saved[node.id];
  const dx = () => new Float64Array(xin.length);
  switch (node.op) {
    case 'input':
      return { inputs: [], params: {} };
    case 'conv':
      return convBackward(node, dy, n, xin, inShape, env);
    case 'dense': {
      const a = node.attrs;
      const [inF] = inShape;
      const units = a.units;
      const latent = env.param(node, 'kernel')!;
      const { q, slope } = quantizeKernel(latent, [inF, units], 1, a.kernelQuantizer);
      const dk = new Float64Array(q.length);
      const g = dx();
      const db = new Float64Array(units);
      for (let s = 0; s < n; s++)
        for (let u = 0; u < units; u++) {
          const d = dy[s * units + u];
          db[u] += d;
          for (let i = 0; i < inF; i++) {
            dk[i * units + u] += xin[s * inF + i] * d;
            g[s * inF + i] += q[i * units + u] * d;
          }
        }
      const params: Record<string, Float64Array> = { kernel: dk.map((v, i) => v * slope[i]) };
      if (a.bias) params.bias = db;
      return { inputs: [g], params };
    }
    case 'batchnorm': {
      const c = node.shape[0];
      const inner = node.shape.length === 3 ? node.shape[1] * node.shape[2] : 1;
      const gamma = env.param(node, 'gamma')!;
      const xhat = own.aux!.xhat as Float64Array;
      const invStd = own.aux!.invStd as Float64Array;
      const m = n * inner;
      const dGamma = new Float64Array(c);
      const dBeta = new Float64Array(c);
      const at = (s: number, ch: number, k: number) => (s * c + ch) * inner + k;
      for (let s = 0; s < n; s++)
        for (let ch = 0; ch < c; ch++)
          for (let k = 0; k < inner; k++) {
            dGamma[ch] += dy[at(s, ch, k)] * xhat[at(s, ch, k)];
            dBeta[ch] += dy[at(s, ch, k)];
          }
      // The textbook form: dx = γ/(mσ) · (m·dy − Σdy − x̂·Σ(dy·x̂)).
      const g = dx();
      for (let s = 0; s < n; s++)
        for (let ch = 0; ch < c; ch++)
          for (let k = 0; k < inner; k++) {
            const i = at(s, ch, k);
            g[i] = ((gamma[ch] * invStd[ch]) / m) * (m * dy[i] - dBeta[ch] - xhat[i] * dGamma[ch]);
          }
      return { inputs: [g], params: { gamma: dGamma, beta: dBeta } };
    }
    case 'quantize':
      return { inputs: [dy.map((d, i) => d * activationSlope(node.attrs.quantizer, xin[i]))], params: {} };
    case 'relu':
      return { inputs: [dy.map((d, i) => (xin[i] > 0 ? d : 0))], params: {} };
    case 'prelu': {
      const alpha = env.param(node, 'alpha')!;
      const c = node.shape[0];
      const inner = node.shape.length === 3 ? node.shape[1] * node.shape[2] : 1;
      const dAlpha = new Float64Array(c);
      const g = dy.map((d, i) => {
        const ch = Math.floor(i / inner) % c;
        if (xin[i] >= 0) return d;
        dAlpha[ch] += d * xin[i];
        return d * alpha[ch];
      });
      return { inputs: [g], params: { alpha: dAlpha } };
    }
    case 'hardtanh': {
      const { min, max } = node.attrs;
      return { inputs: [dy.map((d, i) => (xin[i] >= min && xin[i] <= max ? d : 0))], params: {} };
    }
    case 'maxpool': {
      const winner = own.aux!.winner as Int32Array;
      const g = dx();
      dy.forEach((d, o) => (g[winner[o]] += d));
      return { inputs: [g], params: {} };
    }
    case 'avgpool': {
      const g = dx();
      poolWindows(node, inShape, n, (o, cells) => {
        const d = dy[o] / cells.length;
        for (const k of cells) g[k] += d;
      });
      return { inputs: [g], params: {} };
    }
    case 'global_avgpool': {
      const [, h, w] = inShape;
      return { inputs: [xin.map((_, i) => dy[Math.floor(i / (h * w))] / (h * w))], params: {} };
    }
    case 'flatten':
      return { inputs: [dy.slice()], params: {} };
    case 'dropout': {
      const mask = env.noise.dropoutMasks.get(node.name);
      return { inputs: [dy.map((d, i) => (mask ? d * mask[i] : d))], params: {} };
    }
    case 'add':
      return { inputs: [dy.slice(), dy.slice()], params: {} };
    case 'concat':
      return { inputs: splitChannels(dy, node.inputs.map((id) => env.shapeOf(id)), n, node.inputs.map(() => 1)), params: {} };
    case 'join': {
      const k = node.inputs.length;
      const mask = env.noise.joinMasks.get(node.name) ?? new Float32Array(k).fill(1);
      const shapes = node.inputs.map((id) => env.shapeOf(id));
      switch (node.attrs.mode) {
        case 'concat':
          return { inputs: splitChannels(dy, shapes, n, Array.from(mask)), params: {} };
        case 'max': {
          const winner = own.aux!.winner as Int32Array;
          return { inputs: node.inputs.map((_, i) => dy.map((d, e) => (winner[e] === i ? d : 0))), params: {} };
        }
        default: {
          const kept = own.aux!.kept as number;
          const factor = (i: number) => (mask[i] === 0 ? 0 : node.attrs.mode === 'mean' ? 1 / kept : 1);
          return { inputs: node.inputs.map((_, i) => dy.map((d) => d * factor(i))), params: {} };
        }
      }
    }
    default:
      throw new Error(`reference: ${node.op} is not implemented yet (issue 20)`);
  }
}

function splitChannels(dy: Float64Array, shapes: readonly (readonly number[])[], n: number, scale: number[]): Float64Array[] {
  const per = shapes.map(size);
  const total = per.reduce((a, b) => a + b, 0);
  const parts = per.map((p) => new Float64Array(n * p));
  for (let s = 0; s < n; s++) {
    let offset = s * total;
    parts.forEach((part, i) => {
      for (let k = 0; k < per[i]; k++) part[s * per[i] + k] = dy[offset + k] * scale[i];
      offset += per[i];
    });
  }
  return parts;
}

function convBackward(node: NodeOf<'conv'>, dy: Float64Array, n: number, xin: Float64Array, inShape: readonly number[], env: BackwardEnv) {
  const a = node.attrs;
  const { q, slope } = quantizeKernel(env.param(node, 'kernel')!, node.params[0].shape, 0, a.kernelQuantizer);
  const dk = new Float64Array(q.length);
  const g = new Float64Array(xin.length);
  const db = new Float64Array(node.shape[0]);
  convWindows(node, inShape, n, (o, at, taps) => {
    const d = dy[at];
    db[o] += d;
    taps((xi, k) => {
      dk[k] += d * xin[xi];
      g[xi] += d * q[k];
    });
  });
  const params: Record<string, Float64Array> = { kernel: dk.map((v, i) => v * slope[i]) };
  if (a.bias) params.bias = db;
  return { inputs: [g], params };
}

/** Parameters whose loss is smooth in them (no quantizer downstream, not a binary kernel): finite differences apply. */
export function smoothParams(graph: Graph): Set<string> {
  const nodes = graph.nodes;
  // A node "reaches a quantizer" if a quantize node lies on some path from it to the output.
  const reaches = new Array<boolean>(nodes.length).fill(false);
  for (let id = nodes.length - 1; id >= 0; id--) {
    if (nodes[id].op === 'quantize') reaches[id] = true;
  }
  const consumers = nodes.map(() => [] as number[]);
  for (const node of nodes) for (const i of node.inputs) consumers[i].push(node.id);
  for (let id = nodes.length - 1; id >= 0; id--) if (consumers[id].some((c) => reaches[c])) reaches[id] = true;
  const out = new Set<string>();
  for (const node of nodes) {
    if (reaches[node.id]) continue;
    for (const p of node.params) if (p.trainable && !p.binary) out.add(p.name);
  }
  return out;
}
