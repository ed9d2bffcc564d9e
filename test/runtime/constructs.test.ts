/**
 * The constructs of today's binary nets on the runtime, native and WebAssembly, against onnxruntime on
 * the same weights (1e-4 of the logits' scale): depthwise and grouped float convs (a fixed blur kernel
 * among them), MaxPool 2×2 stride 1, QuickNet's conv → relu → bn → add order, per-channel bias, PReLU,
 * Clip, Sigmoid, squeeze-and-excite scaling (Mul by a [C, 1, 1] vector), DoReFa's k-bit rounding
 * (Clip, Mul, Round, Div), adding a branch into the last channels (Pad + Add, and Slice + Add + Concat),
 * n-ary Sum and Concat, binary convs with one-padding, ReActNet's shifted signs and RPReLU.
 * The models are written by hand (onnx-graphs.ts); onnxruntime runs their standard-op twins.
 */
import { describe, expect, it } from 'vitest';
import { createRuntime, type KernelSet } from '../../backends/runtime/index.js';
import { bundledWasmForSuite, nativeKernels, ortLogits, runOnce, skipNative } from './helpers.js';
import { twoVariants } from './onnx-graphs.js';
import { CONSTRUCT_GRAPHS } from './construct-graphs.js';
import { Rng } from './kernels-reference.js';
import { maxRelativeError } from './util.js';
import { exportOnnx } from '../../backends/onnx/index.js';
import { compileFile } from '../../src/compile.js';
import { busyWeights } from '../helpers/values.js';

