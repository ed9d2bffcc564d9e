/**
 * The graph builder: the programmatic way to write a SoFAr model, and the one way graphs get made —
 * the elaborator drives this same builder from a `.sofar` file, so both produce identical graphs.
 *
 * The builder infers shapes and precision, creates named parameters and expands shortcuts and fractals.
 * It judges nothing that the checker can judge on the finished graph (shape mismatches at adds and
 * joins, binary convs fed real values); it only reports what stops it from building (a conv on a
 * vector, an unknown quantizer).
 */
import { error, type Diagnostic, type Span } from '../diagnostics.js';
import { outputsSign, resolveQuantizer, type ActivationQuantizerName, type QuantizerNameFor, type QuantizerUse, type WeightQuantizerName } from '../quantizers.js';
import { resolvePads, windowOutput, type Padding } from './shapes.js';
import {
  GRAPH_FORMAT,
  GRAPH_VERSION,
  type Graph,
  type GraphNode,
  type InitName,
  type JoinMode,
  type NodeOf,
  type OpAttrs,
  type OpKind,
  type Pair,
  type ParamSpec,
  type Precision,
  type QuantizerRef,
} from './types.js';

/** A value flowing through the graph under construction. */
export interface Tensor {
  readonly id: number;
  readonly shape: readonly number[];
  readonly precision: Precision;
}

/** A quantizer by name (`'ste_sign'`) or as a full reference; `'none'` turns quantization off. */
export type QuantizerSpec = string | QuantizerRef;

export interface BinarizePolicy {
  activations?: QuantizerSpec;
  weights?: QuantizerSpec;
}

export interface BuilderOptions {
  name: string;
  input: readonly [number, number, number] | readonly number[];
  classes: number;
  binarize?: BinarizePolicy;
  /** Refuse to build more nodes than this (default 10⁶). */
  nodeBudget?: number;
}

interface Common {
  /** Local name of the layer inside the current scope (default: the layer kind). */
  name?: string;
  source?: Span;
}

export interface ConvOptions extends Common {
  filters: number;
  kernel: number | Pair;
  stride?: number | Pair;
  padding?: Padding;
  dilation?: number | Pair;
  groups?: number;
  bias?: boolean;
  init?: InitName;
  /** A fixed, non-trainable kernel: every value, row-major `[filters, C_in/groups, kh, kw]`. */
  fixedKernel?: number[];
}

export interface BinaryOptions {
  /** Pad value of the quantized input (Larq's `pad_values`): 0 (default) or 1 for one-padding. */
  padValue?: number;
  /** Applied when the input is real-valued; defaults to the binarization policy. */
  inputQuantizer?: QuantizerSpec;
  kernelQuantizer?: QuantizerSpec;
  /** Clip latent weights to [−c, c] during training; default 1 (Larq's weight_clip), null for none. */
  kernelClip?: number | null;
}

export interface DenseOptions extends Common {
  units: number;
  bias?: boolean;
  init?: InitName;
}

export interface PoolOptions extends Common {
  kernel: number | Pair;
  /** Default: the kernel size (Keras). */
  stride?: number | Pair;
  /** Default: `valid` (Keras). */
  padding?: Padding;
}

export interface FractalOptions extends Common {
  columns: number;
  join?: JoinMode;
  /** Local drop-path rate. */
  dropPath?: number;
  /** Share of training batches that keep a single column for the whole network. */
  globalDropPath?: number;
  /** Scope the fractal opens (default `fractal`); null builds it in the current scope. */
  scope?: string | null;
}

export interface ResidualOptions extends Common {
  /** The shortcut path (a projection); identity when absent. Runs in the scope `shortcut`. */
  shortcut?: ((x: Tensor) => Tensor) | null;
}

export const DEFAULT_NODE_BUDGET = 1_000_000;

/** Thrown when an expansion exceeds the node budget; the elaborator turns it into a diagnostic. */
export class NodeBudgetExceeded extends Error {
  constructor(readonly budget: number) {
    super(`the graph exceeds the node budget of ${budget} nodes`);
  }
}

