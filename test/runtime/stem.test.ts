/**
 * The float stem on the runtime: Bi-Real's RGB conv → BN → max pool runs as one step (conv2dF32Maxpool, the
 * conv's output never stored, the NCHW image transposed as the stem reads it), with onnxruntime's logits on the
 * standard export of the same weights, and bit-identical to the plan that runs the transpose, the conv and the
 * pool as three steps; Real-to-Binary Net's conv → BN → PReLU → max pool likewise (the PReLU on the conv's rows);
 * ReActNet's and QuickNet's 3×3 /2 stems (no pool) likewise. Native at 1 and 2 threads, WebAssembly.
 */
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../../backends/runtime/index.js';
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
    expect(kernels[0], 'the first step: the stem, reading the NCHW image').toBe('conv2dF32Maxpool');
    for (const k of replaced.filter((k) => k !== 'conv2dF32')) expect(kernels).not.toContain(k);
    const split = { ...nativeKernels(), conv2dF32Maxpool: undefined };
    const splitPlan = createRuntime(bytes, { kernels: split, batch: 2 });
    expect(splitPlan.plan.steps.map((s) => s.kernel).slice(0, replaced.length)).toEqual(replaced);
    splitPlan.release();
    for (const threads of [1, 2]) {
      const y = runOnce(bytes, nativeKernels(), threads, x, 2);
      expect(maxRelativeError(y, reference), `native, ${threads} threads`).toBeLessThan(1e-4);
      expect(y).toEqual(runOnce(bytes, split, threads, x, 2));
    }
    const wasmPlan = createRuntime(bytes, { kernels: wasm(), batch: 2 });
    expect(wasmPlan.plan.steps[0].kernel, 'the WebAssembly stem').toBe('conv2dF32Maxpool');
    wasmPlan.release();
    const onWasm = runOnce(bytes, wasm(), 1, x, 2);
    expect(maxRelativeError(onWasm, reference), 'wasm').toBeLessThan(1e-4);
    expect(onWasm).toEqual(runOnce(bytes, { ...wasm(), conv2dF32Maxpool: undefined }, 1, x, 2));
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
});
