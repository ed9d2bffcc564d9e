/**
 * Small graphs, built with the GraphBuilder, that each exercise one construct of today's binary nets
 * (issue 20): learnable biases, sigmoid, squeeze-and-excite multiply, MeliusNet's add-into, n-ary sums
 * and concats, one-padded binary convs, binary kernels on real inputs, depthwise and grouped convs,
 * fixed kernels, batch norm without scale/center, and the new quantizers.
 */
import { GraphBuilder, type QuantizerSpec, type Tensor } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/types.js';

export interface ConstructCase {
  name: string;
  graph: Graph;
}

const CLASSES = 4;

/** QuickNet's blur-pool kernel [1, 2, 1] ⊗ [1, 2, 1] / 16, one per channel. */
export function blurKernel(channels: number): number[] {
  const taps = [1, 2, 1].flatMap((a) => [1, 2, 1].map((b) => (a * b) / 16));
  return Array.from({ length: channels }, () => taps).flat();
}

function build(name: string, body: (b: GraphBuilder, x: Tensor) => Tensor, binarize: { activations?: QuantizerSpec; weights?: QuantizerSpec } = {}): ConstructCase {
  const b = new GraphBuilder({ name: name.replace(/\W+/g, '_'), input: [3, 8, 8], classes: CLASSES, binarize: { activations: 'ste_sign', weights: 'magnitude_aware_sign', ...binarize } });
  let y = body(b, b.input());
  if (y.shape.length === 3) y = b.globalAvgpool(y);
  const graph = b.finish(b.dense(y, { name: 'head', units: CLASSES }));
  if (b.diagnostics.length) throw new Error(b.diagnostics.map((d) => d.message).join('\n'));
  return { name, graph };
}

const stem = (b: GraphBuilder, x: Tensor, filters = 6) => b.batchnorm(b.conv(x, { name: 'stem', filters, kernel: 3 }));

export function constructCases(): ConstructCase[] {
  return [
    build('bias and sigmoid', (b, x) => b.sigmoid(b.bias(stem(b, x)))),
    build('squeeze-and-excite: multiply by a sigmoid vector [C]', (b, x) => {
      const y = stem(b, x);
      const s = b.sigmoid(b.dense(b.relu(b.dense(b.globalAvgpool(y), { units: 3 })), { units: 6 }));
      return b.multiply(y, s);
    }),
    build('multiply by a map of the same shape', (b, x) => {
      const y = stem(b, x);
      return b.multiply(y, b.sigmoid(b.conv(y, { filters: 6, kernel: 1 })));
    }),
    build('add_into the last channels (MeliusNet) and at an offset', (b, x) => {
      const y = stem(b, x, 8);
      const last = b.addInto(y, b.conv(y, { filters: 3, kernel: 3 }));
      return b.addInto(last, b.conv(last, { filters: 2, kernel: 1 }), { offset: 2 });
    }),
    build('n-ary sum and concat of parallel branches', (b, x) => {
      const y = stem(b, x, 4);
      const branches = [1, 3, 5].map((k) => b.conv(y, { filters: 4, kernel: k }));
      return b.concat([b.sum(branches), ...branches.slice(1)]);
    }),
    build('binary convs with one-padding (strided, asymmetric pads, grouped)', (b, x) => {
      const y = stem(b, x);
      const one = b.batchnorm(b.bconv(y, { filters: 6, kernel: 3, padValue: 1 }));
      const strided = b.batchnorm(b.bconv(one, { filters: 6, kernel: 3, stride: 2, padValue: 1, kernelQuantizer: 'ste_sign' }));
      // A bias, but no batch norm after it (which would make its gradient 0 exactly: float32 noise).
      return b.bconv(strided, { filters: 6, kernel: 3, groups: 2, padValue: 1, bias: true });
    }),
    build('binary kernels on real inputs (BinaryAlexNet first layer, binary dense)', (b, x) => {
      const y = b.batchnorm(b.bconv(x, { filters: 6, kernel: 3, stride: 2, inputQuantizer: 'none' }));
      return b.bdense(b.globalAvgpool(b.relu(y)), { units: 5, inputQuantizer: 'none', kernelQuantizer: 'ste_sign' });
    }),
    build('DoReFa: k-bit activations into a layer-scaled binary conv', (b, x) => {
      const dorefa: QuantizerSpec = { name: 'dorefa', args: { k_bit: 2 } };
      return b.batchnorm(b.bconv(stem(b, x), { filters: 6, kernel: 3, inputQuantizer: dorefa, kernelQuantizer: 'magnitude_aware_sign_unclipped' }));
    }),
    // No batch norm right after the binary layers (it would cancel the scale's gradient), and 7 inputs
    // per output (odd: a sum of ±1 products is never 0, which would cancel it too).
    build('XNOR-Net: xnor_weight_scale conv and dense', (b, x) => {
      const y = b.relu(b.bconv(stem(b, x, 7), { filters: 7, kernel: 1, kernelQuantizer: 'xnor_weight_scale' }));
      return b.bdense(b.globalAvgpool(y), { units: 5, kernelQuantizer: 'xnor_weight_scale' });
    }),
    build('ste_heaviside activations', (b, x) => b.conv(b.sign(stem(b, x), { quantizer: 'ste_heaviside' }), { filters: 4, kernel: 3 })),
    build('depthwise convs: float, and binary with one-padding', (b, x) => {
      const y = stem(b, x);
      const dw = b.batchnorm(b.conv(y, { filters: 12, kernel: 3, groups: 6 }));
      return b.batchnorm(b.bconv(dw, { filters: 12, kernel: 3, groups: 12, padValue: 1 }));
    }),
    build("large VALID binary kernel acting as a dense layer (XNOR-Net's 6×6)", (b, x) => {
      const y = b.maxpool(stem(b, x), { kernel: 2, stride: 1, padding: 'valid' });
      return b.flatten(b.bconv(y, { filters: 5, kernel: 7, padding: 'valid', kernelQuantizer: 'xnor_weight_scale' }));
    }),
    build('fixed blur-pool kernel (depthwise, stride 2)', (b, x) => {
      const y = stem(b, x);
      return b.conv(y, { name: 'blur', filters: 6, kernel: 3, stride: 2, groups: 6, fixedKernel: blurKernel(6) });
    }),
    build('batch norm without scale, without center, without both', (b, x) => {
      const y = b.batchnorm(b.conv(x, { filters: 6, kernel: 3 }), { scale: false });
      const z = b.batchnorm(b.bconv(y, { filters: 6, kernel: 3 }), { center: false });
      return b.batchnorm(b.relu(z), { scale: false, center: false });
    }),
  ];
}
