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
export type ArgType =
  | 'value'
  | 'count'
  | 'pair'
  | 'padding'
  | 'number'
  | 'rate'
  | 'bool'
  | 'actq'
  | 'weightq'
  | 'init'
  | 'alpha_init'
  | 'clip'
  | 'matrix';

export interface ArgDef {
  name: string;
  type: ArgType;
  required?: boolean;
  doc: string;
}

/** Arguments after conversion to their declared types. */
export type Converted = Record<string, unknown>;

/** The arguments among `keys` that were given (a builder option left out keeps its default). */
function given<T>(a: Converted, keys: (keyof T & string)[]): Partial<T> {
  return Object.fromEntries(keys.filter((k) => a[k] !== undefined).map((k) => [k, a[k]])) as Partial<T>;
}

export interface LayerDef {
  name: string;
  summary: string;
  /** Arguments in positional order; every argument can also be given by name. */
  args: ArgDef[];
  /** How many leading arguments may be given positionally. */
  positional: number;
  /** `at(arg)` is where an argument was written (the statement when it was not), for errors. */
  build(b: GraphBuilder, x: Tensor, a: Converted, common: { name?: string; source?: Span }, at: (arg: string) => Span): Tensor;
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

const fixedArg: ArgDef = { name: 'fixed', type: 'matrix', doc: 'a fixed, non-trainable kh×kw kernel shared by every filter and channel, e.g. outer([1, 2, 1], [1, 2, 1]) / 16' };
const padValueArg: ArgDef = { name: 'pad_value', type: 'number', doc: "the value the quantized input is padded with: 0 (default) or 1 (Larq's one-padding)" };

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

/**
 * The checks a conv's fixed kernel and pad value need, then its options: `fixed = K` is K for every
 * filter and input channel (`[filters, C_in/groups, kh, kw]`); a pad value other than 0 needs a quantized
 * input (`quantizer`: null for a real conv, undefined for the binarize policy).
 */
function convExtras(b: GraphBuilder, x: Tensor, a: Converted, at: (arg: string) => Span, owner: string, quantizer: QuantizerSpec | undefined | null) {
  const kernel = a.kernel as Pair;
  let fixedKernel: number[] | undefined;
  if (a.fixed !== undefined) {
    const rows = a.fixed as number[][];
    const [kh, kw] = [rows.length, rows[0]?.length ?? 0];
    if (kh !== kernel[0] || kw !== kernel[1]) {
      fail('bad-argument', `${owner}'s fixed kernel is ${kh}×${kw} but its kernel size is ${kernel.join('x')}`, at('fixed'), `give a ${kernel[0]}×${kernel[1]} list of rows, or change the kernel size to ${kh}x${kw}`);
    }
    if (a.init !== undefined) fail('bad-argument', `${owner} has a fixed kernel: it takes no initialiser`, at('init'), 'remove init, or remove fixed');
    const groups = (a.groups as number | undefined) ?? (owner === 'dwconv' ? x.shape[0] : 1);
    const filters = (a.filters as number | undefined) ?? x.shape[0] * ((a.multiplier as number | undefined) ?? 1);
    const copies = filters * Math.max(1, Math.floor(x.shape[0] / groups));
    const flat = rows.flat();
    fixedKernel = Array.from({ length: copies }, () => flat).flat();
  }
  const padValue = a.pad_value as number | undefined;
  if (padValue !== undefined && padValue !== 0 && !b.inputQuantized(x, quantizer)) {
    fail('bad-argument', `${owner}'s pad_value ${formatNumber(padValue)} pads a real-valued input`, at('pad_value'), 'a pad value applies to a quantized input (bconv, or a conv after sign); pad a real input with 0');
  }
  return { ...(fixedKernel ? { fixedKernel } : {}), ...(padValue !== undefined ? { padValue } : {}) };
}

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
    args: [...convArgs, fixedArg, padValueArg],
    positional: 2,
    build: (b, x, a, c, at) => b.conv(x, { ...convOptions(a, c), ...convExtras(b, x, a, at, 'conv', null) }),
  },
  dwconv: {
    name: 'dwconv',
    summary: 'real-valued depthwise convolution: groups = channels, filters = channels × multiplier',
    args: [
      convArgs[0],
      { name: 'multiplier', type: 'count', doc: 'filters per input channel; default 1' },
      ...convArgs.slice(2).filter((d) => d.name !== 'groups'),
      fixedArg,
      padValueArg,
    ],
    positional: 1,
    build: (b, x, a, c, at) => {
      if (x.shape.length !== 3) fail('shape', `dwconv needs a C×H×W feature map, got a vector of ${x.shape[0]}`, c.source!, 'spatial layers go before global_avgpool / flatten');
      const channels = x.shape[0];
      const filters = channels * ((a.multiplier as number | undefined) ?? 1);
      return b.conv(x, { ...convOptions({ ...a, filters, groups: channels }, { ...c, name: c.name ?? 'dwconv' }), ...convExtras(b, x, a, at, 'dwconv', null) });
    },
  },
  bconv: {
    name: 'bconv',
    summary: 'binary 2-D convolution: input quantizer (for real inputs), binary kernel',
    args: [...convArgs, ...binaryArgs, padValueArg, fixedArg],
    positional: 2,
    build: (b, x, a, c, at) => {
      if (a.fixed !== undefined) fail('bad-argument', "bconv's kernel is binary and trained: it cannot be fixed", at('fixed'), 'a fixed kernel is real-valued: use conv or dwconv with fixed = ...');
      const padValue = a.pad_value as number | undefined;
      if (padValue !== undefined && padValue !== 0 && padValue !== 1) {
        fail('bad-argument', `bconv's pad_value is 0 or 1, not ${formatNumber(padValue)}`, at('pad_value'), "0 pads with zeros (Larq's default), 1 with +1 (one-padding, which keeps a binary input binary)");
      }
      const extras = convExtras(b, x, a, at, 'bconv', a.input_quantizer as QuantizerSpec | undefined);
      return b.bconv(x, { ...convOptions(a, c), ...binaryOptions(a), ...extras });
    },
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
      { name: 'scale', type: 'bool', doc: 'learn a scale gamma; default true' },
      { name: 'center', type: 'bool', doc: 'learn a shift beta; default true' },
    ],
    positional: 0,
    build: (b, x, a, c) =>
      b.batchnorm(x, { ...c, ...given<{ momentum: number; epsilon: number; scale: boolean; center: boolean }>(a, ['momentum', 'epsilon', 'scale', 'center']) }),
  },
  sign: {
    name: 'sign',
    summary: 'activation quantizer on its own: output in {-1, +1}',
    args: [{ name: 'quantizer', type: 'actq', doc: 'default: the binarize policy' }],
    positional: 1,
    build: (b, x, a, c) => b.sign(x, { ...c, ...(a.quantizer !== undefined ? { quantizer: a.quantizer as QuantizerSpec } : {}) }),
  },
  relu: { name: 'relu', summary: 'max(0, x)', args: [], positional: 0, build: (b, x, _a, c) => b.relu(x, c) },
  prelu: {
    name: 'prelu',
    summary: 'parametric ReLU, one slope per channel',
    args: [{ name: 'init', type: 'alpha_init', doc: "the slopes' start: zeros (default, Keras'), ones or 0.25" }],
    positional: 0,
    build: (b, x, a, c) => b.prelu(x, { ...c, ...(a.init !== undefined ? { init: a.init as InitName } : {}) }),
  },
  bias: { name: 'bias', summary: 'a learnable shift a channel, x + b_c (starts at 0)', args: [], positional: 0, build: (b, x, _a, c) => b.bias(x, c) },
  sigmoid: { name: 'sigmoid', summary: '1 / (1 + e^-x)', args: [], positional: 0, build: (b, x, _a, c) => b.sigmoid(x, c) },
  clip: {
    name: 'clip',
    summary: 'clip(x, min, max), by default to [0, 1]',
    args: [
      { name: 'min', type: 'number', doc: 'default 0' },
      { name: 'max', type: 'number', doc: 'default 1' },
    ],
    positional: 0,
    build: (b, x, a, c) => b.hardtanh(x, { ...c, name: c.name ?? 'clip', min: (a.min as number | undefined) ?? 0, max: (a.max as number | undefined) ?? 1 }),
  },
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
    case 'matrix':
      return matrix(v, span, env, what);
    case 'alpha_init': {
      if (v.t === 'sym' && (v.name === 'zeros' || v.name === 'ones')) return v.name;
      if (v.t === 'num' && (v.v === 0 || v.v === 1 || v.v === 0.25)) return v.v === 0 ? 'zeros' : v.v === 1 ? 'ones' : 'constant_0.25';
      return fail('bad-argument', `${what} is zeros, ones or 0.25, not ${describe(v)}`, span, "zeros is Keras' default (PReLU starts as ReLU); 0.25 is He et al.'s");
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

/** A rectangular list of rows of finite numbers (a fixed kernel). */
function matrix(v: Value, span: Span, env: Env, what: string): number[][] {
  const example = 'for example [[1, 2, 1], [2, 4, 2], [1, 2, 1]] / 16 or outer([1, 2, 1], [1, 2, 1]) / 16';
  if (v.t !== 'list' || v.v.length === 0 || v.v.some((row) => row.t !== 'list')) fail('bad-argument', `${what} is a list of rows of numbers, not ${describe(v)}`, span, example);
  const rows = v.v.map((row) => (row as Extract<Value, { t: 'list' }>).v.map((item) => asNumber(item, span, env)));
  if (rows.some((row) => row.length === 0)) fail('bad-argument', `${what} has an empty row`, span, example);
  if (rows.some((row) => row.length !== rows[0].length)) fail('bad-argument', `${what}'s rows differ in length: ${rows.map((r) => r.length).join(', ')}`, span, example);
  if (rows.flat().some((x) => !Number.isFinite(x))) fail('bad-argument', `${what} holds a value that is not finite`, span);
  return rows;
}

/** The range each numeric quantizer argument takes, by name (`k_bit` of dorefa, `clip`, `beta`). */
const QUANTIZER_ARGS: Record<string, { ok: (n: number) => boolean; takes: string }> = {
  k_bit: { ok: (n) => Number.isInteger(n) && n >= 1 && n <= 32, takes: 'a whole number of bits from 1 to 32' },
  clip: { ok: (n) => n > 0 && Number.isFinite(n), takes: 'a positive number' },
  beta: { ok: (n) => n > 0 && Number.isFinite(n), takes: 'a positive number' },
};

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
      const n = asNumber(a.value, a.span, env);
      const range = QUANTIZER_ARGS[key];
      if (range && !range.ok(n)) fail('bad-argument', `${name}'s ${key} must be ${range.takes}, got ${formatNumber(n)}`, a.span, key === 'k_bit' ? 'dorefa(k_bit = 2) quantizes to 2^k levels in [0, 1]' : `${key} takes ${range.takes}`);
      args[key] = n;
    });
  }
  const resolved = resolveQuantizer(name, args, use);
  if (!resolved.ok) fail('unknown-quantizer', resolved.message, span, resolved.hint);
  return resolved.ref;
}