// Graphs are plain data that no stage mutates, so nodes share small constant values (frozen, so a
// stage that tried to mutate one would fail loudly): empty attributes and parameter lists, window
// sizes and pads, and the shape of an op that keeps its input's shape. Big graphs stay small.
const NO_ATTRS = Object.freeze({}) as Record<string, never>;
const NO_PARAMS = Object.freeze([]) as unknown as ParamSpec[];
const noParams = () => NO_PARAMS;
const interned = new Map<string, readonly number[]>();
function intern<T extends readonly number[]>(values: T): T {
  const key = values.join(',');
  let shared = interned.get(key);
  if (!shared) {
    shared = Object.freeze([...values]);
    interned.set(key, shared);
  }
  return shared as T;
}
const pair = (v: number | Pair): Pair => intern<Pair>(typeof v === 'number' ? [v, v] : [v[0], v[1]]);
/** The input's shape, for ops that keep it. */
const same = (x: Tensor): number[] => x.shape as number[];

export class GraphBuilder {
  readonly diagnostics: Diagnostic[] = [];
  private readonly nodes: GraphNode[] = [];
  /** Prefixes of the open scopes: '', 'stage2/', 'stage2/unit1/', ... (kept, not re-joined per node). */
  private readonly frames: ScopeFrame[] = [newFrame('')];
  /** Frames by prefix, so a re-entered scope (a fractal column) keeps its names and counters. */
  private readonly framesByPrefix = new Map<string, ScopeFrame>();
  private readonly policies: { activations: QuantizerRef<ActivationQuantizerName> | null; weights: QuantizerRef<WeightQuantizerName> | null }[] = [];
  private readonly nodeBudget: number;
  private readonly input0: Tensor;

  constructor(readonly options: BuilderOptions) {
    this.nodeBudget = options.nodeBudget ?? DEFAULT_NODE_BUDGET;
    this.policies.push({
      activations: this.quantizer(options.binarize?.activations ?? 'none', 'activation'),
      weights: this.quantizer(options.binarize?.weights ?? 'none', 'weight'),
    });
    this.input0 = this.addNode('input', 'input', [], NO_ATTRS, [...options.input], 'f32', noParams, {});
  }

  /** The model's input `[C, H, W]`. */
  input(): Tensor {
    return this.input0;
  }

  // ---------------------------------------------------------------- structure

  /** Builds `fn` inside the named scope (names become `scope/...`). A repeated name gets a suffix. */
  scope<T>(name: string, fn: () => T): T {
    this.enter(this.uniqueLocal(name));
    try {
      return fn();
    } finally {
      this.frames.pop();
    }
  }

  /** Builds `fn` inside a numbered instance scope: `unit1`, `unit2`, ... within the current scope. */
  block<T>(name: string, fn: () => T): T {
    this.enter(this.nextIndexed(name));
    try {
      return fn();
    } finally {
      this.frames.pop();
    }
  }

  /** Builds `fn` with another binarization policy; unset fields keep the current one. */
  withBinarize<T>(policy: BinarizePolicy, fn: () => T, source?: Span): T {
    const current = this.policy();
    this.policies.push({
      activations: policy.activations === undefined ? current.activations : this.quantizer(policy.activations, 'activation', source),
      weights: policy.weights === undefined ? current.weights : this.quantizer(policy.weights, 'weight', source),
    });
    try {
      return fn();
    } finally {
      this.policies.pop();
    }
  }

  /** `x + body(x)`, or `shortcut(x) + body(x)` with a projection. */
  residual(x: Tensor, body: (x: Tensor) => Tensor, options: ResidualOptions = {}): Tensor {
    const y = body(x);
    const shortcut = options.shortcut;
    const s = shortcut ? this.scope('shortcut', () => shortcut(x)) : x;
    return this.add(s, y, { name: options.name ?? 'add', source: options.source });
  }

