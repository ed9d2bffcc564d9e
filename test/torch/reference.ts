/**
 * A float64 inference reference for the constructs of issue 20, written from docs/semantics.md: the new
 * node kinds (bias, sigmoid, multiply, add_into, n-ary add), conv pad values, the new quantizers and
 * batch norm without scale or centre. Every other node (and every conv once its input is padded and
 * its kernel quantized) is handed to the shared naive reference (test/helpers/reference.ts) as a
 * one-node graph, so the two references share no formula and neither shares code with a backend.
 */
import type { Graph, GraphNode, NodeOf, QuantizerRef, WeightMap } from '../../src/graph/types.js';
import { refActivation, refSign, referenceForward, type Values } from '../helpers/reference.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
/** The channel of element i of a sample-major NCHW map or vector batch. */
const channelOf = (shape: readonly number[]) => (i: number) => Math.floor(i / size(shape.slice(1))) % shape[0];


/** A weight quantizer's forward on a kernel whose output channel is `axis`: the scaled ±1 kernel. */
export function refWeights(q: QuantizerRef, w: Float64Array, shape: number[], axis: number): Float64Array {
  const outer = size(shape.slice(0, axis));
  const channels = shape[axis];
  const inner = size(shape.slice(axis + 1));
  const channel = (i: number) => Math.floor(i / inner) % channels;
  const meanAbs = (values: Float64Array, perChannel: boolean) => {
    const sums = new Float64Array(perChannel ? channels : 1);
    values.forEach((v, i) => (sums[perChannel ? channel(i) : 0] += Math.abs(v)));
    return sums.map((s) => s / (perChannel ? outer * inner : values.length));
  };
  switch (q.name) {
    case 'magnitude_aware_sign': {
      const s = meanAbs(w, true);
      return w.map((v, i) => s[channel(i)] * refSign(v));
    }
    case 'magnitude_aware_sign_unclipped': {
      const [s] = meanAbs(w, false);
      return w.map((v) => s * refSign(v));
    }
    case 'xnor_weight_scale': {
      const s = meanAbs(w.map((v) => Math.min(1, Math.max(-1, v))), true);
      return w.map((v, i) => s[channel(i)] * refSign(v));
    }
    default:
      return w.map(refSign);
  }
}

/** Inference-mode logits `[n, classes]` of the graph in float64. */
export function constructReference(graph: Graph, weights: WeightMap, x: ArrayLike<number>, n: number): Float64Array {
  const w = (name: string) => Float64Array.from(weights.get(name)!);
  const values: Values[] = [];
  for (const node of graph.nodes) {
    const ins = node.inputs.map((id) => values[id]);
    values[node.id] = evaluate(node, ins, w, graph, x, n);
  }
  return values[graph.output].data;
}

