/**
 * The float stem on the runtime: Bi-Real's RGB conv → BN → max pool runs as one step (conv2dF32Maxpool, the
 * conv's output never stored, the NCHW image transposed as the stem reads it; conv2dF32MaxpoolPack where the
 * next binary conv reads its signs, packed as each row is written), with onnxruntime's logits on the standard
 * export of the same weights, and bit-identical to the plan that runs the transpose, the conv and the pool as
 * three steps and to the one that packs the signs in a pass of its own; Real-to-Binary Net's conv → BN → PReLU → max pool likewise (the PReLU on the conv's rows);
 * ReActNet's and QuickNet's 3×3 /2 stems (no pool) likewise. Native at 1 and 2 threads, WebAssembly.
 */
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { createRuntime } from '../../backends/runtime/index.js';
import { compileFile } from '../../src/compile.js';
import { busyWeights } from '../helpers/values.js';
import { bundledWasmForSuite, exportedPair, nativeKernels, ortLogits, runOnce, skipNative } from './helpers.js';
import { maxRelativeError } from './util.js';

const model = (input: string, stem: string) => `
model stem_${input.replace(/x/g, '_')} {
  input ${input}
  classes 5
  binarize activations = approx_sign, weights = magnitude_aware_sign
  block unit(ch, stride = 1) = residual(shortcut = project(ch, stride) if stride > 1 or channels != ch) {
    bconv 3x3 ch /stride
    bn
  }
  block project(ch, stride) { avgpool 2x2 /stride padding=same; conv 1x1 ch; bn }
  ${stem}
  unit(64)
  global_avgpool
  dense 5
}`;

/** Bi-Real's stem on an odd-sized image (asymmetric "same" pads for the conv and the pool). */
const BIREAL = model('3x45x39', 'conv 7x7 64 /2; bn; maxpool 3x3 /2 padding=same');
/** Real-to-Binary Net's stem: a PReLU between the conv (its batch norm folded) and the pool. */
const R2B = model('3x41x36', 'conv 7x7 64 /2; bn; prelu; maxpool 3x3 /2 padding=same');
/** ReActNet's and QuickNet's stems: 3×3 /2 to 32 and 16 channels. */
const REACTNET = model('3x37x29', 'conv 3x3 32 /2 padding=same; bn; conv 1x1 64; bn');
const QUICKNET = model('3x33x40', 'conv 3x3 16 /2 padding=same; relu; bn; conv 1x1 64; bn');

const exported = (source: string, seed: number) => exportedPair(source, 'stem.sofar', seed, 0.37);