  /** Dense shortcut (DenseNet): the block's input concatenated with its output along channels. */
  denseShortcut(x: Tensor, body: (x: Tensor) => Tensor, options: Common = {}): Tensor {
    const y = body(x);
    return this.concat([x, y], { name: options.name ?? 'concat', source: options.source });
  }

  /**
   * FractalNet's expansion: f₁(z) = unit(z), f₍ₖ₊₁₎(z) = join(f_k(f_k(z)), unit(z)), with joins merging
   * every column that ends at the same depth (so the last join has C inputs). Column j (1 = shallowest)
   * holds 2^(j−1) units; `unit` runs in the scope `col{j}`.
   */
  fractal(x: Tensor, options: FractalOptions, unit: (x: Tensor, column: number) => Tensor): Tensor {
    const columns = options.columns;
    if (!Number.isInteger(columns) || columns < 1) {
      this.report('bad-argument', `a fractal needs a whole number of columns ≥ 1, got ${columns}`, options.source);
      return x;
    }
    // 2^C − 1 unit instances: refuse at once rather than build a million nodes first.
    if (2 ** columns - 1 > this.nodeBudget - this.nodes.length) throw new NodeBudgetExceeded(this.nodeBudget);
    const build = (): Tensor => {
      const fractalName = this.prefix().replace(/\/$/, '');
      const inColumn = (column: number, z: Tensor): Tensor => this.reenter(`col${column}`, () => unit(z, column));
      const join = (branches: { column: number; value: Tensor }[]): Tensor => {
        if (branches.length === 1) return branches[0].value;
        const attrs: OpAttrs['join'] = {
          mode: options.join ?? 'mean',
          fractal: fractalName,
          columns: branches.map((b) => b.column),
          dropPath: { local: options.dropPath ?? 0, global: options.globalDropPath ?? 0 },
        };
        return this.joinNode(branches.map((b) => b.value), attrs, options.source);
      };
      // Returns the not-yet-joined outputs of f_k, whose columns are C−k+1 .. C.
      const expand = (k: number, z: Tensor): { column: number; value: Tensor }[] => {
        const shallowest = columns - k + 1;
        if (k === 1) return [{ column: shallowest, value: inColumn(shallowest, z) }];
        const inner = join(expand(k - 1, z));
        const deep = expand(k - 1, inner);
        return [...deep, { column: shallowest, value: inColumn(shallowest, z) }];
      };
      return join(expand(columns, x));
    };
    const scope = options.scope === undefined ? 'fractal' : options.scope;
    return scope === null ? build() : this.scope(scope, build);
  }

  // ---------------------------------------------------------------- layers

  conv(x: Tensor, o: ConvOptions): Tensor {
    return this.convNode(x, o, null, null, 'conv');
  }

  /** Binary convolution: input quantizer (when the input is real), then a conv with binary kernel. */
  bconv(x: Tensor, o: ConvOptions & BinaryOptions): Tensor {
    const policy = this.policy();
    const kernelQuantizer =
      o.kernelQuantizer === undefined ? policy.weights : this.quantizer(o.kernelQuantizer, 'weight', o.source);
    // `kernelQuantizer: 'none'` asks for real weights (on a binary input); only a missing policy is refused.
    if (!kernelQuantizer && o.kernelQuantizer === undefined) this.reportNoWeightQuantizer('conv', o.source);
    const local = o.name ?? 'bconv';
    const input = this.quantizeIfReal(x, o.inputQuantizer, local, 'conv', o.source);
    if (!kernelQuantizer && o.kernelQuantizer !== undefined && !this.inputQuantized(input, null)) {
      this.report('no-quantizer', 'this binary conv quantizes neither its input nor its kernel', o.source, 'write conv for a real-valued convolution, or give it a quantizer');
    }
    return this.convNode(input, { ...o, name: local }, kernelQuantizer, o.kernelClip === undefined ? 1 : o.kernelClip, 'bconv');
  }

  dense(x: Tensor, o: DenseOptions): Tensor {
    return this.denseNode(x, o, null, null, 'dense');
  }

