/**
 * `--binary-ops`: the ONNX model with SoFAr-domain binary operators. The official checker accepts it, the
 * domain is imported, and the packed kernels, multipliers and folded batch norms say exactly what the
 * graph's weights say (docs/operators.md), recomputed here from the weights.
 */
import { describe, expect, it } from 'vitest';
import { exportOnnx, SOFAR_DOMAIN } from '../../backends/onnx/index.js';
import { onnx, type ModelProto } from '../../backends/onnx/proto.js';
import { compile } from '../../src/compile.js';
import { checkerMissing, checkOnnx } from '../helpers/onnx-checker.js';
import { skipWithout } from '../helpers/requirements.js';
import { busyWeights } from '../helpers/values.js';
import { loadZoo, type ZooName } from './zoo.js';
import { initWeights } from '../../src/weights/init.js';


const BINARY_ZOO: ZooName[] = ['bireal-resnet18', 'bireal-resnet34', 'binarydensenet28', 'rf-c4d8-resnet37', 'drf-c2d2-densenet51', 'fashion/bireal-small', 'fashion/rf-c3-small', 'fashion/drf-c2-small'];

const SMALL = `
model small {
  input 5x6x6
  classes 4
  binarize activations = ste_sign, weights = magnitude_aware_sign
  conv 3x3 70 padding=1
  bconv 3x3 67 /2 bias=true
  bn
  sign
  bconv 1x1 9 groups=1 kernel_quantizer=ste_sign
  relu
  global_avgpool
  bdense 4
}`;

function tensor(model: ModelProto, name: string) {
  const t = model.graph!.initializer!.find((i) => i.name === name);
  expect(t, name).toBeDefined();
  const raw = t!.rawData!;
  return { dims: t!.dims!.map(Number), bytes: raw, floats: () => new Float32Array(new Uint8Array(raw).buffer) };
}

describe('--binary-ops export', () => {
  it.skipIf(skipWithout(checkerMissing()))('passes the official ONNX checker for every binary zoo spec, with ai.sofar imported', () => {
    const models = BINARY_ZOO.map((name) => {
      const graph = loadZoo(name);
      const bytes = exportOnnx(graph, initWeights(graph, 0), { binaryOps: true });
      const model = onnx.ModelProto.decode(bytes);
      expect(model.opsetImport!.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17], [SOFAR_DOMAIN, 1]]);
      const sofarOps = new Set(model.graph!.node!.filter((n) => n.domain === SOFAR_DOMAIN).map((n) => n.opType));
      expect([...sofarOps].sort()).toEqual(['BinaryConv2D', 'Sign']);
      return bytes;
    });
    const result = checkOnnx(models);
    expect(result.message).toBe('ok');
  });

  it('packs kernels along input channels (bit set = −1), and folds a lone batch norm into multiplier and bias', () => {
    const { graph } = compile(SMALL, 'small.sofar');
    const weights = busyWeights(graph!, 7);
    const model = onnx.ModelProto.decode(exportOnnx(graph!, weights, { binaryOps: true }));
    const nodes = model.graph!.node!;
    expect(nodes.filter((n) => n.opType === 'BatchNormalization')).toHaveLength(0);

    // bconv: kernel [67, 70, 3, 3] → uint8 [67, 3, 3, 9]; bit (c mod 8) of byte c/8 is 1 where W < 0.
    const kernel = weights.get('bconv/kernel')!;
    const bits = tensor(model, 'bconv/kernel/bits');
    expect(bits.dims).toEqual([67, 3, 3, 9]);
    for (let o = 0; o < 67; o++) {
      for (let c = 0; c < 70; c++) {
        for (let t = 0; t < 9; t++) {
          const negative = kernel[(o * 70 + c) * 9 + t] < 0;
          const bit = (bits.bytes[(o * 9 + t) * 9 + (c >> 3)] >> (c & 7)) & 1;
          expect(bit).toBe(negative ? 1 : 0);
        }
      }
      for (let t = 0; t < 9; t++) expect(bits.bytes[(o * 9 + t) * 9 + 8] >> 6).toBe(0); // channels 70, 71 do not exist
    }
    // multiplier = mean|W| · γ/√(σ² + ε), bias = γ(b − μ)/√(σ² + ε) + β.
    const [gamma, beta, mean, variance] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((r) => weights.get(`bn/${r}`)!);
    const b = weights.get('bconv/bias')!;
    const conv = nodes.find((n) => n.opType === 'BinaryConv2D')!;
    const multiplier = tensor(model, conv.input![2]).floats();
    const bias = tensor(model, conv.input![3]).floats();
    for (let o = 0; o < 67; o++) {
      let abs = 0;
      for (let i = 0; i < 70 * 9; i++) abs += Math.abs(kernel[o * 70 * 9 + i]);
      const scale = gamma[o] / Math.sqrt(variance[o] + 1e-5);
      expect(multiplier[o]).toBeCloseTo((abs / 630) * scale, 5);
      expect(bias[o]).toBeCloseTo(scale * (b[o] - mean[o]) + beta[o], 5);
    }
    const attr = (name: string) => conv.attribute!.find((a) => a.name === name)!;
    expect(attr('strides').ints!.map(Number)).toEqual([2, 2]);
    expect(Number(attr('pad_value').i)).toBe(0);

    // The plain-sign 1×1 conv keeps multiplier 1 and no bias; the dense kernel is [out, ⌈in/8⌉].
    const plain = nodes.filter((n) => n.opType === 'BinaryConv2D')[1];
    expect(Array.from(tensor(model, plain.input![2]).floats())).toEqual(new Array(9).fill(1));
    expect(plain.input).toHaveLength(3);
    const dense = nodes.find((n) => n.opType === 'BinaryDense')!;
    expect(tensor(model, dense.input![1]).dims).toEqual([4, 2]);
  });

  it('is refused with --int or --no-pack', () => {
    const graph = loadZoo('fashion/bireal-small');
    expect(() => exportOnnx(graph, initWeights(graph, 0), { binaryOps: true, integer: true })).toThrow(/no integer form/);
  });
});
