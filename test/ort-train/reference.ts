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
    case 'ste_heaviside':
      return Math.abs(x) <= q.args.clip ? 1 : 0;
    case 'approx_sign':
      return Math.max(0, 2 - 2 * Math.abs(x));
    case 'swish_sign': {
      const b = q.args.beta;
      return (b * (2 - b * x * Math.tanh((b * x) / 2))) / (1 + Math.cosh(b * x));
    }
    case 'dorefa':
      return x >= 0 && x <= 1 ? 1 : 0;
    default:
      throw new Error(`reference: unknown activation quantizer ${q.name}`);
  }
}

/** An activation quantizer's forward value: sign, heaviside, or k-bit levels rounded half to even. */
function activationValue(q: QuantizerRef, x: number): number {
  if (q.name === 'ste_heaviside') return x > 0 ? 1 : 0;
  if (q.name !== 'dorefa') return sign(x);
  const n = 2 ** q.args.k_bit - 1;
  const v = Math.min(1, Math.max(0, x)) * n;
  const floor = Math.floor(v);
  const rounded = v - floor > 0.5 || (v - floor === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  return rounded / n;
}

/**
 * Quantized kernel Q (scale included) and the map from dL/dQ to dL/dW: the straight-through rules of
 * the semantics table (scales held constant, except XNOR-Net's, whose gradient flows through it).
 */
function quantizeKernel(w: Float64Array, shape: number[], outAxis: number, q: QuantizerRef | null): { q: Float64Array; grad: (dq: Float64Array) => Float64Array } {
  if (!q) return { q: w, grad: (dq) => dq };
  const inside = (v: number, clip: number) => (Math.abs(v) <= clip ? 1 : 0);
  const channels = shape[outAxis];
  const inner = size(shape.slice(outAxis + 1));
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const perChannel = w.length / channels;
  const channelMean = (f: (v: number) => number) => {
    const sums = new Float64Array(channels);
    w.forEach((v, i) => (sums[channelOf(i)] += f(v)));
    return sums.map((x) => x / perChannel);
  };
  switch (q.name) {
    case 'ste_sign':
      return { q: w.map(sign), grad: (dq) => dq.map((d, i) => d * inside(w[i], q.args.clip)) };
    case 'magnitude_aware_sign': {
      const scale = channelMean(Math.abs);
      return { q: w.map((v, i) => scale[channelOf(i)] * sign(v)), grad: (dq) => dq.map((d, i) => d * scale[channelOf(i)] * inside(w[i], q.args.clip)) };
    }
    case 'magnitude_aware_sign_unclipped': {
      const scale = w.reduce((acc, v) => acc + Math.abs(v), 0) / w.length;
      return { q: w.map((v) => scale * sign(v)), grad: (dq) => dq.slice() };
    }
    case 'xnor_weight_scale': {
      // Q_i = α_o sign(W_i), α_o = mean_j |clip(W_j, −1, 1)|: dα_o/dW_i = sgn(W_i) 1{|W_i| ≤ 1} / n.
      const alpha = channelMean((v) => Math.min(1, Math.abs(v)));
      return {
        q: w.map((v, i) => alpha[channelOf(i)] * sign(v)),
        grad: (dq) => {
          const dAlpha = new Float64Array(channels);
          dq.forEach((d, i) => (dAlpha[channelOf(i)] += d * sign(w[i])));
          return dq.map((d, i) => inside(w[i], 1) * (alpha[channelOf(i)] * d + (Math.sign(w[i]) * dAlpha[channelOf(i)]) / perChannel));
        },
      };
    }
    default:
      throw new Error(`reference: unknown weight quantizer ${q.name}`);
  }
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
 * calls `tap(xi, k)` for each tap of its window (input channel, then kernel row, then column), xi the
 * input's index, or −1 for a tap in the padding, and k the kernel's.
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
                for (let kj = 0; kj < a.kernel[1]; kj++) {
                  const wi = cell(j, kj, a.stride[1], a.dilation[1], a.pads[1], w);
                  const k = ((o * cinG + c) * a.kernel[0] + ki) * a.kernel[1] + kj;
                  tap(hi < 0 || wi < 0 ? -1 : ((s * cin + g * cinG + c) * h + hi) * w + wi, k);
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
      const padValue = node.attrs.padValue;
      convWindows(node, inShape, n, (o, at, taps) => {
        let acc = bias ? bias[o] : 0;
        // Padded cells hold the pad value.
        taps((xi, k) => (acc += (xi < 0 ? padValue : xin[xi]) * q[k]));
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
      // Without scale / center: γ = 1, β = 0.
      const gamma = env.param(node, 'gamma') ?? new Float64Array(c).fill(1);
      const beta = env.param(node, 'beta') ?? new Float64Array(c);
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
        out[i] = activationValue(node.attrs.quantizer, v);
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
      const others = node.inputs.slice(1).map((id) => env.saved[id].out);
      xin.forEach((v, i) => (out[i] = others.reduce((acc, b) => acc + b[i], v)));
      return { out };
    }
    case 'bias': {
      const b = env.param(node, 'bias')!;
      const c = node.shape[0];
      const inner = node.shape.length === 3 ? node.shape[1] * node.shape[2] : 1;
      xin.forEach((v, i) => (out[i] = v + b[Math.floor(i / inner) % c]));
      return { out };
    }
    case 'sigmoid':
      xin.forEach((v, i) => (out[i] = 1 / (1 + Math.exp(-v))));
      return { out };
    case 'multiply': {
      const f = env.saved[node.inputs[1]].out;
      const at = factorIndex(node.shape, env.shapeOf(node.inputs[1]));
      xin.forEach((v, i) => (out[i] = v * f[at(i)]));
      return { out };
    }
    case 'add_into': {
      const z = env.saved[node.inputs[1]].out;
      out.set(xin);
      forEachInto(node, env.shapeOf(node.inputs[1]), n, (xi, zi) => (out[xi] += z[zi]));
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
      throw new Error(`reference: unknown node kind ${(node as GraphNode).op}`);
  }
}

/** Index into multiply's factor for element i of its output: the same element, or its channel of a vector `[C]`. */
function factorIndex(shape: readonly number[], factorShape: readonly number[]): (i: number) => number {
  if (!(shape.length === 3 && factorShape.length === 1)) return (i) => i;
  // Factor layout [N, C]: element i of [N, C, H, W] belongs to sample·C + channel = ⌊i / (H·W)⌋.
  const [, h, w] = shape;
  return (i) => Math.floor(i / (h * w));
}

/** add_into's pairs: `visit(xi, zi)` for each element zi of z and the element xi of x it is added into. */
function forEachInto(node: NodeOf<'add_into'>, zShape: readonly number[], n: number, visit: (xi: number, zi: number) => void): void {
  const [c0] = node.shape;
  const [c1] = zShape;
  const per = size(zShape.slice(1));
  for (let s = 0; s < n; s++) for (let c = 0; c < c1; c++) for (let k = 0; k < per; k++) visit((s * c0 + node.attrs.offset + c) * per + k, (s * c1 + c) * per + k);
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
      const { q, grad } = quantizeKernel(latent, [inF, units], 1, a.kernelQuantizer);
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
      const params: Record<string, Float64Array> = { kernel: grad(dk) };
      if (a.bias) params.bias = db;
      return { inputs: [g], params };
    }
    case 'batchnorm': {
      const c = node.shape[0];
      const inner = node.shape.length === 3 ? node.shape[1] * node.shape[2] : 1;
      const gamma = env.param(node, 'gamma') ?? new Float64Array(c).fill(1);
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
      // Only the parameters the node has (none without scale / center).
      const params: Record<string, Float64Array> = {};
      if (env.param(node, 'gamma')) params.gamma = dGamma;
      if (env.param(node, 'beta')) params.beta = dBeta;
      return { inputs: [g], params };
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
      return { inputs: node.inputs.map(() => dy.slice()), params: {} };
    case 'bias': {
      const c = node.shape[0];
      const inner = node.shape.length === 3 ? node.shape[1] * node.shape[2] : 1;
      const db = new Float64Array(c);
      dy.forEach((d, i) => (db[Math.floor(i / inner) % c] += d));
      return { inputs: [dy.slice()], params: { bias: db } };
    }
    case 'sigmoid':
      return { inputs: [dy.map((d, i) => d * own.out[i] * (1 - own.out[i]))], params: {} };
    case 'multiply': {
      const fShape = env.shapeOf(node.inputs[1]);
      const f = env.saved[node.inputs[1]].out;
      const at = factorIndex(node.shape, fShape);
      const df = new Float64Array(f.length);
      dy.forEach((d, i) => (df[at(i)] += d * xin[i]));
      return { inputs: [dy.map((d, i) => d * f[at(i)]), df], params: {} };
    }
    case 'add_into': {
      const zShape = env.shapeOf(node.inputs[1]);
      const dz = new Float64Array(n * size(zShape));
      forEachInto(node, zShape, n, (xi, zi) => (dz[zi] = dy[xi]));
      return { inputs: [dy.slice(), dz], params: {} };
    }
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
      throw new Error(`reference: unknown node kind ${(node as GraphNode).op}`);
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
  const { q, grad } = quantizeKernel(env.param(node, 'kernel')!, node.params[0].shape, 0, a.kernelQuantizer);
  const dk = new Float64Array(q.length);
  const g = new Float64Array(xin.length);
  const db = new Float64Array(node.shape[0]);
  convWindows(node, inShape, n, (o, at, taps) => {
    const d = dy[at];
    db[o] += d;
    taps((xi, k) => {
      // A padded cell holds the pad value and has no gradient of its own.
      if (xi < 0) {
        dk[k] += d * a.padValue;
        return;
      }
      dk[k] += d * xin[xi];
      g[xi] += d * q[k];
    });
  });
  const params: Record<string, Float64Array> = { kernel: grad(dk) };
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