  /** Binary dense layer, the fully connected twin of `bconv`. */
  bdense(x: Tensor, o: DenseOptions & BinaryOptions): Tensor {
    const policy = this.policy();
    const kernelQuantizer =
      o.kernelQuantizer === undefined ? policy.weights : this.quantizer(o.kernelQuantizer, 'weight', o.source);
    if (!kernelQuantizer && o.kernelQuantizer === undefined) this.reportNoWeightQuantizer('dense layer', o.source);
    const local = o.name ?? 'bdense';
    const input = this.quantizeIfReal(x, o.inputQuantizer, local, 'dense layer', o.source);
    return this.denseNode(input, { ...o, name: local }, kernelQuantizer, o.kernelClip === undefined ? 1 : o.kernelClip, 'bdense');
  }

  /** A binary layer without a weight quantizer would silently be a float one. */
  private reportNoWeightQuantizer(kind: string, source: Span | undefined): void {
    this.report('no-quantizer', `a binary ${kind} needs a weight quantizer`, source, 'set one for the model (binarize weights = ste_sign) or on the layer (kernel_quantizer = ...)');
  }

  batchnorm(x: Tensor, o: Common & { momentum?: number; epsilon?: number; scale?: boolean; center?: boolean } = {}): Tensor {
    const c = intern([x.shape[0]]) as number[];
    const scale = o.scale ?? true;
    const center = o.center ?? true;
    const attrs = { momentum: o.momentum ?? 0.9, epsilon: o.epsilon ?? 1e-5, scale, center };
    return this.addNode('batchnorm', o.name ?? 'bn', [x], attrs, same(x), 'f32', (n) => [
      ...(scale ? [param(n, 'gamma', c, 'ones')] : []),
      ...(center ? [param(n, 'beta', c, 'zeros')] : []),
      param(n, 'moving_mean', c, 'zeros', { trainable: false }),
      param(n, 'moving_variance', c, 'ones', { trainable: false }),
    ], o);
  }

  /** An activation quantizer on its own (`sign` in the language): output in {−1, +1}. */
  sign(x: Tensor, o: Common & { quantizer?: QuantizerSpec } = {}): Tensor {
    const q = o.quantizer === undefined ? this.policy().activations : this.quantizer(o.quantizer, 'activation', o.source);
    if (!q) {
      this.report('no-quantizer', 'sign needs an activation quantizer', o.source, 'name one (sign approx_sign) or set binarize activations = ...');
      return x;
    }
    return this.addNode('quantize', o.name ?? 'sign', [x], { quantizer: q }, same(x), outputsSign(q) ? 'bin' : 'f32', noParams, o);
  }

  relu(x: Tensor, o: Common = {}): Tensor {
    return this.addNode('relu', o.name ?? 'relu', [x], NO_ATTRS, same(x), 'f32', noParams, o);
  }

  /** PReLU; the slopes start at `init`, zeros by default (Keras'). */
  prelu(x: Tensor, o: Common & { init?: InitName } = {}): Tensor {
    return this.addNode('prelu', o.name ?? 'prelu', [x], NO_ATTRS, same(x), 'f32', (n) => [param(n, 'alpha', [x.shape[0]], o.init ?? 'zeros')], o);
  }

  /** A learnable shift a channel (x + b[c]), starting at 0. */
  bias(x: Tensor, o: Common = {}): Tensor {
    return this.addNode('bias', o.name ?? 'bias', [x], NO_ATTRS, same(x), 'f32', (n) => [param(n, 'bias', [x.shape[0]], 'zeros')], o);
  }

  sigmoid(x: Tensor, o: Common = {}): Tensor {
    return this.addNode('sigmoid', o.name ?? 'sigmoid', [x], NO_ATTRS, same(x), 'f32', noParams, o);
  }

