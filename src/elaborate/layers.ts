/**
 * The layer registry: every layer the language knows, by the name users write, with its arguments
 * (positional order, types, defaults) and how it drives the graph builder. Adding a layer is adding
 * one entry here.
 */
import { closest, type Span } from '../diagnostics.js';
import type { GraphBuilder, QuantizerSpec, Tensor } from '../graph/builder.js';
import type { Padding } from '../graph/shapes.js';
import type { InitName, Pair } from '../graph/types.js';
import { isQuantizerName, quantizerDef, resolveQuantizer, type QuantizerUse } from '../quantizers.js';
import { asBool, asInteger, asNumber, fail, type Env } from './evaluate.js';
import { describe, formatNumber, isNone, type Value } from './values.js';

/** `value` leaves the argument unconverted for its consumer. */
export type ArgType = 'value' | 'count' | 'pair' | 'padding' | 'number' | 'rate' | 'bool' | 'actq' | 'weightq' | 'init' | 'clip';

export interface ArgDef {
  name: string;
  type: ArgType;
  required?: boolean;
  doc: string;
}

/** Arguments after conversion to their declared types. */
export type Converted = Record<string, unknown>;

export interface LayerDef {
  name: string;
  summary: string;
  /** Arguments in positional order; every argument can also be given by name. */
  args: ArgDef[];
  /** How many leading arguments may be given positionally. */
  positional: number;
  build(b: GraphBuilder, x: Tensor, a: Converted, common: { name?: string; source?: Span }): Tensor;
}

const INITS: InitName[] = ['glorot_normal', 'glorot_uniform', 'he_normal', 'he_uniform', 'zeros', 'ones'];

const convArgs: ArgDef[] = [
  { name: 'kernel', type: 'pair', required: true, doc: 'kernel size: 3x3 or 3' },
  { name: 'filters', type: 'count', required: true, doc: 'output channels' },
  { name: 'stride', type: 'pair', doc: 'stride (also written /2); default 1' },
  { name: 'padding', type: 'padding', doc: 'same (default), valid, or a number' },
  { name: 'dilation', type: 'pair', doc: 'dilation; default 1' },
  { name: 'groups', type: 'count', doc: 'groups; default 1' },
  { name: 'bias', type: 'bool', doc: 'add a bias; default false' },
  { name: 'init', type: 'init', doc: `kernel initialiser: ${INITS.join(', ')}` },
];

const binaryArgs: ArgDef[] = [
  { name: 'input_quantizer', type: 'actq', doc: 'quantizer for real-valued inputs; default: the binarize policy' },
  { name: 'kernel_quantizer', type: 'weightq', doc: 'weight quantizer; default: the binarize policy' },
  { name: 'kernel_clip', type: 'clip', doc: 'clip latent weights to [-c, c] in training; default 1, none to disable' },
];

const poolArgs: ArgDef[] = [
  { name: 'kernel', type: 'pair', required: true, doc: 'window size: 2x2 or 2' },
  { name: 'stride', type: 'pair', doc: 'stride (also written /2); default the window size' },
  { name: 'padding', type: 'padding', doc: 'valid (default), same, or a number' },
];

const convOptions = (a: Converted, common: { name?: string; source?: Span }) => ({
  ...common,
  kernel: a.kernel as Pair,
  filters: a.filters as number,
  ...(a.stride !== undefined ? { stride: a.stride as Pair } : {}),
  ...(a.padding !== undefined ? { padding: a.padding as Padding } : {}),
  ...(a.dilation !== undefined ? { dilation: a.dilation as Pair } : {}),
  ...(a.groups !== undefined ? { groups: a.groups as number } : {}),
  ...(a.bias !== undefined ? { bias: a.bias as boolean } : {}),
  ...(a.init !== undefined ? { init: a.init as InitName } : {}),
});

const binaryOptions = (a: Converted) => ({
  ...(a.input_quantizer !== undefined ? { inputQuantizer: a.input_quantizer as QuantizerSpec } : {}),
  ...(a.kernel_quantizer !== undefined ? { kernelQuantizer: a.kernel_quantizer as QuantizerSpec } : {}),
  ...(a.kernel_clip !== undefined ? { kernelClip: a.kernel_clip as number | null } : {}),
});

const poolOptions = (a: Converted, common: { name?: string; source?: Span }) => ({
  ...common,
  kernel: a.kernel as Pair,
  ...(a.stride !== undefined ? { stride: a.stride as Pair } : {}),
  ...(a.padding !== undefined ? { padding: a.padding as Padding } : {}),
});

