/**
 * The constructs of today's binary nets on the runtime, native and WebAssembly, against onnxruntime on
 * the same weights (1e-4 of the logits' scale): depthwise and grouped float convs (a fixed blur kernel
 * among them), MaxPool 2×2 stride 1, QuickNet's conv → relu → bn → add order, per-channel bias, PReLU,
 * Clip, Sigmoid, squeeze-and-excite scaling (Mul by a [C, 1, 1] vector), DoReFa's k-bit rounding
 * (Clip, Mul, Round, Div), adding a branch into the last channels (Pad + Add, and Slice + Add + Concat),
 * n-ary Sum and Concat, binary convs with one-padding, ReActNet's shifted signs and RPReLU.
 * The models are written by hand (onnx-graphs.ts); onnxruntime runs their standard-op twins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, runOnnx } from '../../backends/onnx/index.js';
import { createRuntime, loadBundledWasmKernels, type KernelSet } from '../../backends/runtime/index.js';
import { nativeKernels, skipNative } from './helpers.js';
import { twoVariants, type TestGraph } from './onnx-graphs.js';
import { Rng } from './kernels-reference.js';
import { maxRelativeError } from './util.js';

const BLUR = [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 16);

/** Graphs as [input shape, builder]; each returns its logits and class count. */
const GRAPHS: Record<string, [[number, number, number], (t: TestGraph) => { output: string; classes: number }]> = {
  'QuickNet-style stem: depthwise convs, a fixed blur pool, MaxPool 2x2 /1, grouped 1x1, conv → relu → bn → add': [[3, 17, 16], (t) => {
    let y = t.op('Relu', [t.conv(t.x, 3, 8, 3, { stride: 2, pads: [1, 1, 1, 1] })]);
    y = t.batchnorm(t.conv(y, 8, 8, 3, { stride: 2, pads: [1, 1, 1, 1], group: 8, bias: false }), 8);
    const blur = t.conv(y, 8, 8, 3, { stride: 1, pads: [1, 1, 1, 1], group: 8, bias: false, weights: Array.from({ length: 8 }, () => BLUR).flat() });
    y = t.op('MaxPool', [blur], { kernel_shape: [2, 2], strides: [1, 1], pads: [0, 0, 1, 1] });
    // QuickNet's residual order: conv → relu → bn → add
    const branch = t.batchnorm(t.op('Relu', [t.conv(y, 8, 8, 3, { pads: [1, 1, 1, 1] })]), 8);
    y = t.op('Add', [branch, y]);
    y = t.conv(y, 8, 12, 1, { group: 4 });
    y = t.conv(y, 12, 12, 5, { pads: [2, 1, 2, 3], group: 12 }); // depthwise 5x5, asymmetric pads
    return { output: t.head(y, 12, 7), classes: 7 };
  }],

  'bias, PReLU, squeeze-and-excite (Unsqueeze and Reshape), DoReFa 2-bit rounding, Sub, Mul, Sum': [[4, 6, 7], (t) => {
    let y = t.conv(t.x, 4, 10, 3, { pads: [1, 1, 1, 1] });
    y = t.op('Add', [y, t.weight([10, 1, 1])]);
    y = t.op('PRelu', [y, t.weight([10, 1, 1], undefined, 0, 0.5)]);
    const squeeze = (x: string, reshape: boolean) => {
      const flat = t.op('Flatten', [t.op('GlobalAveragePool', [x])], { axis: 1 });
      const hidden = t.op('Relu', [t.op('Gemm', [flat, t.weight([10, 3]), t.weight([3])])]);
      const gate = t.op('Sigmoid', [t.op('Gemm', [hidden, t.weight([3, 10]), t.weight([10])])]);
      const vector = reshape ? t.op('Reshape', [gate, t.ints([-1, 10, 1, 1])]) : t.op('Unsqueeze', [gate, t.ints([2, 3])]);
      return reshape ? t.op('Mul', [vector, x]) : t.op('Mul', [x, vector]);
    };
    const a = squeeze(y, false);
    const b = squeeze(y, true);
    // DoReFa k = 2: round(clip(x, 0, 1) · 3) / 3
    const clipped = t.op('Clip', [a, t.weight([], [0]), t.weight([], [1])]);
    const q = t.op('Div', [t.op('Round', [t.op('Mul', [clipped, t.weight([], [3])])]), t.weight([], [3])]);
    const c = t.conv(q, 10, 10, 3, { pads: [1, 1, 1, 1] });
    const d = t.op('Mul', [t.op('Sub', [b, t.weight([1, 10, 1, 1])]), t.op('Sub', [t.weight([]), a])]);
    y = t.op('Sum', [c, d, y]);
    y = t.op('Clip', [y, t.weight([], [-1.5]), t.weight([], [2])]);
    return { output: t.head(y, 10, 5), classes: 5 };
  }],

  'a branch added into the last channels (Pad + Add, Slice + Add + Concat), 3-way Concat': [[6, 5, 5], (t) => {
    const x = t.conv(t.x, 6, 8, 1);
    const z = t.conv(x, 8, 3, 3, { pads: [1, 1, 1, 1] });
    const padded = t.op('Add', [x, t.op('Pad', [z, t.ints([0, 5, 0, 0, 0, 0, 0, 0])], { mode: 'constant' })]);
    const head = t.op('Slice', [x, t.ints([0]), t.ints([5]), t.ints([1])]);
    const tail = t.op('Slice', [x, t.ints([-3]), t.ints([2 ** 62]), t.ints([1]), t.ints([1])]);
    const sliced = t.op('Concat', [head, t.op('Add', [tail, z])], { axis: 1 });
    const y = t.op('Concat', [padded, sliced, z], { axis: 1 });
    return { output: t.head(t.op('Relu', [y]), 19, 4), classes: 4 };
  }],

  "ReActNet-style blocks: shifted signs, one-padded binary convs, RPReLU, two concatenated 1x1 binary convs": [[16, 6, 6], (t) => {
    let y = t.x;
    for (const padValue of [1, 0, -1]) {
      const shifted = t.sign(t.op('Add', [y, t.weight([16, 1, 1], undefined, -0.3, 0.3)]));
      let z = t.op('Add', [t.bconv(shifted, 16, 16, 3, { pad: 1, padValue }), y]);
      z = t.op('Add', [t.op('PRelu', [t.op('Add', [z, t.weight([16, 1, 1])]), t.weight([16, 1, 1], undefined, 0, 0.3)]), t.weight([16, 1, 1])]);
      y = z;
    }
    // two 1x1 binary convs on the same signs, each with its own shortcut, concatenated
    const signs = t.sign(t.op('Add', [y, t.weight([16, 1, 1], undefined, -0.3, 0.3)]));
    const left = t.op('Add', [t.bconv(signs, 16, 16, 1), y]);
    const right = t.op('Add', [t.bconv(signs, 16, 16, 1), y]);
    const joined = t.op('Concat', [left, right], { axis: 1 });
    const strided = t.bconv(t.sign(joined), 32, 24, 3, { stride: 2, pad: 1, padValue: 1 });
    return { output: t.head(strided, 24, 6), classes: 6 };
  }],
};