  /** x · s, with s of x's shape or a vector `[C]` broadcast over H and W. */
  multiply(x: Tensor, s: Tensor, o: Common = {}): Tensor {
    const sameShape = s.shape.length === x.shape.length && s.shape.every((d, i) => d === x.shape[i]);
    if (!sameShape && !(s.shape.length === 1 && s.shape[0] === x.shape[0])) {
      this.report('shape', `multiply needs a factor of shape ${x.shape.join('×')} or a vector of ${x.shape[0]}, got ${s.shape.join('×')}`, o.source);
    }
    const precision: Precision = x.precision === 'bin' && s.precision === 'bin' ? 'bin' : 'f32';
    return this.addNode('multiply', o.name ?? 'multiply', [x, s], NO_ATTRS, same(x), precision, noParams, o);
  }

  /** x with y added into its last C_y channels (MeliusNet's improvement block); `offset` = C_x − C_y by default. */
  addInto(x: Tensor, y: Tensor, o: Common & { offset?: number } = {}): Tensor {
    const offset = o.offset ?? x.shape[0] - y.shape[0];
    const fits = x.shape.length === y.shape.length && offset >= 0 && offset + y.shape[0] <= x.shape[0] && y.shape.slice(1).every((d, i) => d === x.shape[i + 1]);
    if (!fits) {
      this.report('shape', `cannot add ${y.shape.join('×')} into channels ${offset}… of ${x.shape.join('×')}`, o.source, 'the branch needs the same height and width and at most as many channels');
    }
    return this.addNode('add_into', o.name ?? 'add_into', [x, y], { offset }, same(x), 'f32', noParams, o);
  }

  hardtanh(x: Tensor, o: Common & { min?: number; max?: number } = {}): Tensor {
    const min = o.min ?? -1;
    const max = o.max ?? 1;
    // Clipping ±1 values to [−1, 1] leaves them binary.
    const precision: Precision = x.precision === 'bin' && min <= -1 && max >= 1 ? 'bin' : 'f32';
    return this.addNode('hardtanh', o.name ?? 'hardtanh', [x], { min, max }, same(x), precision, noParams, o);
  }

  maxpool(x: Tensor, o: PoolOptions): Tensor {
    return this.pool('maxpool', x, o, x.precision);
  }

  avgpool(x: Tensor, o: PoolOptions): Tensor {
    return this.pool('avgpool', x, o, 'f32');
  }

  globalAvgpool(x: Tensor, o: Common = {}): Tensor {
    if (!this.expectMap(x, 'global_avgpool', o.source)) return x;
    return this.addNode('global_avgpool', o.name ?? 'global_avgpool', [x], NO_ATTRS, [x.shape[0]], 'f32', noParams, o);
  }

  flatten(x: Tensor, o: Common = {}): Tensor {
    const size = x.shape.reduce((a, b) => a * b, 1);
    return this.addNode('flatten', o.name ?? 'flatten', [x], NO_ATTRS, [size], x.precision, noParams, o);
  }

  dropout(x: Tensor, o: Common & { rate: number }): Tensor {
    if (!(o.rate >= 0 && o.rate < 1)) this.report('bad-argument', `a dropout rate lies in [0, 1), got ${o.rate}`, o.source);
    return this.addNode('dropout', o.name ?? 'dropout', [x], { rate: o.rate }, same(x), x.precision, noParams, o);
  }

  add(a: Tensor, b: Tensor, o: Common = {}): Tensor {
    return this.addNode('add', o.name ?? 'add', [a, b], NO_ATTRS, same(a), 'f32', noParams, o);
  }

  /** The element-wise sum of two or more tensors (parallel branches joined by sum). */
  sum(xs: Tensor[], o: Common = {}): Tensor {
    return this.addNode('add', o.name ?? 'add', xs, NO_ATTRS, same(xs[0]), 'f32', noParams, o);
  }

  concat(xs: Tensor[], o: Common = {}): Tensor {
    const channels = xs.reduce((sum, t) => sum + t.shape[0], 0);
    const precision: Precision = xs.every((t) => t.precision === 'bin') ? 'bin' : 'f32';
    return this.addNode('concat', o.name ?? 'concat', xs, NO_ATTRS, [channels, ...xs[0].shape.slice(1)], precision, noParams, o);
  }

