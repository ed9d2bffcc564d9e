/**
 * Seeded weight initialisation. Each parameter draws from its own stream (seed ⊕ its name), so adding
 * a layer leaves every other layer's initial weights unchanged, and every backend sees the same numbers.
 */
import { Random } from '../random.js';
import type { Graph, InitName, ParamSpec, WeightMap } from '../graph/types.js';
import { assertValid } from '../check.js';

/** Keras' correction so that a normal truncated at 2σ keeps the intended standard deviation. */
const TRUNCATED_STD = 0.87962566103423978;

type Initialiser = (p: ParamSpec, rng: Random, out: Float32Array) => void;

const INITIALISERS: Record<InitName, Initialiser> = {
  zeros: (_p, _rng, out) => out.fill(0),
  ones: (_p, _rng, out) => out.fill(1),
  'constant_0.25': (_p, _rng, out) => out.fill(0.25),
  glorot_normal: (p, rng, out) => {
    const [fanIn, fanOut] = fans(p);
    fillTruncated(out, rng, Math.sqrt(2 / (fanIn + fanOut)) / TRUNCATED_STD);
  },
  he_normal: (p, rng, out) => {
    const [fanIn] = fans(p);
    fillTruncated(out, rng, Math.sqrt(2 / fanIn) / TRUNCATED_STD);
  },
  glorot_uniform: (p, rng, out) => {
    const [fanIn, fanOut] = fans(p);
    fillUniform(out, rng, Math.sqrt(6 / (fanIn + fanOut)));
  },
  he_uniform: (p, rng, out) => {
    const [fanIn] = fans(p);
    fillUniform(out, rng, Math.sqrt(6 / fanIn));
  },
  fixed: (p, _rng, out) => {
    if (!p.values || p.values.length !== out.length) throw new Error(`${p.name}: a fixed parameter needs ${out.length} values, has ${p.values?.length ?? 0}`);
    out.set(p.values);
  },
};

/** Fan-in and fan-out of a kernel: conv `[O, I, kh, kw]`, dense `[in, out]`, vectors `[n]`. */
export function fans(p: ParamSpec): [number, number] {
  const s = p.shape;
  if (s.length === 4) {
    const receptive = s[2] * s[3];
    return [s[1] * receptive, s[0] * receptive];
  }
  if (s.length === 2) return [s[0], s[1]];
  return [s[0], s[0]];
}

function fillTruncated(out: Float32Array, rng: Random, std: number): void {
  for (let i = 0; i < out.length; i++) out[i] = rng.truncatedNormal() * std;
}

function fillUniform(out: Float32Array, rng: Random, limit: number): void {
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * limit;
}

export function initParam(p: ParamSpec, seed: number): Float32Array {
  const out = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
  INITIALISERS[p.init](p, new Random(seed, p.name), out);
  return out;
}

/** Initial weights for every parameter of the graph. */
export function initWeights(graph: Graph, seed: number): WeightMap {
  assertValid(graph);
  const weights: WeightMap = new Map();
  for (const node of graph.nodes) for (const p of node.params) weights.set(p.name, initParam(p, seed));
  return weights;
}

/** A batch of inputs drawn from the seed: standard normal values, shape `[batch, C, H, W]`. */
export function seededInput(graph: Pick<Graph, 'input'>, batch: number, seed: number): Float32Array {
  const rng = new Random(seed, 'input');
  const out = new Float32Array(batch * graph.input.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) out[i] = rng.normal();
  return out;
}

/** Every parameter spec of the graph, in node order. */
export function graphParams(graph: Graph): ParamSpec[] {
  return graph.nodes.flatMap((n) => n.params);
}
