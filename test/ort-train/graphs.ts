/**
 * Small graphs for the ORT training tests, one per node kind and awkward case: each puts a layer with
 * parameters in front of the kind under test (so its input gradient is exercised) and a dense head
 * behind it. Batches of 4, 2 input channels, maps of 6–8 cells: fast on 2 cores.
 */
import { GraphBuilder, type QuantizerSpec, type Tensor } from '../../src/graph/builder.js';
import type { Graph, JoinMode, WeightMap } from '../../src/graph/types.js';
import type { StepNoise } from '../../src/train/engine.js';
import { Random } from '../../src/random.js';
import { someNoise as sharedNoise } from '../helpers/values.js';

export const CLASSES = 3;

export interface Case {
  name: string;
  graph: Graph;
}

type Body = (b: GraphBuilder, x: Tensor) => Tensor;

/** stem (conv 3×3, batch norm) → body → global average pool (maps) → dense 3. */
function build(name: string, body: Body, input: [number, number, number] = [2, 7, 7]): Case {
  const b = new GraphBuilder({ name: name.replace(/\W+/g, '_'), input, classes: CLASSES, binarize: { activations: 'ste_sign', weights: 'ste_sign' } });
  // No bias before batch norm: its gradient is 0 exactly and float32 noise in practice.
  const stem = b.batchnorm(b.conv(b.input(), { name: 'stem', filters: 4, kernel: 3 }));
  let y = body(b, stem);
  if (y.shape.length === 3) y = b.globalAvgpool(y);
  const out = b.dense(y, { name: 'head', units: CLASSES });
  if (b.diagnostics.length) throw new Error(b.diagnostics.map((d) => d.message).join('\n'));
  return { name, graph: b.finish(out) };
}

const unit = (b: GraphBuilder, z: Tensor) => b.batchnorm(b.conv(z, { filters: 4, kernel: 3 }));

/** Cases whose every value is real: the whole loss is smooth, finite differences check every parameter. */
export function floatCases(): Case[] {
  const joins: JoinMode[] = ['mean', 'sum', 'max', 'concat'];
  return [
    build('conv 3x3 same with bias', (b, x) => b.conv(x, { filters: 3, kernel: 3, bias: true })),
    build('conv 3x3 stride 2 same (asymmetric pads)', (b, x) => b.conv(x, { filters: 3, kernel: 3, stride: 2, bias: true }), [2, 8, 8]),
    build('conv dilation 2, groups 2', (b, x) => b.conv(x, { filters: 6, kernel: 3, dilation: 2, groups: 2 })),
    build('conv 1x1 stride 2 valid', (b, x) => b.conv(x, { filters: 3, kernel: 1, stride: 2, padding: 'valid' })),
    build('conv 3x2 valid', (b, x) => b.conv(x, { filters: 3, kernel: [3, 2], padding: 'valid' })),
    build('conv 2x2 stride 2 padding 1', (b, x) => b.conv(x, { filters: 3, kernel: 2, stride: 2, padding: 1 })),
    // A ReLU first: batch norm would otherwise cancel the stem's shift (beta's gradient would be 0 exactly).
    build('batchnorm on vectors', (b, x) => b.batchnorm(b.dense(b.globalAvgpool(b.relu(x)), { units: 5, bias: false }))),
    build('dense after flatten', (b, x) => b.dense(b.flatten(b.maxpool(x, { kernel: 2 })), { units: 4 })),
    build('relu', (b, x) => b.relu(x)),
    build('prelu on maps', (b, x) => b.prelu(x)),
    build('prelu on vectors', (b, x) => b.prelu(b.dense(b.globalAvgpool(x), { units: 5, bias: true }))),
    build('hardtanh', (b, x) => b.hardtanh(x, { min: -0.8, max: 0.9 })),
    build('maxpool 3x3 stride 2 same', (b, x) => b.maxpool(x, { kernel: 3, stride: 2, padding: 'same' })),
    build('maxpool 2x2 valid (odd map)', (b, x) => b.maxpool(x, { kernel: 2 })),
    build('avgpool 3x3 stride 1 same (padded cells excluded)', (b, x) => b.avgpool(x, { kernel: 3, stride: 1, padding: 'same' })),
    build('avgpool 2x2 stride 2 valid (odd map)', (b, x) => b.avgpool(x, { kernel: 2 })),
    build('avgpool 2x2 stride 2 same (even map)', (b, x) => b.avgpool(x, { kernel: 2, padding: 'same' }), [2, 8, 8]),
    build('avgpool 3x3 stride 2 same', (b, x) => b.avgpool(x, { kernel: 3, stride: 2, padding: 'same' })),
    build('dropout', (b, x) => b.dropout(x, { rate: 0.3 })),
    build('add (residual)', (b, x) => b.residual(x, (z) => unit(b, z))),
    build('concat (dense shortcut)', (b, x) => b.denseShortcut(x, (z) => b.conv(z, { filters: 2, kernel: 3 }))),
    ...joins.map((join) => build(`join ${join} (fractal, 3 columns)`, (b, x) => b.fractal(x, { columns: 3, join, dropPath: 0.3, globalDropPath: 0.2 }, (z) => unit(b, z)))),
  ];
}