  // ---------------------------------------------------------------- finishing

  /** The graph whose output is `output`. Check it with `check()` before trusting it. */
  finish(output: Tensor): Graph {
    return {
      format: GRAPH_FORMAT,
      version: GRAPH_VERSION,
      name: this.options.name,
      input: [...this.options.input],
      classes: this.options.classes,
      nodes: [...this.nodes],
      output: output.id,
    };
  }

  /** Number of nodes so far. */
  get size(): number {
    return this.nodes.length;
  }

  /** Nodes that may still be added under the budget. */
  get remainingBudget(): number {
    return this.nodeBudget - this.nodes.length;
  }

  /** The full name a layer with this local name would get now (used by the elaborator for errors). */
  currentScope(): string {
    return this.prefix().replace(/\/$/, '');
  }

  // ---------------------------------------------------------------- internals

  private policy() {
    return this.policies[this.policies.length - 1];
  }

  private quantizer<U extends QuantizerUse>(spec: QuantizerSpec, use: U, source?: Span): QuantizerRef<QuantizerNameFor<U>> | null {
    const name = typeof spec === 'string' ? spec : spec.name;
    if (name === 'none') return null;
    const resolved = resolveQuantizer(name, typeof spec === 'string' ? {} : spec.args, use);
    if (resolved.ok) return resolved.ref;
    this.report('unknown-quantizer', resolved.message, source, resolved.hint);
    return null;
  }

  /**
   * Whether a conv's input is quantized once its input quantizer (`null`: none at all, `undefined`: the
   * binarize policy's) has run: values in {−1, +1}, or the output of a quantizer (k-bit, {0, 1}).
   */
  inputQuantized(x: Tensor, spec: QuantizerSpec | undefined | null): boolean {
    if (x.precision === 'bin' || this.nodes[x.id]?.op === 'quantize') return true;
    if (spec === null) return false;
    return (spec === undefined ? this.policy().activations : spec === 'none' ? null : spec) !== null;
  }

  private quantizeIfReal(x: Tensor, spec: QuantizerSpec | undefined, layer: string, kind: string, source?: Span): Tensor {
    // Values already quantized (±1, or a k-bit / {0, 1} quantizer's output) pass straight in.
    if (x.precision === 'bin' || this.nodes[x.id]?.op === 'quantize') return x;
    const q = spec === undefined ? this.policy().activations : this.quantizer(spec, 'activation', source);
    // `inputQuantizer: 'none'` keeps a real input (a binary kernel on real values, BinaryAlexNet's first layer).
    if (!q) {
      if (spec === undefined) {
        this.report('no-quantizer', `a binary ${kind} on a real-valued input needs an input quantizer`, source, 'set one for the model (binarize activations = ste_sign) or on the layer (input_quantizer = ...); input_quantizer = none keeps the real input (a binary kernel on real values)');
      }
      return x;
    }
    return this.addNode('quantize', `${layer}_sign`, [x], { quantizer: q }, same(x), outputsSign(q) ? 'bin' : 'f32', noParams, { source });
  }