export const LAYERS: Readonly<Record<string, LayerDef>> = {
  conv: {
    name: 'conv',
    summary: 'real-valued 2-D convolution',
    args: convArgs,
    positional: 2,
    build: (b, x, a, c) => b.conv(x, convOptions(a, c)),
  },
  bconv: {
    name: 'bconv',
    summary: 'binary 2-D convolution: input quantizer (for real inputs), binary kernel',
    args: [...convArgs, ...binaryArgs],
    positional: 2,
    build: (b, x, a, c) => b.bconv(x, { ...convOptions(a, c), ...binaryOptions(a) }),
  },
  dense: {
    name: 'dense',
    summary: 'real-valued fully connected layer (bias by default)',
    args: [
      { name: 'units', type: 'count', required: true, doc: 'outputs' },
      { name: 'bias', type: 'bool', doc: 'add a bias; default true' },
      { name: 'init', type: 'init', doc: 'kernel initialiser' },
    ],
    positional: 1,
    build: (b, x, a, c) =>
      b.dense(x, { ...c, units: a.units as number, ...(a.bias !== undefined ? { bias: a.bias as boolean } : {}), ...(a.init ? { init: a.init as InitName } : {}) }),
  },
  bdense: {
    name: 'bdense',
    summary: 'binary fully connected layer (no bias by default)',
    args: [
      { name: 'units', type: 'count', required: true, doc: 'outputs' },
      { name: 'bias', type: 'bool', doc: 'add a bias; default false' },
      { name: 'init', type: 'init', doc: 'kernel initialiser' },
      ...binaryArgs,
    ],
    positional: 1,
    build: (b, x, a, c) =>
      b.bdense(x, {
        ...c,
        units: a.units as number,
        ...(a.bias !== undefined ? { bias: a.bias as boolean } : {}),
        ...(a.init ? { init: a.init as InitName } : {}),
        ...binaryOptions(a),
      }),
  },
  bn: {
    name: 'bn',
    summary: 'batch normalisation (gamma, beta, moving mean and variance)',
    args: [
      { name: 'momentum', type: 'rate', doc: 'moving-average momentum; default 0.9' },
      { name: 'epsilon', type: 'number', doc: 'variance epsilon; default 1e-5' },
    ],
    positional: 0,
    build: (b, x, a, c) =>
      b.batchnorm(x, {
        ...c,
        ...(a.momentum !== undefined ? { momentum: a.momentum as number } : {}),
        ...(a.epsilon !== undefined ? { epsilon: a.epsilon as number } : {}),
      }),
  },
  sign: {
    name: 'sign',
    summary: 'activation quantizer on its own: output in {-1, +1}',
    args: [{ name: 'quantizer', type: 'actq', doc: 'default: the binarize policy' }],
    positional: 1,
    build: (b, x, a, c) => b.sign(x, { ...c, ...(a.quantizer !== undefined ? { quantizer: a.quantizer as QuantizerSpec } : {}) }),
  },
  relu: { name: 'relu', summary: 'max(0, x)', args: [], positional: 0, build: (b, x, _a, c) => b.relu(x, c) },
  prelu: { name: 'prelu', summary: 'parametric ReLU, one slope per channel', args: [], positional: 0, build: (b, x, _a, c) => b.prelu(x, c) },
  hardtanh: {
    name: 'hardtanh',
    summary: 'clip(x, min, max)',
    args: [
      { name: 'min', type: 'number', doc: 'default -1' },
      { name: 'max', type: 'number', doc: 'default 1' },
    ],
    positional: 0,
    build: (b, x, a, c) =>
      b.hardtanh(x, { ...c, ...(a.min !== undefined ? { min: a.min as number } : {}), ...(a.max !== undefined ? { max: a.max as number } : {}) }),
  },
  maxpool: { name: 'maxpool', summary: 'max pooling', args: poolArgs, positional: 1, build: (b, x, a, c) => b.maxpool(x, poolOptions(a, c)) },
  avgpool: {
    name: 'avgpool',
    summary: 'average pooling (padding excluded from the mean)',
    args: poolArgs,
    positional: 1,
    build: (b, x, a, c) => b.avgpool(x, poolOptions(a, c)),
  },
  global_avgpool: {
    name: 'global_avgpool',
    summary: 'mean over height and width: C×H×W → C',
    args: [],
    positional: 0,
    build: (b, x, _a, c) => b.globalAvgpool(x, c),
  },
  flatten: { name: 'flatten', summary: 'C×H×W → C·H·W', args: [], positional: 0, build: (b, x, _a, c) => b.flatten(x, c) },
  dropout: {
    name: 'dropout',
    summary: 'dropout (training only)',
    args: [{ name: 'rate', type: 'rate', required: true, doc: 'drop probability in [0, 1)' }],
    positional: 1,
    build: (b, x, a, c) => b.dropout(x, { ...c, rate: a.rate as number }),
  },
};

