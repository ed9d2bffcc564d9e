/**
 * A deliberately naive interpreter of docs/semantics.md (inference), written with plain loops and no
 * code from the exporter: the independent reference the ONNX tests compare against. Slow; small shapes only.
 */
import type { Graph, GraphNode, WeightMap } from '../../src/graph/types.js';

/** One sample's tensor with its per-sample shape `[C, H, W]` or `[F]`. */
interface T {
  shape: number[];
  data: Float64Array;
}

const sign = (v: number) => (v >= 0 ? 1 : -1);

export function referenceForward(graph: Graph, weights: WeightMap, x: Float32Array, n: number): Float32Array {
  const per = graph.input.reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let s = 0; s < n; s++) {
    const values: T[] = [];
    for (const node of graph.nodes) {
      values[node.id] =
        node.op === 'input'
          ? { shape: [...graph.input], data: Float64Array.from(x.subarray(s * per, (s + 1) * per)) }
          : evalNode(node, node.inputs.map((i) => values[i]), weights);
    }
    out.push(...values[graph.output].data);
  }
  return Float32Array.from(out);
}

function w(weights: WeightMap, node: GraphNode, role: string): Float32Array {
  const p = node.params.find((q) => q.role === role);
  const v = p && weights.get(p.name);
  if (!v) throw new Error(`reference: no ${role} for ${node.name}`);
  return v;
}

function evalNode(node: GraphNode, xs: T[], weights: WeightMap): T {
  const x = xs[0];
  const map = (f: (v: number, i: number) => number): T => ({ shape: [...x.shape], data: x.data.map(f) });
  const hw = x.shape.length === 3 ? x.shape[1] * x.shape[2] : 1;
  switch (node.op) {
    case 'input':
      throw new Error('unreachable');
    case 'conv': {
      const a = node.attrs;
      const [cin, h, wd] = x.shape;
      const [oc, oh, ow] = node.shape;
      const kernel = w(weights, node, 'kernel');
      const binary = a.kernelQuantizer !== null;
      const inPerGroup = cin / a.groups;
      const outPerGroup = oc / a.groups;
      const [kh, kw] = a.kernel;
      const kSize = inPerGroup * kh * kw;
      const data = new Float64Array(oc * oh * ow);
      for (let o = 0; o < oc; o++) {
        let scale = 1;
        if (binary && a.kernelQuantizer!.name === 'magnitude_aware_sign') {
          let s = 0;
          for (let i = 0; i < kSize; i++) s += Math.abs(kernel[o * kSize + i]);
          scale = s / kSize;
        }
        const g = Math.floor(o / outPerGroup);
        for (let oy = 0; oy < oh; oy++)
          for (let ox = 0; ox < ow; ox++) {
            let acc = 0;
            for (let ci = 0; ci < inPerGroup; ci++)
              for (let ky = 0; ky < kh; ky++)
                for (let kx = 0; kx < kw; kx++) {
                  const iy = oy * a.stride[0] - a.pads[0] + ky * a.dilation[0];
                  const ix = ox * a.stride[1] - a.pads[1] + kx * a.dilation[1];
                  if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue; // zero padding
                  const k = kernel[((o * inPerGroup + ci) * kh + ky) * kw + kx];
                  acc += x.data[((g * inPerGroup + ci) * h + iy) * wd + ix] * (binary ? sign(k) : k);
                }
            data[(o * oh + oy) * ow + ox] = acc * scale + (a.bias ? w(weights, node, 'bias')[o] : 0);
          }
      }
      return { shape: [...node.shape], data };
    }
    case 'dense': {
      const a = node.attrs;
      const kernel = w(weights, node, 'kernel');
      const inF = x.shape[0];
      const data = new Float64Array(a.units);
      for (let o = 0; o < a.units; o++) {
        let acc = 0;
        let s = 0;
        for (let i = 0; i < inF; i++) {
          const k = kernel[i * a.units + o];
          acc += x.data[i] * (a.kernelQuantizer ? sign(k) : k);
          s += Math.abs(k);
        }
        const scale = a.kernelQuantizer?.name === 'magnitude_aware_sign' ? s / inF : 1;
        data[o] = acc * scale + (a.bias ? w(weights, node, 'bias')[o] : 0);
      }
      return { shape: [a.units], data };
    }
    case 'batchnorm': {
      const [g, b, m, v] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((r) => w(weights, node, r));
      return map((val, i) => {
        const c = Math.floor(i / hw);
        return (g[c] * (val - m[c])) / Math.sqrt(v[c] + node.attrs.epsilon) + b[c];
      });
    }
    case 'quantize':
      return map(sign);
    case 'relu':
      return map((v) => Math.max(0, v));
    case 'prelu': {
      const alpha = w(weights, node, 'alpha');
      return map((v, i) => (v >= 0 ? v : alpha[Math.floor(i / hw)] * v));
    }
    case 'hardtanh':
      return map((v) => Math.min(node.attrs.max, Math.max(node.attrs.min, v)));
    case 'maxpool':
    case 'avgpool': {
      const a = node.attrs;
      const [c, h, wd] = x.shape;
      const [, oh, ow] = node.shape;
      const data = new Float64Array(c * oh * ow);
      for (let ch = 0; ch < c; ch++)
        for (let oy = 0; oy < oh; oy++)
          for (let ox = 0; ox < ow; ox++) {
            let best = -Infinity;
            let sum = 0;
            let count = 0;
            for (let ky = 0; ky < a.kernel[0]; ky++)
              for (let kx = 0; kx < a.kernel[1]; kx++) {
                const iy = oy * a.stride[0] - a.pads[0] + ky;
                const ix = ox * a.stride[1] - a.pads[1] + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue; // pads never count
                const v = x.data[(ch * h + iy) * wd + ix];
                best = Math.max(best, v);
                sum += v;
                count++;
              }
            data[(ch * oh + oy) * ow + ox] = node.op === 'maxpool' ? best : sum / count;
          }
      return { shape: [...node.shape], data };
    }
    case 'global_avgpool': {
      const c = x.shape[0];
      const data = new Float64Array(c);
      for (let i = 0; i < x.data.length; i++) data[Math.floor(i / hw)] += x.data[i] / hw;
      return { shape: [c], data };
    }
    case 'flatten':
      return { shape: [x.data.length], data: x.data.slice() };
    case 'dropout':
      return map((v) => v);
    case 'add':
      return map((v, i) => v + xs[1].data[i]);
    case 'concat':
      return { shape: [...node.shape], data: Float64Array.from(xs.flatMap((t) => [...t.data])) };
    case 'join': {
      if (node.attrs.mode === 'concat') return { shape: [...node.shape], data: Float64Array.from(xs.flatMap((t) => [...t.data])) };
      const reduce = { mean: (vs: number[]) => vs.reduce((a, b) => a + b) / vs.length, sum: (vs: number[]) => vs.reduce((a, b) => a + b), max: (vs: number[]) => Math.max(...vs) }[node.attrs.mode];
      return map((_, i) => reduce(xs.map((t) => t.data[i])));
    }
  }
}

/** max |a − b| and max |b|, for tolerance checks relative to the output's scale. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}
