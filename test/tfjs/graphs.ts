/** Small graphs and weights shared by the tfjs tests (1–2 channels in, 8×8 maps: fast on the pure-JS CPU). */
import { GraphBuilder, type Tensor } from '../../src/graph/builder.js';
import type { Graph, JoinMode, WeightMap } from '../../src/graph/types.js';
import { someNoise as sharedNoise } from '../helpers/values.js';

/**
 * Every node kind with its awkward cases: asymmetric `same` pads, stride, dilation, groups, bias, all
 * quantizers, both shortcut kinds, joins of every mode, padded pools, vectors after the maps.
 * `binary: false` keeps every value real (for finite-difference gradients).
 */
export function everyOpGraph(binary = true): Graph {
  const b = new GraphBuilder({ name: 'every_op', input: [2, 8, 8], classes: 3, binarize: { activations: 'ste_sign', weights: 'ste_sign' } });
  let x: Tensor = b.conv(b.input(), { name: 'stem', filters: 4, kernel: 3, stride: 2, padding: 'same', bias: true }); // pads [0, 0, 1, 1]
  x = b.batchnorm(x);
  x = b.prelu(x);
  x = b.conv(x, { name: 'dilated', filters: 4, kernel: 3, dilation: 2, padding: 'same', groups: 2 });
  x = b.hardtanh(x, { min: -0.8, max: 0.9 });
  x = todaysConstructs(b, x, binary);
  if (binary) {
    x = b.residual(x, (z) => b.batchnorm(b.bconv(z, { filters: 4, kernel: 3, kernelQuantizer: 'magnitude_aware_sign', inputQuantizer: 'approx_sign' })));
    x = b.denseShortcut(x, (z) => b.bconv(b.sign(z, { quantizer: { name: 'swish_sign', args: { beta: 3 } } }), { filters: 2, kernel: 3, kernelQuantizer: 'ste_sign' }));
  } else {
    x = b.residual(x, (z) => b.batchnorm(b.conv(z, { filters: 4, kernel: 3 })));
    x = b.denseShortcut(x, (z) => b.conv(z, { filters: 2, kernel: 3 }));
  }
  const modes: JoinMode[] = ['mean', 'max', 'sum', 'concat'];
  modes.forEach((mode, i) => {
    // Units alternate ReLU and batch norm, so that later signs see values of both signs.
    x = b.fractal(x, { columns: i === 0 ? 3 : 2, join: mode, dropPath: 0.2, globalDropPath: 0.5, scope: `fractal_${mode}` }, (z) =>
      i % 2 === 0 ? b.relu(b.conv(z, { filters: 3, kernel: 3 })) : b.batchnorm(b.conv(z, { filters: 3, kernel: 3 })),
    );
  });
  x = b.maxpool(x, { kernel: 3, stride: 2, padding: 'same' });
  x = b.avgpool(x, { kernel: 3, stride: 1, padding: 'same' });
  x = b.dropout(x, { rate: 0.25 });
  let v = b.batchnorm(b.concat([b.globalAvgpool(x), b.flatten(x)]), { center: false });
  v = binary ? b.bdense(v, { units: 5, kernelQuantizer: 'magnitude_aware_sign', inputQuantizer: 'ste_sign' }) : b.dense(v, { units: 5 });
  v = b.batchnorm(v);
  v = b.prelu(v);
  v = b.dense(v, { units: 3 });
  if (b.diagnostics.length) throw new Error(b.diagnostics.map((d) => d.message).join('\n'));
  return b.finish(v);
}

/** QuickNet's blur-pool kernel [1, 2, 1] ⊗ [1, 2, 1] / 16, one per channel (a depthwise conv). */
export function blurKernel(channels: number): number[] {
  const taps = [1, 2, 1];
  const one = taps.flatMap((a) => taps.map((c) => (a * c) / 16));
  return Array.from({ length: channels }, () => one).flat();
}

/**
 * The constructs of today's binary nets on a 4-channel map (issue 20): a fixed depthwise blur kernel,
 * a learnable bias, batch norms without scale or centre, three parallel branches joined by sum and by
 * concat, squeeze-and-excite scaling (vector and same-shape multiply), add_into the middle channels,
 * and (binary) one-padding, XNOR-Net's scale, DoReFa's layer scale, ste_heaviside and dorefa.
 */
function todaysConstructs(b: GraphBuilder, x: Tensor, binary: boolean): Tensor {
  x = b.conv(x, { name: 'blur', filters: 4, kernel: 3, groups: 4, fixedKernel: blurKernel(4) });
  x = b.bias(b.batchnorm(x, { scale: false, name: 'bn_no_scale' }));
  const branch = (name: string) => b.conv(x, { name, filters: 4, kernel: 1 });
  x = b.sum([x, branch('branch_a'), branch('branch_b')]);
  const excite = b.sigmoid(b.dense(b.relu(b.dense(b.globalAvgpool(x), { name: 'squeeze', units: 2 })), { name: 'excite', units: 4 }));
  x = b.multiply(x, excite);
  x = b.multiply(x, b.sigmoid(x, { name: 'gate' }), { name: 'gated' });
  x = b.addInto(x, b.conv(x, { name: 'improve', filters: 2, kernel: 3 }), { offset: 1 });
  x = b.batchnorm(x, { scale: false, center: false, name: 'bn_plain' });
  if (binary) {
    const one = b.bconv(x, { name: 'one_padded', filters: 2, kernel: 3, padValue: 1, kernelQuantizer: 'xnor_weight_scale', inputQuantizer: 'ste_sign' });
    const layer = b.bconv(x, { name: 'layer_scaled', filters: 2, kernel: 3, kernelQuantizer: 'magnitude_aware_sign_unclipped', inputQuantizer: 'approx_sign' });
    const heaviside = b.conv(b.sign(x, { quantizer: 'ste_heaviside' }), { name: 'after_heaviside', filters: 2, kernel: 3 });
    const kbit = b.conv(b.sign(x, { quantizer: { name: 'dorefa', args: { k_bit: 2 } } }), { name: 'after_dorefa', filters: 2, kernel: 1 });
    x = b.batchnorm(b.concat([one, layer, heaviside, kbit]), { name: 'bn_branches' });
    x = b.conv(x, { name: 'merge', filters: 4, kernel: 1 });
  } else {
    x = b.concat([branch('real_a'), branch('real_b'), branch('real_c')]);
    x = b.conv(x, { name: 'merge', filters: 4, kernel: 1 });
  }
  return x;
}

export { busyWeights, noNoise, normalValues } from '../helpers/values.js';

/** A drop-path mask for every join (each input kept with probability 1/2) and a dropout mask for every dropout. */
export const someNoise = (graph: Graph, n: number, seed: number) => sharedNoise(graph, n, seed, 0.5);