/** Cases with quantizers: straight-through gradients, checked against the reference and tfjs. */
export function binaryCases(): Case[] {
  const bunit = (weights: string, activations: QuantizerSpec, stride = 1) => (b: GraphBuilder, x: Tensor) =>
    b.batchnorm(b.bconv(x, { filters: 4, kernel: 3, stride, kernelQuantizer: weights, inputQuantizer: activations }));
  return [
    build('bconv ste_sign weights, ste_sign(clip=1.3) activations', bunit('ste_sign', { name: 'ste_sign', args: { clip: 1.3 } })),
    build('bconv magnitude_aware_sign weights, approx_sign activations', bunit('magnitude_aware_sign', 'approx_sign')),
    build('bconv stride 2, swish_sign(beta=3) activations', bunit('magnitude_aware_sign', { name: 'swish_sign', args: { beta: 3 } }, 2), [2, 8, 8]),
    build('bdense magnitude_aware_sign, approx_sign', (b, x) =>
      b.bdense(b.batchnorm(b.globalAvgpool(b.relu(x))), { units: 5, kernelQuantizer: 'magnitude_aware_sign', inputQuantizer: 'approx_sign' }),
    ),
    build('Bi-Real unit with strided projection', (b, x) =>
      b.residual(x, (z) => bunit('magnitude_aware_sign', 'approx_sign', 2)(b, z), {
        shortcut: (z) => b.batchnorm(b.conv(b.avgpool(z, { kernel: 2, padding: 'same' }), { filters: 4, kernel: 1 })),
      }),
      [2, 8, 8],
    ),
    // ±1 maps: most windows tie, and the gradient must go to the first maximum.
    build('maxpool 2x2 of binary maps (ties)', (b, x) =>
      b.bconv(b.maxpool(b.sign(x, { quantizer: 'approx_sign' }), { kernel: 2 }), { filters: 4, kernel: 3, kernelQuantizer: 'ste_sign' }),
    ),
    build('max join of binary maps', (b, x) =>
      b.fractal(b.sign(x, { quantizer: 'approx_sign' }), { columns: 2, join: 'max' }, (z) => b.maxpool(b.sign(b.bconv(z, { filters: 4, kernel: 3, kernelQuantizer: 'ste_sign' }), { quantizer: 'approx_sign' }), { kernel: 3, stride: 1, padding: 'same' })),
    ),
  ];
}

/**
 * Convolutions that run on onnxruntime's blocked NCHWc kernels on the CPU (backends/ort-train/nchwc.ts),
 * forward and for their input gradient: one group, input and output channels multiples of 16 (the
 * widest block), behind a 1×1 conv that widens the stem's 4 channels.
 */
export function blockedCases(): Case[] {
  const widen = (b: GraphBuilder, x: Tensor) => b.conv(x, { filters: 16, kernel: 1 });
  return [
    build('conv 16→32 3x3 same', (b, x) => b.batchnorm(b.conv(widen(b, x), { filters: 32, kernel: 3 }))),
    build('conv 16→16 3x3 dilation 2 valid, 1x2 kernel', (b, x) =>
      b.conv(b.conv(widen(b, x), { filters: 16, kernel: 3, dilation: 2, padding: 'valid' }), { filters: 16, kernel: [1, 2] }),
    [2, 8, 8]),
    build('bconv 16→16 magnitude_aware_sign weights, approx_sign activations', (b, x) =>
      b.batchnorm(b.bconv(b.batchnorm(widen(b, x)), { filters: 16, kernel: 3, kernelQuantizer: 'magnitude_aware_sign', inputQuantizer: 'approx_sign' })),
    ),
    // Strided: the input gradient by output phases (backends/ort-train/phases.ts).
    build('conv 16→32 3x3 stride 2 same (even map, pads 0 before, 1 after)', (b, x) => b.batchnorm(b.conv(widen(b, x), { filters: 32, kernel: 3, stride: 2 })), [2, 8, 8]),
    build('bconv 16→32 3x3 stride 2 same (odd map: the last phase row cropped)', (b, x) =>
      b.batchnorm(b.bconv(b.batchnorm(widen(b, x)), { filters: 32, kernel: 3, stride: 2, kernelQuantizer: 'ste_sign', inputQuantizer: 'approx_sign' })),
    ),
    build('conv 16→16 2x2 stride 2 valid, 4x3 stride 3 padding 1', (b, x) =>
      b.conv(b.conv(widen(b, x), { filters: 16, kernel: 2, stride: 2, padding: 'valid' }), { filters: 16, kernel: [4, 3], stride: 3, padding: 1 }),
    [2, 9, 9]),
  ];
}

export { busyWeights, noNoise, normalValues } from '../helpers/values.js';

/** Seeded masks: each join keeps each input with probability 0.7 (at least one), each dropout draws its scaled mask. */
export const someNoise = (graph: Graph, n: number, seed: number): StepNoise => sharedNoise(graph, n, seed, 0.7);

export function labels(n: number, seed: number): Int32Array {
  const rng = new Random(seed, 'ort-train-test-labels');
  return Int32Array.from({ length: n }, () => rng.int(CLASSES));
}

/**
 * max |a − b| over max |b|: the error relative to the tensor's scale, or to `floor` for a (near-)vanishing
 * gradient such as that of a bias right before batch norm (0 exactly, float32 noise in practice).
 */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, floor);
}