/** The values each argument type takes, for the hint of an argument out of range. */
const VALUES: Partial<Record<ArgType, string>> = {
  count: 'a whole number ≥ 1',
  pair: 'a whole number ≥ 1, or two like 3x3',
  rate: 'a number from 0 up to (not including) 1',
  padding: 'same, valid or a whole number ≥ 0, without quotes',
  clip: 'a positive number, or none',
};

/** Converts an evaluated value to an argument type, or fails with a message pointing at it. */
export function convertArg(def: ArgDef, v: Value, span: Span, env: Env, owner: string): unknown {
  const what = `${owner}'s ${def.name}`;
  /** An argument of the right type but outside its range: the hint says what it takes and what it is. */
  const bad = (problem: string): never =>
    fail('bad-argument', `${what} ${problem}`, span, `${def.name} takes ${VALUES[def.type]}${def.doc ? ` — ${def.doc}` : ''}`);
  switch (def.type) {
    case 'value':
      return v;
    case 'count': {
      const n = asInteger(v, span, env);
      if (n < 1) bad(`must be at least 1, got ${n}`);
      return n;
    }
    case 'number':
      return asNumber(v, span, env);
    case 'rate': {
      const n = asNumber(v, span, env);
      if (!(n >= 0 && n < 1)) bad(`lies in [0, 1), got ${formatNumber(n)}`);
      return n;
    }
    case 'bool':
      return asBool(v, span, env);
    case 'pair': {
      if (v.t === 'dims') {
        if (v.v.length !== 2) bad(`takes two sizes like 3x3, got ${v.v.join('x')}`);
        if (v.v.some((d) => d < 1)) bad(`must be at least 1 in each dimension, got ${v.v.join('x')}`);
        return [v.v[0], v.v[1]] as Pair;
      }
      const n = asInteger(v, span, env);
      if (n < 1) bad(`must be at least 1, got ${n}`);
      return [n, n] as Pair;
    }
    case 'padding': {
      if (v.t === 'sym' && (v.name === 'same' || v.name === 'valid')) return v.name;
      if (v.t === 'num') {
        const n = asInteger(v, span, env);
        if (n < 0) bad(`cannot be negative, got ${n}`);
        return n;
      }
      if (v.t === 'str' && (v.v === 'same' || v.v === 'valid')) {
        fail('bad-argument', `${what} is same, valid or a number, not ${describe(v)}`, span, `write it without quotes: ${def.name}=${v.v}`);
      }
      return bad(`is same, valid or a number, not ${describe(v)}`);
    }
    case 'clip': {
      if (isNone(v)) return null;
      const n = asNumber(v, span, env);
      if (!(n > 0)) bad(`must be positive (or none), got ${formatNumber(n)}`);
      return n;
    }
    case 'init': {
      if (v.t === 'sym' && (INITS as string[]).includes(v.name)) return v.name;
      const suggestion = v.t === 'sym' || v.t === 'str' ? closest(v.t === 'sym' ? v.name : v.v, INITS) : undefined;
      const message = v.t === 'sym' ? `unknown initialiser '${v.name}'` : `expected an initialiser, got ${describe(v)}`;
      fail('bad-argument', message, span, suggestion ? `did you mean '${suggestion}'?` : `initialisers: ${INITS.join(', ')} (he_* are Kaiming's, glorot_* Xavier's)`);
      break;
    }
    case 'actq':
      return convertQuantizer(v, span, env, 'activation');
    case 'weightq':
      return convertQuantizer(v, span, env, 'weight');
  }
  return undefined;
}

/** `approx_sign`, `ste_sign(clip = 1.3)` or `none` → a quantizer for the builder. */
export function convertQuantizer(v: Value, span: Span, env: Env, use: QuantizerUse): QuantizerSpec {
  if (isNone(v)) return 'none';
  if (v.t !== 'sym' && v.t !== 'call') fail('bad-argument', `expected a quantizer, got ${describe(v)}`, span);
  const name = v.name;
  const args: Record<string, number> = {};
  if (v.t === 'call') {
    const known = isQuantizerName(name) ? Object.keys(quantizerDef(name).args) : [];
    v.args.forEach((a, i) => {
      const key = a.name ?? known[i];
      if (key === undefined) fail('arity', `quantizer '${name}' takes ${known.length} argument${known.length === 1 ? '' : 's'}`, a.span);
      args[key] = asNumber(a.value, a.span, env);
    });
  }
  const resolved = resolveQuantizer(name, args, use);
  if (!resolved.ok) fail('unknown-quantizer', resolved.message, span, resolved.hint);
  return resolved.ref;
}
