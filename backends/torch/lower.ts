/**
 * The lowering table of the PyTorch backend: one entry per graph node kind, each saying how the node
 * reads in the generated model.py — a submodule built in `__init__` (a layer with parameters, or one
 * that takes per-step training masks) and its call in `forward`, or a plain expression. Every number
 * is a named argument, so that a block class can turn those that differ between its instances into
 * constructor parameters (backends/torch/blocks.ts). The Python names are those of the runtime
 * (backends/torch/python/runtime.py); docs/semantics.md is what both implement.
 */
import type { InitName, NodeOf, OpTable, Pads, Pair, QuantizerRef } from '../../src/graph/types.js';
import type { ActivationQuantizerName, WeightQuantizerName } from '../../src/quantizers.js';

/** A Python expression (a literal, or a reference to a constructor parameter). */
export type Py = string;

export interface Arg {
  /** The parameter's name in the layer's constructor or the function's signature. */
  name: string;
  value: Py;
  /** Passed by position (the leading arguments); otherwise by keyword, and left out when `value === omit`. */
  positional?: boolean;
  omit?: Py;
}

export interface Lowered {
  /** A submodule: the runtime class it instantiates with `args`. */
  module?: string;
  args: Arg[];
  /**
   * The forward expression. `inputs` are the Python expressions of the node's inputs, `self` the
   * submodule (`self.bconv`), `arg(name)` the expression of one of `args`.
   */
  call: (inputs: string[], arg: (name: string) => Py, self: string) => string;
}

export const pyNumber = (n: number): Py => (Number.isInteger(n) ? String(n) : String(n));
/** An int when both are equal (torch style: `kernel_size=3`), else a tuple. */
export const pyPair = ([a, b]: Pair): Py => (a === b ? pyNumber(a) : `(${a}, ${b})`);
/** SoFAr's pads `[top, left, bottom, right]` as the runtime's `padding`: an int, an (h, w) pair or the 4-tuple. */
export function pyPads([top, left, bottom, right]: Pads): Py {
  if (top === bottom && left === right) return pyPair([top, left]);
  return `(${top}, ${left}, ${bottom}, ${right})`;
}

/** Each activation quantizer's function in the runtime (backends/torch/python/runtime.py). */
export const TORCH_ACTIVATION_QUANTIZERS: Readonly<Record<ActivationQuantizerName, string>> = {
  ste_sign: 'ste_sign',
  approx_sign: 'approx_sign',
  swish_sign: 'swish_sign',
  ste_heaviside: 'ste_heaviside',
  dorefa: 'dorefa',
};

/** Each weight quantizer's class in the runtime. */
export const TORCH_WEIGHT_QUANTIZERS: Readonly<Record<WeightQuantizerName, string>> = {
  ste_sign: 'SteSign',
  magnitude_aware_sign: 'MagnitudeAwareSign',
  magnitude_aware_sign_unclipped: 'MagnitudeAwareSignUnclipped',
  xnor_weight_scale: 'XnorWeightScale',
};

/** `approx_sign(x)`, `ste_sign(x, clip=1.3)`: an activation quantizer's arguments for a call of its runtime function. */
function quantizerArgs(q: QuantizerRef): Arg[] {
  return Object.entries(q.args).map(([name, value]) => ({ name, value: pyNumber(value) }));
}

/** A kernel quantizer object: `MagnitudeAwareSign(clip=1)`, `SteSign(clip=1.3)`. */
function kernelQuantizer(q: QuantizerRef<WeightQuantizerName> | null): Py {
  if (!q) return 'None';
  return `${TORCH_WEIGHT_QUANTIZERS[q.name]}(${Object.entries(q.args)
    .map(([k, v]) => `${k}=${pyNumber(v)}`)
    .join(', ')})`;
}

const keywords = (args: readonly Arg[], arg: (name: string) => Py) => args.map((a) => `${a.name}=${arg(a.name)}`).join(', ');

