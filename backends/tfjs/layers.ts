/**
 * SoFAr's Keras layers for TensorFlow.js, registered for serialisation so a saved `model.json` loads
 * with `tf.loadLayersModel` (in Node or the browser) once `registerSofarLayers(tf)` has run. Each
 * layer's `call` is the ops.ts function of its node kind, and its config is the node's attributes.
 * Standard layers (batch norm, ReLU, PReLU, sigmoid, pooling to a vector, add, concatenate, dropout)
 * are tfjs' own. This module is browser-safe: it touches no Node API.
 */
import { windowOutput } from '../../src/graph/shapes.js';
import type { JoinMode, OpAttrs, Pads, Pair, QuantizerRef } from '../../src/graph/types.js';
import { quantizerDef } from '../../src/quantizers.js';
import * as ops from './ops.js';
import { quantize } from './quantizers.js';
import { defaultTf, type LayerVariable, type Tensor, type Tf } from './tf.js';

type LayerArgs = NonNullable<ConstructorParameters<Tf['layers']['Layer']>[0]>;
type Shape = (number | null)[];
type ConfigDict = ReturnType<InstanceType<Tf['layers']['Layer']>['getConfig']>;

/** `kernelTrainable: false` for a fixed kernel (QuickNet's blur pool): a non-trainable Keras weight. */
export type ConvConfig = LayerArgs & OpAttrs['conv'] & { kernelTrainable?: boolean };
export type DenseConfig = LayerArgs & OpAttrs['dense'];
export type QuantizerConfig = LayerArgs & { quantizer: QuantizerRef };
export type Pool2DConfig = LayerArgs & { mode: 'max' | 'avg'; kernel: Pair; stride: Pair; pads: Pads };
export type HardtanhConfig = LayerArgs & { min: number; max: number };
export type JoinConfig = LayerArgs & { mode: JoinMode; columns: number[]; dropPath: { local: number; global: number } };
export type AddIntoConfig = LayerArgs & OpAttrs['add_into'];

const single = (inputs: Tensor | Tensor[]): Tensor => (Array.isArray(inputs) ? inputs[0] : inputs);
const singleShape = (shape: Shape | Shape[]): Shape => (Array.isArray(shape[0]) ? (shape[0] as Shape) : (shape as Shape));

/**
 * A quantizer reference as a saved config gives it back: Keras writes config keys in snake_case and
 * reads them back in camelCase, so `dorefa(k_bit=2)` returns as `{ kBit: 2 }`. Restores the registry's names.
 */
function quantizerFromConfig<Q extends QuantizerRef | null>(q: Q): Q {
  if (!q) return q;
  const args: Record<string, number> = {};
  for (const key of Object.keys(quantizerDef(q.name).args)) {
    const value = q.args[key] ?? q.args[key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())];
    if (value !== undefined) args[key] = value;
  }
  return { name: q.name, args } as Q;
}

/** Keras configs are plain JSON values. */
const asConfig = (value: object): ConfigDict => JSON.parse(JSON.stringify(value)) as ConfigDict;

function windowShape(input: Shape, kernel: Pair, stride: Pair, pads: Pads, dilation: Pair, channels: number | null): Shape {
  const [n, h, w, c] = input;
  const [oh, ow] = windowOutput(h as number, w as number, kernel, stride, pads, dilation);
  return [n, oh, ow, channels ?? c];
}

type Layer = InstanceType<Tf['layers']['Layer']>;
type LayerClass<C> = (new (config: C) => Layer) & { className: string };

export interface SofarLayers {
  SofarQuantConv2D: LayerClass<ConvConfig>;
  SofarQuantDense: LayerClass<DenseConfig>;
  SofarQuantizer: LayerClass<QuantizerConfig>;
  SofarPool2D: LayerClass<Pool2DConfig>;
  SofarHardtanh: LayerClass<HardtanhConfig>;
  SofarFlatten: LayerClass<LayerArgs>;
  SofarJoin: LayerClass<JoinConfig>;
  SofarBias: LayerClass<LayerArgs>;
  SofarMultiply: LayerClass<LayerArgs>;
  SofarAddInto: LayerClass<AddIntoConfig>;
}

type Serializable = Parameters<Tf['serialization']['registerClass']>[0];

