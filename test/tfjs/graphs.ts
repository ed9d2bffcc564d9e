/** Small graphs and weights shared by the tfjs tests (1–2 channels in, 8×8 maps: fast on the pure-JS CPU). */
import { GraphBuilder, type Tensor } from '../../src/graph/builder.js';
import type { Graph, JoinMode, WeightMap } from '../../src/graph/types.js';
import { Random } from '../../src/random.js';
import { initWeights } from '../../src/weights/init.js';

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
  let v = b.batchnorm(b.concat([b.globalAvgpool(x), b.flatten(x)]));
  v = binary ? b.bdense(v, { units: 5, kernelQuantizer: 'magnitude_aware_sign', inputQuantizer: 'ste_sign' }) : b.dense(v, { units: 5 });
  v = b.batchnorm(v);
  v = b.prelu(v);
  v = b.dense(v, { units: 3 });
  if (b.diagnostics.length) throw new Error(b.diagnostics.map((d) => d.message).join('\n'));
  return b.finish(v);
}

/**
 * Seeded weights with batch-norm statistics, biases and slopes moved off their neutral initial values,
 * so a lowering that dropped or swapped one would change the output.
 */
export function busyWeights(graph: Graph, seed: number): WeightMap {
  const weights = initWeights(graph, seed);
  const rng = new Random(seed, 'tfjs-test-weights');
  for (const node of graph.nodes) {
    for (const p of node.params) {
      const v = weights.get(p.name)!;
      if (p.role === 'moving_variance' || p.role === 'gamma') v.forEach((_, i) => (v[i] = 0.5 + rng.uniform()));
      else if (p.role !== 'kernel') v.forEach((_, i) => (v[i] = rng.normal() * 0.5));
    }
  }
  return weights;
}

export function normalValues(count: number, seed: number, scale = 1): Float32Array {
  const rng = new Random(seed, 'tfjs-test-values');
  return Float32Array.from({ length: count }, () => rng.normal() * scale);
}

export const noNoise = () => ({ joinMasks: new Map<string, Float32Array>(), dropoutMasks: new Map<string, Float32Array>() });

/** A drop-path mask for every join (keeping input `keep(join, i)`) and a dropout mask for every dropout. */
export function someNoise(graph: Graph, n: number, seed: number) {
  const rng = new Random(seed, 'tfjs-test-noise');
  const noise = noNoise();
  for (const node of graph.nodes) {
    if (node.op === 'join') {
      const mask = Float32Array.from(node.inputs, () => (rng.uniform() < 0.5 ? 1 : 0));
      if (!mask.some((m) => m)) mask[rng.int(mask.length)] = 1;
      noise.joinMasks.set(node.name, mask);
    }
    if (node.op === 'dropout') {
      const p = node.attrs.rate;
      const count = n * node.shape.reduce((a, b) => a * b, 1);
      noise.dropoutMasks.set(node.name, Float32Array.from({ length: count }, () => (rng.uniform() < p ? 0 : 1 / (1 - p))));
    }
  }
  return noise;
}