  private convNode(x: Tensor, o: ConvOptions & { padValue?: number }, kernelQuantizer: QuantizerRef<WeightQuantizerName> | null, kernelClip: number | null, kind: string): Tensor {
    if (!this.expectMap(x, kind, o.source)) return x;
    const [cin, h, w] = x.shape;
    const kernel = pair(o.kernel);
    const stride = pair(o.stride ?? 1);
    const dilation = pair(o.dilation ?? 1);
    const groups = o.groups ?? 1;
    const pads = intern(resolvePads(o.padding ?? 'same', h, w, kernel, stride, dilation));
    const [oh, ow] = windowOutput(h, w, kernel, stride, pads, dilation);
    if (cin % groups !== 0 || o.filters % groups !== 0) {
      this.report('bad-argument', `groups = ${groups} must divide both the input channels (${cin}) and the filters (${o.filters})`, o.source, 'choose groups that divide both, e.g. groups = 1');
    }
    if (!(oh > 0 && ow > 0)) {
      this.report('shape', `a ${kernel.join('x')} ${kind} with stride ${stride[0]} on a ${h}×${w} map leaves no output`, o.source, 'use padding=same, or a smaller kernel or stride');
    }
    const binary = kernelQuantizer !== null;
    const bias = o.bias ?? false;
    return this.addNode(
      'conv',
      o.name ?? kind,
      [x],
      { filters: o.filters, kernel, stride, pads, dilation, groups, bias, kernelQuantizer, kernelClip: binary ? kernelClip : null, padValue: o.padValue ?? 0 },
      [o.filters, oh, ow],
      'f32',
      (n) => [
        o.fixedKernel
          ? { ...param(n, 'kernel', [o.filters, Math.floor(cin / groups), kernel[0], kernel[1]], 'fixed', { binary, trainable: false }), values: o.fixedKernel }
          : param(n, 'kernel', [o.filters, Math.floor(cin / groups), kernel[0], kernel[1]], o.init ?? 'glorot_normal', { binary }),
        ...(bias ? [param(n, 'bias', [o.filters], 'zeros')] : []),
      ],
      o,
    );
  }

  private denseNode(x: Tensor, o: DenseOptions, kernelQuantizer: QuantizerRef<WeightQuantizerName> | null, kernelClip: number | null, kind: string): Tensor {
    if (x.shape.length !== 1) {
      this.report('shape', `${kind} needs a vector input, got a ${x.shape.join('×')} map`, o.source, 'put global_avgpool or flatten before it');
      return x;
    }
    const binary = kernelQuantizer !== null;
    const bias = o.bias ?? !binary;
    return this.addNode(
      'dense',
      o.name ?? kind,
      [x],
      { units: o.units, bias, kernelQuantizer, kernelClip: binary ? kernelClip : null },
      [o.units],
      'f32',
      (n) => [
        param(n, 'kernel', [x.shape[0], o.units], o.init ?? 'glorot_normal', { binary }),
        ...(bias ? [param(n, 'bias', [o.units], 'zeros')] : []),
      ],
      o,
    );
  }

  private pool(op: 'maxpool' | 'avgpool', x: Tensor, o: PoolOptions, precision: Precision): Tensor {
    if (!this.expectMap(x, op, o.source)) return x;
    const [c, h, w] = x.shape;
    const kernel = pair(o.kernel);
    const stride = pair(o.stride ?? o.kernel);
    const pads = intern(resolvePads(o.padding ?? 'valid', h, w, kernel, stride, [1, 1]));
    const [oh, ow] = windowOutput(h, w, kernel, stride, pads, [1, 1]);
    if (!(oh > 0 && ow > 0)) {
      this.report('shape', `a ${kernel.join('x')} ${op} on a ${h}×${w} map leaves no output`, o.source, 'use padding=same, or a smaller window or stride');
    }
    return this.addNode(op, o.name ?? op, [x], { kernel, stride, pads }, [c, oh, ow], precision, noParams, o);
  }

  private joinNode(inputs: Tensor[], attrs: OpAttrs['join'], source?: Span): Tensor {
    const first = inputs[0].shape;
    const shape = attrs.mode === 'concat' ? [inputs.reduce((s, t) => s + t.shape[0], 0), ...first.slice(1)] : [...first];
    const precision: Precision = attrs.mode === 'max' && inputs.every((t) => t.precision === 'bin') ? 'bin' : 'f32';
    return this.addNode('join', this.nextIndexed('join'), inputs, attrs, shape, precision, noParams, { source }, true);
  }

  private expectMap(x: Tensor, kind: string, source?: Span): boolean {
    if (x.shape.length === 3) return true;
    this.report('shape', `${kind} needs a C×H×W feature map, got a vector of ${x.shape[0]}`, source, 'spatial layers go before global_avgpool / flatten');
    return false;
  }