function evaluate(node: GraphNode, ins: Values[], w: (name: string) => Float64Array, graph: Graph, x: ArrayLike<number>, n: number): Values {
  const [x0] = ins;
  const map = (f: (v: number, i: number) => number): Values => ({ ...x0, data: x0.data.map(f) });
  switch (node.op) {
    case 'input':
      return { n, shape: graph.input, data: Float64Array.from(x) };
    case 'conv':
      return conv(node, x0, w);
    case 'dense': {
      const [kernel, ...rest] = node.params;
      const k = node.attrs.kernelQuantizer ? refWeights(node.attrs.kernelQuantizer, w(kernel.name), kernel.shape, 1) : w(kernel.name);
      const plain = { ...node, attrs: { ...node.attrs, kernelQuantizer: null } };
      return single(plain, x0, new Map([[kernel.name, k], ...rest.map((p) => [p.name, w(p.name)] as const)]));
    }
    case 'batchnorm': {
      // Without gamma (beta) the node scales by 1 (shifts by 0): the shared reference gets those.
      const c = x0.shape[0];
      const given = new Map(node.params.map((p) => [p.role, p]));
      const params = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((role) => given.get(role) ?? { ...node.params.at(-1)!, role, name: `${node.name}/${role}` });
      const neutral = (role: string) => new Float64Array(c).fill(role === 'gamma' ? 1 : 0);
      const full = { ...node, attrs: { ...node.attrs, scale: true, center: true }, params };
      return single(full, x0, new Map(params.map((p) => [p.name, given.has(p.role) ? w(p.name) : neutral(p.role)])));
    }
    case 'quantize':
      return map((v) => refActivation(node.attrs.quantizer, v));
    case 'add':
      return map((_, i) => ins.reduce((sum, t) => sum + t.data[i], 0));
    case 'concat': {
      const per = ins.map((t) => size(t.shape));
      const total = size(node.shape);
      const data = new Float64Array(n * total);
      for (let s = 0; s < n; s++) {
        let offset = 0;
        ins.forEach((t, k) => {
          data.set(t.data.subarray(s * per[k], (s + 1) * per[k]), s * total + offset);
          offset += per[k];
        });
      }
      return { n, shape: node.shape, data };
    }
    case 'bias': {
      const b = w(node.params[0].name);
      const ch = channelOf(x0.shape);
      return map((v, i) => v + b[ch(i)]);
    }
    case 'sigmoid':
      return map((v) => 1 / (1 + Math.exp(-v)));
    case 'multiply': {
      const s = ins[1];
      const per = size(x0.shape.slice(1));
      const perSample = size(x0.shape);
      // A vector factor: element i of sample k takes s[k, channel].
      const factor = s.data.length === x0.data.length ? (i: number) => s.data[i] : (i: number) => s.data[Math.floor(i / perSample) * x0.shape[0] + (Math.floor(i / per) % x0.shape[0])];
      return map((v, i) => v * factor(i));
    }
    case 'add_into': {
      const z = ins[1];
      const per = size(x0.shape.slice(1));
      const [c0] = x0.shape;
      const [c1] = z.shape;
      const offset = node.attrs.offset;
      return map((v, i) => {
        const sample = Math.floor(i / (c0 * per));
        const c = Math.floor(i / per) % c0;
        return c >= offset && c < offset + c1 ? v + z.data[(sample * c1 + c - offset) * per + (i % per)] : v;
      });
    }
    default:
      return single(node, x0, new Map(node.params.map((p) => [p.name, w(p.name)])));
  }
}

/** A conv with a pad value and a quantized kernel: the input padded here, then a plain valid conv. */
function conv(node: NodeOf<'conv'>, x: Values, w: (name: string) => Float64Array): Values {
  const a = node.attrs;
  const [kernel, ...rest] = node.params;
  const k = a.kernelQuantizer ? refWeights(a.kernelQuantizer, w(kernel.name), kernel.shape, 0) : w(kernel.name);
  const padded = a.padValue === 0 ? x : pad(x, a.pads, a.padValue);
  const plain: NodeOf<'conv'> = { ...node, attrs: { ...a, kernelQuantizer: null, padValue: 0, pads: a.padValue === 0 ? a.pads : [0, 0, 0, 0] } };
  return single(plain, padded, new Map([[kernel.name, k], ...rest.map((p) => [p.name, w(p.name)] as const)]));
}

function pad(x: Values, [top, left, bottom, right]: readonly number[], value: number): Values {
  const [c, h, wd] = x.shape;
  const shape = [c, h + top + bottom, wd + left + right];
  const data = new Float64Array(x.n * size(shape)).fill(value);
  for (let s = 0; s < x.n; s++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < wd; j++) data[((s * c + ch) * shape[1] + i + top) * shape[2] + j + left] = x.data[((s * c + ch) * h + i) * wd + j];
  return { n: x.n, shape, data };
}

/** One node run by the shared reference, as a graph of an input and that node. */
function single(node: GraphNode, x: Values, weights: Map<string, Float64Array>): Values {
  const graph: Graph = {
    format: 'sofar-graph',
    version: 1,
    name: 'one',
    input: x.shape,
    classes: 1,
    nodes: [{ id: 0, name: 'input', op: 'input', inputs: [], attrs: {}, shape: x.shape, precision: 'f32', params: [] }, { ...node, id: 1, inputs: [0] } as GraphNode],
    output: 1,
  };
  return referenceForward(graph, weights, x.data, x.n).output;
}