describe.skipIf(skipNative())('the float stems on the runtime', () => {
  const wasm = bundledWasmForSuite();

  // the steps the stem kernel replaces, as the plan runs them without it
  it.each([
    ["Bi-Real's conv → BN → max pool", BIREAL, 11, ['nchwToNhwc', 'conv2dF32', 'maxpoolF32']],
    ["Real-to-Binary Net's conv → BN → PReLU → max pool", R2B, 13, ['nchwToNhwc', 'conv2dF32', 'preluF32', 'maxpoolF32']],
  ] as const)("%s is one step, bit-identical to the steps it replaces, and gives onnxruntime's logits", async (_, source, seed, replaced) => {
    const { standard, runtime: bytes, x } = exported(source, seed);
    const reference = await ortLogits(standard, x, 2);
    const plan = createRuntime(bytes, { kernels: nativeKernels(), batch: 2 });
    const kernels = plan.plan.steps.map((s) => s.kernel);
    plan.release();
    expect(kernels[0], 'the first step: the stem, reading the NCHW image and packing its signs').toBe('conv2dF32MaxpoolPack');
    for (const k of [...replaced.filter((k) => k !== 'conv2dF32'), 'packSigns']) expect(kernels).not.toContain(k);
    // without the packing stem: the stem, then a pass that packs its output's signs
    const unpacked = { ...nativeKernels(), conv2dF32MaxpoolPack: undefined };
    const unpackedPlan = createRuntime(bytes, { kernels: unpacked, batch: 2 });
    expect(unpackedPlan.plan.steps.map((s) => s.kernel).slice(0, 2)).toEqual(['conv2dF32Maxpool', 'packSigns']);
    unpackedPlan.release();
    const split = { ...nativeKernels(), conv2dF32Maxpool: undefined };
    const splitPlan = createRuntime(bytes, { kernels: split, batch: 2 });
    expect(splitPlan.plan.steps.map((s) => s.kernel).slice(0, replaced.length)).toEqual(replaced);
    splitPlan.release();
    for (const threads of [1, 2]) {
      const y = runOnce(bytes, nativeKernels(), threads, x, 2);
      expect(maxRelativeError(y, reference), `native, ${threads} threads`).toBeLessThan(1e-4);
      expect(y).toEqual(runOnce(bytes, split, threads, x, 2));
      expect(y).toEqual(runOnce(bytes, unpacked, threads, x, 2));
    }
    const wasmPlan = createRuntime(bytes, { kernels: wasm(), batch: 2 });
    expect(wasmPlan.plan.steps[0].kernel, 'the WebAssembly stem').toBe('conv2dF32MaxpoolPack');
    wasmPlan.release();
    const onWasm = runOnce(bytes, wasm(), 1, x, 2);
    expect(maxRelativeError(onWasm, reference), 'wasm').toBeLessThan(1e-4);
    expect(onWasm).toEqual(runOnce(bytes, { ...wasm(), conv2dF32Maxpool: undefined }, 1, x, 2));
    expect(onWasm).toEqual(runOnce(bytes, { ...wasm(), conv2dF32MaxpoolPack: undefined }, 1, x, 2));
  });

  for (const [name, source] of [['ReActNet', REACTNET], ['QuickNet', QUICKNET]] as const) {
    it(`${name}'s 3×3 /2 stem gives onnxruntime's logits, native (1 and 2 threads) and WebAssembly`, async () => {
      const { standard, runtime: bytes, x } = exported(source, 12);
      const reference = await ortLogits(standard, x, 2);
      const plan = createRuntime(bytes, { kernels: nativeKernels(), batch: 2 });
      expect(plan.plan.steps[0].kernel, 'the stem reads the NCHW image').toBe('conv2dF32Maxpool');
      plan.release();
      const split = runOnce(bytes, { ...nativeKernels(), conv2dF32Maxpool: undefined }, 1, x, 2);
      const native = [1, 2].map((threads) => runOnce(bytes, nativeKernels(), threads, x, 2));
      expect(maxRelativeError(native[0], reference), 'native').toBeLessThan(1e-4);
      expect(native[1]).toEqual(native[0]);
      expect(native[0]).toEqual(split);
      expect(maxRelativeError(runOnce(bytes, wasm(), 1, x, 2), reference), 'wasm').toBeLessThan(1e-4);
    });
  }

  it("ReActNet-A's stem packs the signs of the batch norm after it (its scale and shift), bit-identical to a pass of its own", () => {
    // at 64×64: the stem and the first unit as at 224, every map smaller
    const { graph } = compileFile('specs/reactnet-a.sofar', { params: { size: 64 } });
    const bytes = exportOnnx(graph!, busyWeights(graph!, 5), { binaryOps: true });
    const x = Float32Array.from({ length: 2 * 3 * 64 * 64 }, (_, i) => Math.sin(i * 0.29) * 2);
    const unpacked = { ...nativeKernels(), conv2dF32MaxpoolPack: undefined };
    const packing = createRuntime(bytes, { kernels: nativeKernels(), batch: 2 });
    const separate = createRuntime(bytes, { kernels: unpacked, batch: 2 });
    try {
      const stem = packing.plan.steps[0];
      expect(stem.kernel).toBe('conv2dF32MaxpoolPack');
      expect(stem.args.slice(6, 8).every((a) => typeof a === 'number' && a >= 0), 'its packScale and packShift').toBe(true);
      expect(separate.plan.steps.map((s) => s.kernel).slice(0, 2)).toEqual(['conv2dF32Maxpool', 'packSignsAffine']);
      expect(packing.plan.steps).toHaveLength(separate.plan.steps.length - 1);
    } finally {
      packing.release();
      separate.release();
    }
    const want = runOnce(bytes, unpacked, 1, x, 2);
    for (const threads of [1, 2]) expect(runOnce(bytes, nativeKernels(), threads, x, 2), `native, ${threads} threads`).toEqual(want);
    expect(runOnce(bytes, wasm(), 1, x, 2), 'wasm').toEqual(runOnce(bytes, { ...wasm(), conv2dF32MaxpoolPack: undefined }, 1, x, 2));
  });
});
