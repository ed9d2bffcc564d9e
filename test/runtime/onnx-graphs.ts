/**
 * Small ONNX models written by hand (backends/onnx/proto.ts), for the runtime's tests of operators before
 * and besides what the exporter writes: a graph is built twice from the same seeded weights, once with
 * SoFAr's binary operators (`ai.sofar`, for the runtime) and once with their standard-ONNX equivalents
 * (for onnxruntime): Sign as Where(x ≥ 0, 1, −1); BinaryConv2D as a float Conv of the ±1 kernel on the
 * signs, padded with the pad value first, then Mul by the multiplier and Add of the bias.
 */
import { OnnxGraph } from '../../backends/onnx/proto.js';
import { SOFAR_DOMAIN, SOFAR_OPSET } from '../../backends/onnx/binary-ops.js';
import { Rng } from './kernels-reference.js';

type Attrs = Record<string, number | number[] | string>;

export class TestGraph {
  readonly g: OnnxGraph;
  private count = 0;
  readonly rng: Rng;

  constructor(
    /** true: ai.sofar operators; false: their standard equivalents. */
    readonly binaryOps: boolean,
    readonly input: [number, number, number],
    seed: number,
  ) {
    this.g = new OnnxGraph('test');
    this.g.input('x', 'float32', ['batch', ...input]);
    this.rng = new Rng(seed);
  }

  get x(): string {
    return 'x';
  }

  op(type: string, inputs: string[], attrs: Attrs = {}, floatAttrs: string[] = []): string {
    const out = `${type.toLowerCase()}_${this.count++}`;
    this.g.node(type, inputs, [out], attrs, { floatAttrs });
    return out;
  }

  /** A float32 weight of these dims: given values, or seeded uniform in [lo, hi). */
  weight(dims: number[], values?: ArrayLike<number>, lo = -1, hi = 1): string {
    const size = dims.reduce((a, b) => a * b, 1);
    const data = values ? Float32Array.from(values) : Float32Array.from({ length: size }, () => Math.fround(lo + (hi - lo) * (this.rng.float() + 1) / 2));
    return this.g.constant('float32', dims, data, 'w');
  }

  ints(values: number[]): string {
    return this.g.int64s(values);
  }

  sign(x: string): string {
    if (this.binaryOps) {
      const out = `sign_${this.count++}`;
      this.g.node('Sign', [x], [out], {}, { domain: SOFAR_DOMAIN });
      return out;
    }
    const ge = this.op('GreaterOrEqual', [x, this.g.scalar(0)]);
    return this.op('Where', [ge, this.g.scalar(1), this.g.scalar(-1)]);
  }

  /** A binary conv on sign(x) with seeded ±1 weights, multiplier and bias (BinaryConv2D's semantics). */
  bconv(x: string, cin: number, cout: number, k: number, o: { stride?: number; pad?: number; padValue?: number; group?: number } = {}): string {
    const { stride = 1, pad = 0, padValue = 0, group = 1 } = o;
    const cg = cin / group;
    const signs = Array.from({ length: cout * cg * k * k }, () => this.rng.sign());
    const multiplier = Float32Array.from({ length: cout }, () => Math.fround(0.2 + 0.3 * Math.abs(this.rng.float())));
    const bias = Float32Array.from({ length: cout }, () => this.rng.float());
    const attrs = { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], group };
    if (this.binaryOps) {
      const bytes = Math.ceil(cg / 8);
      const bits = new Uint8Array(cout * k * k * bytes);
      for (let oc = 0; oc < cout; oc++)
        for (let c = 0; c < cg; c++)
          for (let i = 0; i < k; i++)
            for (let j = 0; j < k; j++) if (signs[((oc * cg + c) * k + i) * k + j] < 0) bits[((oc * k + i) * k + j) * bytes + (c >> 3)] |= 1 << (c & 7);
      const w = this.g.constant('uint8', [cout, k, k, bytes], bits, 'bits');
      const out = `bconv_${this.count++}`;
      this.g.node('BinaryConv2D', [x, w, this.weight([cout], multiplier), this.weight([cout], bias)], [out], { ...attrs, pad_value: padValue }, { domain: SOFAR_DOMAIN });
      return out;
    }
    let input = x;
    let pads = attrs.pads;
    if (padValue !== 0 && pad > 0) {
      input = this.op('Pad', [x, this.ints([0, 0, pad, pad, 0, 0, pad, pad]), this.g.scalar(padValue)], { mode: 'constant' });
      pads = [0, 0, 0, 0];
    }
    const conv = this.op('Conv', [input, this.weight([cout, cg, k, k], signs)], { ...attrs, pads });
    return this.op('Add', [this.op('Mul', [conv, this.weight([cout, 1, 1], multiplier)]), this.weight([cout, 1, 1], bias)]);
  }

  conv(x: string, cin: number, cout: number, k: number, o: { stride?: number; pads?: number[]; group?: number; bias?: boolean; weights?: number[] } = {}): string {
    const { stride = 1, pads = [0, 0, 0, 0], group = 1, bias = true } = o;
    const inputs = [x, this.weight([cout, cin / group, k, k], o.weights)];
    if (bias) inputs.push(this.weight([cout]));
    return this.op('Conv', inputs, { kernel_shape: [k, k], strides: [stride, stride], pads, group });
  }

  batchnorm(x: string, c: number): string {
    return this.op('BatchNormalization', [x, this.weight([c], undefined, 0.5, 1.5), this.weight([c]), this.weight([c]), this.weight([c], undefined, 0.5, 2)], { epsilon: 1e-3 }, ['epsilon']);
  }

  /** Global average pool, flatten, a dense layer to `classes`: the logits. */
  head(x: string, c: number, classes: number): string {
    const flat = this.op('Flatten', [this.op('GlobalAveragePool', [x])], { axis: 1 });
    return this.op('Gemm', [flat, this.weight([c, classes]), this.weight([classes])]);
  }

  encode(output: string, classes: number): Uint8Array {
    this.g.output(output, 'float32', ['batch', classes]);
    return this.g.encode({ producerVersion: 'test', opsets: this.binaryOps ? { [SOFAR_DOMAIN]: SOFAR_OPSET } : {} });
  }
}

/** The same graph, built by `build`, for the runtime (binary ops) and for onnxruntime (standard ops). */
export function twoVariants(input: [number, number, number], seed: number, build: (t: TestGraph) => { output: string; classes: number }): { runtime: Uint8Array; standard: Uint8Array } {
  const variant = (binaryOps: boolean) => {
    const t = new TestGraph(binaryOps, input, seed);
    const { output, classes } = build(t);
    return t.encode(output, classes);
  };
  return { runtime: variant(true), standard: variant(false) };
}