async function ortLogits(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const session = await createSession(bytes, { threads: 1, optimization: 'disabled' });
  try {
    return await runOnnx(session, x, n);
  } finally {
    await session.release();
  }
}

function run(bytes: Uint8Array, kernels: KernelSet, threads: number, x: Float32Array, n: number): Float32Array {
  const runtime = createRuntime(bytes, { kernels, threads, batch: n });
  try {
    return runtime.run(x, n);
  } finally {
    runtime.release();
  }
}

describe.skipIf(skipNative())('the constructs of today\'s binary nets on the runtime', () => {
  let wasm: KernelSet;
  beforeAll(async () => {
    wasm = await loadBundledWasmKernels();
  });
  afterAll(async () => {
    await wasm?.close?.();
  });

  for (const [name, [input, build]] of Object.entries(GRAPHS)) {
    it(`${name}: onnxruntime's logits, native (1 and 2 threads) and WebAssembly`, async () => {
      const { runtime, standard } = twoVariants(input, 7, build);
      const n = 3;
      const rng = new Rng(3);
      const x = Float32Array.from({ length: n * input[0] * input[1] * input[2] }, () => rng.float() * 2);
      const reference = await ortLogits(standard, x, n);
      const native = [1, 2].map((threads) => run(runtime, nativeKernels(), threads, x, n));
      expect(maxRelativeError(native[0], reference), 'native').toBeLessThan(1e-4);
      expect(native[1]).toEqual(native[0]);
      expect(maxRelativeError(run(runtime, wasm, 1, x, n), reference), 'wasm').toBeLessThan(1e-4);
    });
  }
});