function defineLayers(tf: Tf): SofarLayers {
  const Layer = tf.layers.Layer;
  const zeros = () => tf.initializers.zeros();

  /** Convolution, real or binary (Larq's QuantConv2D), with explicit pads and groups. */
  class SofarQuantConv2D extends Layer {
    static className = 'SofarQuantConv2D';
    readonly attrs: OpAttrs['conv'];
    readonly kernelTrainable: boolean;
    private kernel?: LayerVariable;
    private bias?: LayerVariable;

    constructor(config: ConvConfig) {
      super(config);
      const { filters, kernel, stride, pads, dilation, groups, bias, kernelQuantizer, kernelClip, padValue } = config;
      this.attrs = { filters, kernel, stride, pads, dilation, groups, bias, kernelQuantizer: quantizerFromConfig(kernelQuantizer), kernelClip, padValue: padValue ?? 0 };
      this.kernelTrainable = config.kernelTrainable ?? true;
    }

    override build(inputShape: Shape | Shape[]): void {
      const channels = singleShape(inputShape)[3] as number;
      const { kernel, groups, filters } = this.attrs;
      this.kernel = this.addWeight('kernel', [kernel[0], kernel[1], channels / groups, filters], 'float32', zeros(), undefined, this.kernelTrainable);
      if (this.attrs.bias) this.bias = this.addWeight('bias', [filters], 'float32', zeros());
      this.built = true;
    }

    override call(inputs: Tensor | Tensor[]): Tensor {
      return tf.tidy(() => {
        const latent = this.kernel!.read();
        const kernel = ops.layerKernel(tf, latent, this.attrs);
        return ops.conv(tf, single(inputs), kernel, this.bias ? this.bias.read() : null, this.attrs);
      });
    }

    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      const a = this.attrs;
      return windowShape(singleShape(inputShape), a.kernel, a.stride, a.pads, a.dilation, a.filters);
    }

    override getConfig(): ConfigDict {
      return { ...asConfig(this.attrs), kernelTrainable: this.kernelTrainable, ...super.getConfig() };
    }
  }

  /** Fully connected layer, real or binary (Larq's QuantDense); kernel `[in, out]`. */
  class SofarQuantDense extends Layer {
    static className = 'SofarQuantDense';
    readonly attrs: OpAttrs['dense'];
    private kernel?: LayerVariable;
    private bias?: LayerVariable;

    constructor(config: DenseConfig) {
      super(config);
      const { units, bias, kernelQuantizer, kernelClip } = config;
      this.attrs = { units, bias, kernelQuantizer: quantizerFromConfig(kernelQuantizer), kernelClip };
    }

    override build(inputShape: Shape | Shape[]): void {
      const features = singleShape(inputShape)[1] as number;
      this.kernel = this.addWeight('kernel', [features, this.attrs.units], 'float32', zeros());
      if (this.attrs.bias) this.bias = this.addWeight('bias', [this.attrs.units], 'float32', zeros());
      this.built = true;
    }

    override call(inputs: Tensor | Tensor[]): Tensor {
      return tf.tidy(() => {
        const kernel = ops.layerKernel(tf, this.kernel!.read(), this.attrs);
        return ops.dense(tf, single(inputs), kernel, this.bias ? this.bias.read() : null);
      });
    }

    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      return [singleShape(inputShape)[0], this.attrs.units];
    }

    override getConfig(): ConfigDict {
      return { ...asConfig(this.attrs), ...super.getConfig() };
    }
  }

  /** An activation quantizer (Larq's QuantIdentity): {−1, +1}, {0, 1} or k-bit levels. */
  class SofarQuantizer extends Layer {
    static className = 'SofarQuantizer';
    readonly quantizer: QuantizerRef;

    constructor(config: QuantizerConfig) {
      super(config);
      this.quantizer = quantizerFromConfig(config.quantizer);
    }

    override call(inputs: Tensor | Tensor[]): Tensor {
      return tf.tidy(() => quantize(tf, single(inputs), this.quantizer));
    }

    override getConfig(): ConfigDict {
      return { quantizer: asConfig(this.quantizer), ...super.getConfig() };
    }
  }

  /** Max or average pooling with explicit pads (padding never wins a max, nor counts in a mean). */
  class SofarPool2D extends Layer {
    static className = 'SofarPool2D';
    readonly attrs: Omit<Pool2DConfig, keyof LayerArgs>;

    constructor(config: Pool2DConfig) {
      super(config);
      const { mode, kernel, stride, pads } = config;
      this.attrs = { mode, kernel, stride, pads };
    }

    override call(inputs: Tensor | Tensor[]): Tensor {
      return tf.tidy(() => (this.attrs.mode === 'max' ? ops.maxpool : ops.avgpool)(tf, single(inputs), this.attrs));
    }

    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      const a = this.attrs;
      return windowShape(singleShape(inputShape), a.kernel, a.stride, a.pads, [1, 1], null);
    }

    override getConfig(): ConfigDict {
      return { ...asConfig(this.attrs), ...super.getConfig() };
    }
  }

  /** clip(x, min, max). */
  class SofarHardtanh extends Layer {
    static className = 'SofarHardtanh';
    readonly attrs: OpAttrs['hardtanh'];

    constructor(config: HardtanhConfig) {
      super(config);
      this.attrs = { min: config.min, max: config.max };
    }

    override call(inputs: Tensor | Tensor[]): Tensor {
      return tf.tidy(() => ops.hardtanh(tf, single(inputs), this.attrs));
    }

    override getConfig(): ConfigDict {
      return { ...asConfig(this.attrs), ...super.getConfig() };
    }
  }

  /** Flattens in the graph's C, H, W order (not Keras' H, W, C), so dense kernels keep their layout. */
  class SofarFlatten extends Layer {
    static className = 'SofarFlatten';

    override call(inputs: Tensor | Tensor[]): Tensor {
      return tf.tidy(() => ops.flatten(tf, single(inputs)));
    }

    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      const [n, ...rest] = singleShape(inputShape);
      return [n, rest.reduce((a: number, b) => a * (b as number), 1)];
    }
  }

  /** A fractal join at inference: mean, sum, max or concat of all inputs (drop-path is for training). */
  class SofarJoin extends Layer {
    static className = 'SofarJoin';
    readonly attrs: Omit<JoinConfig, keyof LayerArgs>;

    constructor(config: JoinConfig) {
      super(config);
      const { mode, columns, dropPath } = config;
      this.attrs = { mode, columns, dropPath };
    }

    override call(inputs: Tensor | Tensor[]): Tensor {
      return tf.tidy(() => ops.join(tf, Array.isArray(inputs) ? inputs : [inputs], this.attrs.mode));
    }

    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      const shapes = inputShape as Shape[];
      if (this.attrs.mode !== 'concat') return shapes[0];
      const last = shapes[0].length - 1;
      return [...shapes[0].slice(0, last), shapes.reduce((sum, s) => sum + (s[last] as number), 0)];
    }

    override getConfig(): ConfigDict {
      return { ...asConfig(this.attrs), ...super.getConfig() };
    }
  }

  /** A learnable shift a channel, x + b[c] (ReActNet's LearnableBias); weight `bias` `[C]`. */
  class SofarBias extends Layer {
    static className = 'SofarBias';
    private bias?: LayerVariable;

    override build(inputShape: Shape | Shape[]): void {
      const shape = singleShape(inputShape);
      this.bias = this.addWeight('bias', [shape[shape.length - 1] as number], 'float32', zeros());
      this.built = true;
    }

    override call(inputs: Tensor | Tensor[]): Tensor {
      return tf.tidy(() => ops.bias(tf, single(inputs), this.bias!.read()));
    }
  }

  /** x ⊙ s, s of x's shape or a per-channel vector broadcast over H and W (squeeze-and-excite). */
  class SofarMultiply extends Layer {
    static className = 'SofarMultiply';

    override call(inputs: Tensor | Tensor[]): Tensor {
      const [x, s] = inputs as Tensor[];
      return tf.tidy(() => ops.multiply(tf, x, s));
    }

    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      return (inputShape as Shape[])[0];
    }
  }

  /** The first input with the second added into its channels from `offset` on (MeliusNet). */
  class SofarAddInto extends Layer {
    static className = 'SofarAddInto';
    readonly offset: number;

    constructor(config: AddIntoConfig) {
      super(config);
      this.offset = config.offset;
    }

    override call(inputs: Tensor | Tensor[]): Tensor {
      const [x, z] = inputs as Tensor[];
      return tf.tidy(() => ops.addInto(tf, x, z, this.offset));
    }

    override computeOutputShape(inputShape: Shape | Shape[]): Shape {
      return (inputShape as Shape[])[0];
    }

    override getConfig(): ConfigDict {
      return { offset: this.offset, ...super.getConfig() };
    }
  }

  return { SofarQuantConv2D, SofarQuantDense, SofarQuantizer, SofarPool2D, SofarHardtanh, SofarFlatten, SofarJoin, SofarBias, SofarMultiply, SofarAddInto };
}

// One set of classes per tfjs-layers instance (the pure-JS and native packages share one when deduplicated).
const defined = new WeakMap<object, SofarLayers>();

/** SoFAr's layer classes for this tfjs module, registered for (de)serialisation. Idempotent. */
export function registerSofarLayers(tf: Tf = defaultTf): SofarLayers {
  let layers = defined.get(tf.layers.Layer);
  if (!layers) {
    layers = defineLayers(tf);
    for (const cls of Object.values(layers)) tf.serialization.registerClass(cls as unknown as Serializable);
    defined.set(tf.layers.Layer, layers);
  }
  return layers;
}