export const TORCH_LAYERS: OpTable<[], Lowered> = {
  input: () => ({ args: [], call: () => 'x' }),

  conv: (node) => {
    const a = node.attrs;
    return {
      module: 'QuantConv2d',
      args: [
        { name: 'in_channels', value: String(inputChannels(node)), positional: true },
        { name: 'filters', value: String(a.filters), positional: true },
        { name: 'kernel_size', value: pyPair(a.kernel), positional: true },
        { name: 'stride', value: pyPair(a.stride), omit: '1' },
        { name: 'padding', value: pyPads(a.pads), omit: '0' },
        { name: 'dilation', value: pyPair(a.dilation), omit: '1' },
        { name: 'groups', value: String(a.groups), omit: '1' },
        { name: 'bias', value: a.bias ? 'True' : 'False', omit: 'True' },
        { name: 'kernel_quantizer', value: kernelQuantizer(a.kernelQuantizer), omit: 'None' },
        { name: 'kernel_clip', value: a.kernelClip === null ? 'None' : pyNumber(a.kernelClip), omit: 'None' },
        { name: 'pad_value', value: pyNumber(a.padValue), omit: '0' },
        { name: 'fixed_kernel', value: fixedValues(node), omit: 'None' },
      ],
      call: ([x], _arg, self) => `${self}(${x})`,
    };
  },

  dense: (node) => {
    const a = node.attrs;
    return {
      module: 'QuantDense',
      args: [
        { name: 'in_features', value: String(inputChannels(node)), positional: true },
        { name: 'units', value: String(a.units), positional: true },
        { name: 'bias', value: a.bias ? 'True' : 'False', omit: 'True' },
        { name: 'kernel_quantizer', value: kernelQuantizer(a.kernelQuantizer), omit: 'None' },
        { name: 'kernel_clip', value: a.kernelClip === null ? 'None' : pyNumber(a.kernelClip), omit: 'None' },
      ],
      call: ([x], _arg, self) => `${self}(${x})`,
    };
  },

  batchnorm: (node) => ({
    module: 'BatchNorm',
    args: [
      { name: 'channels', value: String(node.shape[0]), positional: true },
      { name: 'momentum', value: pyNumber(node.attrs.momentum), omit: '0.9' },
      { name: 'eps', value: pyNumber(node.attrs.epsilon), omit: '0.00001' },
      { name: 'scale', value: node.attrs.scale ? 'True' : 'False', omit: 'True' },
      { name: 'center', value: node.attrs.center ? 'True' : 'False', omit: 'True' },
    ],
    call: ([x], _arg, self) => `${self}(${x})`,
  }),

  quantize: (node) => {
    const args = quantizerArgs(node.attrs.quantizer);
    return { args, call: ([x], arg) => `${TORCH_ACTIVATION_QUANTIZERS[node.attrs.quantizer.name]}(${[x, keywords(args, arg)].filter(Boolean).join(', ')})` };
  },

  relu: () => ({ args: [], call: ([x]) => `F.relu(${x})` }),

  prelu: (node) => ({
    module: 'PReLU',
    args: [
      { name: 'channels', value: String(node.shape[0]), positional: true },
      { name: 'init', value: pyNumber(INIT_CONSTANTS[node.params[0].init] ?? 0.25), omit: '0.25' },
    ],
    call: ([x], _arg, self) => `${self}(${x})`,
  }),

  // clamp's gradient includes the bounds, as docs/semantics.md's hardtanh does (F.hardtanh's does not).
  hardtanh: (node) => ({
    args: [
      { name: 'min', value: pyNumber(node.attrs.min) },
      { name: 'max', value: pyNumber(node.attrs.max) },
    ],
    call: ([x], arg) => `${x}.clamp(${arg('min')}, ${arg('max')})`,
  }),

  maxpool: (node) => pooling('max_pool2d', node),
  avgpool: (node) => pooling('avg_pool2d', node),

  global_avgpool: () => ({ args: [], call: ([x]) => `${x}.mean((2, 3))` }),

  flatten: () => ({ args: [], call: ([x]) => `${x}.flatten(1)` }),

  dropout: (node) => ({
    module: 'Dropout',
    args: [{ name: 'rate', value: pyNumber(node.attrs.rate), positional: true }],
    call: ([x], _arg, self) => `${self}(${x})`,
  }),

  add: () => ({ args: [], call: (xs) => xs.join(' + ') }),

  concat: () => ({ args: [], call: (xs) => `torch.cat([${xs.join(', ')}], 1)` }),

  bias: (node) => ({
    module: 'Bias',
    args: [{ name: 'channels', value: String(node.shape[0]), positional: true }],
    call: ([x], _arg, self) => `${self}(${x})`,
  }),

  sigmoid: () => ({ args: [], call: ([x]) => `torch.sigmoid(${x})` }),

  // The factor's shape is known only at run time here: the runtime broadcasts a vector over H and W.
  multiply: () => ({ args: [], call: ([x, s]) => `multiply(${x}, ${s})` }),

  add_into: (node) => ({
    args: [{ name: 'offset', value: String(node.attrs.offset) }],
    call: ([x, z], arg) => `add_into(${x}, ${z}, ${arg('offset')})`,
  }),

  join: (node) => ({
    module: 'Join',
    args: [{ name: 'mode', value: `'${node.attrs.mode}'`, positional: true }],
    call: (xs, _arg, self) => `${self}(${xs.join(', ')})`,
  }),
};

function pooling(fn: string, node: NodeOf<'maxpool'> | NodeOf<'avgpool'>): Lowered {
  const a = node.attrs;
  const args: Arg[] = [
    { name: 'kernel_size', value: pyPair(a.kernel) },
    { name: 'stride', value: pyPair(a.stride) },
    { name: 'padding', value: pyPads(a.pads), omit: '0' },
  ];
  return {
    args,
    call: ([x], arg) => `${fn}(${[x, arg('kernel_size'), arg('stride'), ...(arg('padding') === '0' ? [] : [`padding=${arg('padding')}`])].join(', ')})`,
  };
}

/** The slope a PReLU starts at, by its initialiser. */
const INIT_CONSTANTS: Partial<Record<InitName, number>> = { zeros: 0, ones: 1, 'constant_0.25': 0.25 };

/**
 * A fixed kernel's values as a Python list, or `None` for a trained kernel. A kernel whose output
 * channels all hold the same values (a depthwise blur) is written once: the runtime repeats it.
 */
function fixedValues(node: NodeOf<'conv'>): Py {
  const kernel = node.params.find((p) => p.role === 'kernel')!;
  if (kernel.init !== 'fixed' || !kernel.values) return 'None';
  const values = kernel.values;
  const chunk = values.length / kernel.shape[0];
  const repeated = values.every((v, i) => v === values[i % chunk]);
  return `[${(repeated ? values.slice(0, chunk) : values).map(pyNumber).join(', ')}]`;
}

/** Channels (or features) of the node's input, read from the layer's kernel shape. */
function inputChannels(node: NodeOf<'conv'> | NodeOf<'dense'>): number {
  const kernel = node.params.find((p) => p.role === 'kernel')!;
  return node.op === 'conv' ? kernel.shape[1] * node.attrs.groups : kernel.shape[0];
}