  private addNode<K extends OpKind>(
    op: K,
    local: string,
    inputs: Tensor[],
    attrs: OpAttrs[K],
    shape: number[],
    precision: Precision,
    params: (nodeName: string) => ParamSpec[],
    common: Common,
    /** The local name was already claimed (by nextIndexed). */
    claimed = false,
  ): Tensor {
    if (this.nodes.length >= this.nodeBudget) throw new NodeBudgetExceeded(this.nodeBudget);
    const name = claimed ? local : this.uniqueLocal(local);
    const full = this.prefix() + name;
    const id = this.nodes.length;
    const ids = inputs.map((t) => t.id);
    // One literal per case keeps a single compact object layout (a property added later would not).
    const node: NodeOf<K> = common.source
      ? { id, name: full, op, inputs: ids, attrs, shape, precision, params: params(full), source: common.source }
      : { id, name: full, op, inputs: ids, attrs, shape, precision, params: params(full) };
    this.nodes.push(node as unknown as GraphNode);
    // The node itself serves as the tensor handle (id, shape, precision): one object less per node.
    return node;
  }

  private prefix(): string {
    return this.frames[this.frames.length - 1].prefix;
  }

  private frame(): ScopeFrame {
    return this.frames[this.frames.length - 1];
  }

  /**
   * Opens the scope `name` (already claimed in the current frame). Scopes made by `scope` and `block`
   * have unique names and are never re-entered; `persistent` ones (fractal columns) keep their frame.
   */
  private enter(name: string, persistent = false): void {
    const prefix = `${this.prefix()}${name}/`;
    if (!persistent) {
      this.frames.push(newFrame(prefix));
      return;
    }
    let frame = this.framesByPrefix.get(prefix);
    if (!frame) {
      frame = newFrame(prefix);
      this.framesByPrefix.set(prefix, frame);
    }
    this.frames.push(frame);
  }

  /** `name`, or `name_1`, `name_2`, ... when the name is taken in the current scope. */
  private uniqueLocal(local: string): string {
    const frame = this.frame();
    const used = (frame.used ??= new Set());
    const suffixes = (frame.suffixes ??= new Map());
    // Resume from the last suffix handed out, so n repeats cost O(n), not O(n²).
    let k = suffixes.get(local) ?? 0;
    let candidate = k === 0 ? local : `${local}_${k}`;
    while (used.has(candidate)) candidate = `${local}_${++k}`;
    suffixes.set(local, k + 1);
    used.add(candidate);
    return candidate;
  }

  /** Enters a scope by its exact name, claiming it on first use; fractal columns are entered many times. */
  private reenter<T>(name: string, fn: () => T): T {
    (this.frame().used ??= new Set()).add(name);
    this.enter(name, true);
    try {
      return fn();
    } finally {
      this.frames.pop();
    }
  }

  /** `name1`, `name2`, ... numbered per name within the current scope. */
  private nextIndexed(name: string): string {
    const frame = this.frame();
    const used = (frame.used ??= new Set());
    const indices = (frame.indices ??= new Map());
    let k = indices.get(name) ?? 0;
    let candidate: string;
    do candidate = `${name}${++k}`;
    while (used.has(candidate));
    indices.set(name, k);
    used.add(candidate);
    return candidate;
  }

  private report(code: string, message: string, source?: Span, hint?: string): void {
    this.diagnostics.push(error(code, message, source, hint));
  }
}

/** Names used in one scope, and the counters that hand out `name_k` and `name{k}` (created on first use). */
interface ScopeFrame {
  prefix: string;
  used?: Set<string>;
  suffixes?: Map<string, number>;
  indices?: Map<string, number>;
}

const newFrame = (prefix: string): ScopeFrame => ({ prefix });

function param(node: string, role: string, shape: number[], init: InitName, o: { binary?: boolean; trainable?: boolean } = {}): ParamSpec {
  return { name: `${node}/${role}`, role, shape, binary: o.binary ?? false, trainable: o.trainable ?? true, init };
}