describe.skipIf(skipNative())('the constructs of today\'s binary nets on the runtime', () => {
  const wasm = bundledWasmForSuite();

  for (const [name, [input, build]] of Object.entries(CONSTRUCT_GRAPHS)) {
    it(`${name}: onnxruntime's logits, native (1 and 2 threads) and WebAssembly`, async () => {
      const { runtime, standard } = twoVariants(input, 7, build);
      const n = 3;
      const rng = new Rng(3);
      const x = Float32Array.from({ length: n * input[0] * input[1] * input[2] }, () => rng.float() * 2);
      const reference = await ortLogits(standard, x, n);
      const native = [1, 2].map((threads) => runOnce(runtime, nativeKernels(), threads, x, n));
      expect(maxRelativeError(native[0], reference), 'native').toBeLessThan(1e-4);
      expect(native[1]).toEqual(native[0]);
      expect(maxRelativeError(runOnce(runtime, wasm(), 1, x, n), reference), 'wasm').toBeLessThan(1e-4);
    });
  }

  it('ReActNet-style blocks run their RPReLU inside the binary convs, and give the same logits without that fusion', () => {
    const [input, build] = CONSTRUCT_GRAPHS[Object.keys(CONSTRUCT_GRAPHS).find((k) => k.startsWith('ReActNet'))!];
    const { runtime: bytes } = twoVariants(input, 7, build);
    const rng = new Rng(4);
    const x = Float32Array.from({ length: 2 * input[0] * input[1] * input[2] }, () => rng.float() * 2);
    // the post form's fusions (sofar_bconv2d_epilogue, tested below, takes more)
    const fused = createRuntime(bytes, { kernels: { ...nativeKernels(), bconv2dEpilogue: undefined }, batch: 2 });
    const kernels = fused.plan.steps.map((s) => s.kernel);
    // three blocks: shift + PReLU + shift in each conv's transform; each RSign's shift packed with its signs
    expect(fused.plan.stats.fusedActivations).toBe(3);
    expect(kernels.filter((k) => k === 'bconv2dPrepackedPost')).toHaveLength(3);
    expect(kernels.filter((k) => k === 'packSignsAffine')).toHaveLength(4);
    expect(kernels).not.toContain('preluF32');
    expect(kernels).not.toContain('affineF32');
    const plain: KernelSet = { ...nativeKernels(), bconv2dPrepackedPost: undefined, bconv2dEpilogue: undefined };
    const unfused = createRuntime(bytes, { kernels: plain, batch: 2 });
    expect(unfused.plan.stats.fusedActivations).toBe(0);
    expect(unfused.plan.steps.map((s) => s.kernel)).toContain('preluF32');
    expect(maxRelativeError(fused.run(x, 2), unfused.run(x, 2))).toBeLessThan(1e-5);
    fused.release();
    unfused.release();
  });

  /**
   * A construct graph on the native kernels, and on them without sofar_bconv2d_epilogue (the post form's
   * plan, the reference): the steps of the first, and the largest relative difference of their logits.
   */
  function withAndWithoutEpilogue(start: string, seed: number) {
    const [input, build] = CONSTRUCT_GRAPHS[Object.keys(CONSTRUCT_GRAPHS).find((k) => k.startsWith(start))!];
    const { runtime: bytes } = twoVariants(input, 7, build);
    const rng = new Rng(seed);
    const x = Float32Array.from({ length: 2 * input[0] * input[1] * input[2] }, () => rng.float() * 2);
    const fused = createRuntime(bytes, { kernels: nativeKernels(), batch: 2 });
    const unfused = createRuntime(bytes, { kernels: { ...nativeKernels(), bconv2dEpilogue: undefined }, batch: 2 });
    try {
      return {
        stats: fused.plan.stats,
        kernels: fused.plan.steps.map((s) => s.kernel),
        unfusedKernels: unfused.plan.steps.map((s) => s.kernel),
        difference: maxRelativeError(fused.run(x, 2), unfused.run(x, 2)),
      };
    } finally {
      fused.release();
      unfused.release();
    }
  }

  it("QuickNet's binary conv → relu → bn → add runs in the conv's epilogue, which packs the next conv's signs, with the logits of the plan without it", () => {
    const { stats, kernels, unfusedKernels, difference } = withAndWithoutEpilogue('QuickNet-style binary blocks', 5);
    // three blocks, each one step; the first two pack the signs the next block reads
    expect(stats).toMatchObject({ epilogues: 3, fusedResiduals: 3, fusedActivations: 3, fusedPacks: 2 });
    expect(kernels.filter((k) => k === 'bconv2dEpilogue')).toHaveLength(3);
    expect(kernels.filter((k) => k === 'packSigns')).toHaveLength(1);
    for (const k of ['affineF32', 'addF32', 'sumF32', 'reluF32'] as const) expect(kernels).not.toContain(k);
    expect(unfusedKernels).toContain('sumF32'); // the add as a join of its own
    expect(difference).toBeLessThan(1e-5);
  });

  it("ReActNet's widening: the RPReLU after the concat runs in each branch's conv, which writes its slice of the floats and of the next RSign's signs", () => {
    const { stats, kernels, unfusedKernels, difference } = withAndWithoutEpilogue('ReActNet-style widening:', 6);
    // the 3×3 conv packs both branches' RSigns (the second as its second packing); the two 1×1 convs write
    // their slices of the concat, and their words of the next RSign's packed signs; the concat's floats feed
    // only the strided block's shortcut (2×2 /2 average), so the 1×1 convs write them pooled; the strided conv then reads a plain residual
    expect(stats).toMatchObject({ epilogues: 3, sliceWrites: 2, packedSliceWrites: 2, fusedThresholdPacks: 1, pack2s: 1, pooledOutputs: 2, pooledResiduals: 0, fusedActivations: 4 });
    for (const k of ['copyF32', 'affineF32', 'preluF32', 'addF32', 'sumF32', 'avgpoolF32'] as const) expect(kernels).not.toContain(k);
    // left: the input's RSign
    expect(kernels.filter((k) => k === 'packSignsAffine')).toHaveLength(1);
    expect(unfusedKernels).toEqual(expect.arrayContaining(['copyF32', 'preluF32']));
    expect(difference).toBeLessThan(1e-5);
  });

  it("ReActNet's widening of 32-channel branches: each branch's conv writes its half of the pooled floats and of the packed signs, bit-identical to the plan without", () => {
    const [input, build] = CONSTRUCT_GRAPHS['ReActNet-style widening of 32-channel branches'];
    const { runtime: bytes } = twoVariants(input, 7, build);
    const rng = new Rng(8);
    const x = Float32Array.from({ length: 2 * input[0] * input[1] * input[2] }, () => rng.float() * 2);
    const fused = createRuntime(bytes, { kernels: nativeKernels(), batch: 2, threads: 2 });
    const without = createRuntime(bytes, { kernels: { ...nativeKernels(), bconv2dEpiloguePack2: undefined }, batch: 2, threads: 2 });
    const kernels = fused.plan.steps.map((s) => s.kernel);
    // half-word slices: the 1×1 convs write the concat's floats pooled (all the strided shortcut reads), so
    // each packs its 32 channels' signs into its half of the concat's words (SOFAR_EPI_PACK_LOW32, _HIGH32);
    // the 3×3 conv packs the second branch's RSign as its second packing
    expect(fused.plan.stats).toMatchObject({ pack2s: 1, packedSliceWrites: 2, sliceWrites: 2, pooledOutputs: 2, pooledResiduals: 0 });
    expect(without.plan.stats).toMatchObject({ pooledOutputs: 0, pooledResiduals: 0 });
    expect(without.plan.steps.map((s) => s.kernel)).toContain('avgpoolF32');
    expect(kernels.filter((k) => k === 'bconv2dEpiloguePack2')).toHaveLength(1);
    expect(kernels.filter((k) => k === 'packSignsAffine')).toHaveLength(1);
    expect(without.plan.steps.filter((s) => s.kernel === 'packSignsAffine')).toHaveLength(3);
    expect(fused.run(x, 2)).toEqual(without.run(x, 2));
    fused.release();
    without.release();
  });
});

describe.skipIf(skipNative())("ReActNet-A's pointwise convs write pooled floats", () => {
  it('where a strided shortcut alone reads them: no full-size map for the pool, 45 % less arena, the logits bit for bit', () => {
    // at 64×64 the 112×112 stage is 32×32: every map still has even sides down to 2×2
    const { graph } = compileFile('specs/reactnet-a.sofar', { params: { size: 64 } });
    const bytes = exportOnnx(graph!, busyWeights(graph!, 3), { binaryOps: true });
    const rng = new Rng(11);
    const x = Float32Array.from({ length: 2 * 3 * 64 * 64 }, () => rng.float() * 2 - 1);
    const pooled = createRuntime(bytes, { kernels: nativeKernels(), batch: 2, threads: 2 });
    const full = createRuntime(bytes, { kernels: { ...nativeKernels(), bconv2dEpiloguePack2: undefined }, batch: 2, threads: 2 });
    try {
      // the first widening's two 32-channel convs (half words each) and the four blocks before a strided one
      expect(pooled.plan.stats).toMatchObject({ pooledOutputs: 5, pooledResiduals: 0, packedSliceWrites: 10 });
      expect(pooled.plan.steps.map((s) => s.kernel)).not.toContain('avgpoolF32');
      expect(full.plan.steps.filter((s) => s.kernel === 'avgpoolF32')).toHaveLength(4);
      expect(pooled.plan.stats.mapBytes).toBeLessThan(0.6 * full.plan.stats.mapBytes);
      expect(pooled.run(x, 2)).toEqual(full.run(x, 2));
    } finally {
      pooled.release();
      full.release();
    }
  });
});

describe.skipIf(skipNative())('binary convs write over the residual they read last, joins over their first input', () => {
  const wasm = bundledWasmForSuite();
  it.each([
    ['bireal-resnet18', {}, 224, 16],
    ['reactnet-a', { size: 64 }, 64, 18],
    // its joins computed by their columns' convs (bconv2dEpilogueRes2), each over its shortcut or the sum so far
    ['rf-c4d8-resnet37', {}, 224, 47],
  ] as const)('%s: its convs in place, a smaller arena, the logits bit for bit (two samples; native at 1 and 2 threads, WebAssembly)', (name, params, size, count) => {
    const { graph } = compileFile(`specs/${name}.sofar`, { params });
    const bytes = exportOnnx(graph!, busyWeights(graph!, 5), { binaryOps: true });
    const rng = new Rng(12);
    const x = Float32Array.from({ length: 2 * 3 * size * size }, () => rng.float() * 2 - 1);
    // one at a time: the WebAssembly module holds one arena
    const runWith = (kernels: KernelSet, threads: number, inPlace: boolean) => {
      const runtime = createRuntime(bytes, { kernels, threads, batch: 2, plan: { inPlace } });
      try {
        return { stats: runtime.plan.stats, logits: runtime.run(x, 2) };
      } finally {
        runtime.release();
      }
    };
    for (const [kernels, threads] of [[nativeKernels, 1], [nativeKernels, 2], [wasm, 1]] as const) {
      const apart = runWith(kernels(), threads, false), inPlace = runWith(kernels(), threads, true);
      // every block's 3×3 conv (and ReActNet's pointwise convs of one width) over the block's input
      expect(apart.stats.inPlaceOutputs).toBe(0);
      expect(inPlace.stats.inPlaceOutputs).toBe(count);
      expect(inPlace.stats.mapBytes).toBeLessThan(apart.stats.mapBytes);
      expect(inPlace.logits).toEqual(apart.logits);
    }
  });
});
