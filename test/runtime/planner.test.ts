/**
 * The runtime's loader, fusions and planner on the TypeScript reference kernels (test/helpers/js-kernels.ts),
 * against onnxruntime running the standard export of the same weights: independent of the C kernels.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { createRuntime, planModel, readRuntimeModel, type KernelSet } from '../../backends/runtime/index.js';
import { staggered, type PlanOptions } from '../../backends/runtime/plan.js';
import { stepCost } from '../../backends/runtime/roofline.js';
import { compile, compileFile } from '../../src/compile.js';
import { initWeights } from '../../src/weights/init.js';
import { jsKernels } from '../helpers/js-kernels.js';
import { busyWeights } from '../helpers/values.js';
import { bundledWasmForSuite, nativeKernels, skipNative } from './helpers.js';
import { maxRelativeError } from './util.js';

/** Bi-Real's unit, with the projection shortcut where it strides or widens. */
const BIREAL_UNITS = `  block unit(ch, stride = 1) = residual(shortcut = project(ch, stride) if stride > 1 or channels != ch) {
    bconv 3x3 ch /stride
    bn
  }
  block project(ch, stride) { avgpool 2x2 /stride padding=same; conv 1x1 ch; bn }`;

const TINY = `
model tiny {
  input 3x12x12
  classes 7
  binarize activations = approx_sign, weights = magnitude_aware_sign
${BIREAL_UNITS}
  block dense_unit(g) = concat { bn; bconv 3x3 g; bn }
  conv 3x3 24 padding=1 bias=true; bn; relu; maxpool 2x2 /1 padding=same
  unit(24); unit(40, stride = 2)
  fractal(columns = 3) { unit(40) }
  dense_unit(13); dense_unit(13)
  bn; prelu; hardtanh min=-2 max=3
  global_avgpool
  bdense 32 bias=true
  bn
  dense 7
}`;

async function orLogits(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const session = await createSession(bytes);
  try {
    return await runOnnx(session, x, n);
  } finally {
    await session.release();
  }
}

/** A spec on the reference kernels: the runtime, and the largest relative difference of its logits from onnxruntime's. */
async function onReferenceKernels(source: string, file: string, seed: number, n: number, step: number) {
  return onKernels(source, file, seed, n, step, { kernels: jsKernels() });
}

/** The same on other kernels (none: the native ones, or the WebAssembly ones where the addon is missing). */
async function onKernels(source: string, file: string, seed: number, n: number, step: number, options: { kernels?: KernelSet; threads?: number; plan?: PlanOptions }) {
  const { graph, diagnostics } = compile(source, file);
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const weights = busyWeights(graph!, seed);
  const x = Float32Array.from({ length: n * graph!.input.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * step) * 2);
  const reference = await orLogits(exportOnnx(graph!, weights), x, n);
  const runtime = createRuntime(exportOnnx(graph!, weights, { binaryOps: true }), { ...options, batch: n });
  // the kernels of the plan's steps, in order: what most checks look at
  return { runtime, kernels: runtime.plan.steps.map((step) => step.kernel), error: maxRelativeError(runtime.run(x, n), reference) };
}

/** The same floats bit for bit (−0 apart from +0, NaN equal to NaN). */
function expectSameBits(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  expect(Array.from(a, (v, i) => Object.is(v, b[i]))).not.toContain(false);
}

/**
 * A spec planned with its joins computed by the binary convs and as passes of their own (`plan.joins`), each
 * plan checked by `check`, each run on FIXED_INPUT (two samples): the two plans' logits must be the same bits.
 */
async function expectJoinsInConvsExact(
  source: string, file: string, seed: number, step: number, kernels: KernelSet | undefined,
  check: (joins: boolean, r: Awaited<ReturnType<typeof onKernels>>) => void,
): Promise<void> {
  const logits: Float32Array[] = [];
  for (const joins of [true, false]) {
    const planned = await onKernels(source, file, seed, 2, step, { kernels, threads: 2, plan: { joins } });
    try {
      check(joins, planned);
      logits.push(planned.runtime.run(FIXED_INPUT, 2));
    } finally {
      planned.runtime.release(); // the suite's WebAssembly instance takes one runtime at a time
    }
  }
  expectSameBits(logits[0], logits[1]);
}

describe('the runtime planner on reference kernels', () => {
  it('gives onnxruntime\'s logits on a net with every fusion (residual, concat slices, packed signs, folded BN)', async () => {
    const { runtime, error } = await onReferenceKernels(TINY, 'tiny.sofar', 3, 3, 0.37);
    expect(error).toBeLessThan(1e-4);
    const s = runtime.plan.stats;
    expect(s.fusedPacks).toBeGreaterThan(0);
    expect(s.fusedAffinePacks).toBeGreaterThan(0);
    expect(s.fusedResiduals).toBeGreaterThan(0);
    expect(s.sliceWrites).toBeGreaterThan(0);
  });

  it("gives onnxruntime's logits on QuickNet's and ReActNet's blocks, their chains in the binary convs' epilogues", async () => {
    const { runtime, kernels, error } = await onReferenceKernels(ZOO_BLOCKS, 'zoo-blocks.sofar', 5, 2, 0.29);
    expect(error).toBeLessThan(1e-4);
    // QuickNet's ReLU → BN → add, ReActNet's RPReLU (moved into the concat's branches, which write their
    // slices of its floats and of its signs) and RSign thresholds on the epilogue; the last conv, read by
    // the pool alone, needs only the post form
    expect(kernels.filter((k) => k.startsWith('bconv2d'))).toEqual([...Array(5).fill('bconv2dEpilogue'), 'bconv2dPrepackedPost']);
    expect(runtime.plan.stats).toMatchObject({ epilogues: 5, sliceWrites: 2, packedSliceWrites: 2 });
    expect(runtime.plan.stats.fusedThresholdPacks).toBeGreaterThan(0);
    for (const k of ['affineF32', 'preluF32', 'addF32', 'sumF32', 'reluF32'] as const) expect(kernels).not.toContain(k);
    expect(kernels.filter((k) => k === 'copyF32')).toHaveLength(1); // the output's, no concat copies
  });
});

describe("Bi-Real's downsampling join", () => {
  it('goes into the binary conv, which packs the signs the next binary conv reads: no packing step', async () => {
    const { runtime, kernels, error } = await onReferenceKernels(BIREAL_DOWN, 'bireal-down.sofar', 7, 2, 0.41);
    expect(error).toBeLessThan(1e-4);
    // the stem's signs are packed by a step; every later map's by the binary conv that writes it
    expect(kernels.filter((k) => k === 'packSigns')).toHaveLength(1);
    // the projection (avgpool, 1x1 conv) runs first, the strided binary conv adds it
    const shapes = runtime.plan.steps.map((step) => ({ kernel: step.kernel, shape: stepCost(step).shape }));
    const strided = shapes.findIndex((s) => s.kernel.startsWith('bconv2d') && s.shape.includes(' /2'));
    const projection = shapes.findIndex((s) => s.kernel.startsWith('conv2dF32') && s.shape.includes('1x1 16→32 at 6x6'));
    expect(projection).toBeGreaterThan(0);
    expect(strided).toBeGreaterThan(projection);
    expect(runtime.plan.stats.fusedResiduals).toBe(3);
  });

  it('and its average pool goes into the 1×1 conv that reads it: no pooling step', async () => {
    const { runtime, kernels, error } = await onReferenceKernels(BIREAL_DOWN, 'bireal-down.sofar', 7, 2, 0.41);
    expect(error).toBeLessThan(1e-4);
    expect(kernels).not.toContain('avgpoolF32');
    expect(kernels.filter((k) => k === 'conv2dF32Avgpool2')).toHaveLength(1);
    expect(runtime.plan.stats.pooledConvInputs).toBe(1);
    expect(stepCost(runtime.plan.steps[kernels.indexOf('conv2dF32Avgpool2')])).toMatchObject({ shape: 'avgpool 2x2 /2 + 1x1 16→32 at 6x6 ×2', macs: 2 * 36 * 16 * 32 });
    // on the native kernels (or the WebAssembly ones where the addon is missing): the same fusion, onnxruntime's logits
    const { kernels: nativeKernels, error: nativeError } = await onKernels(BIREAL_DOWN, 'bireal-down.sofar', 7, 2, 0.41, {});
    expect(nativeKernels).not.toContain('avgpoolF32');
    expect(nativeKernels.filter((k) => k === 'conv2dF32Avgpool2')).toHaveLength(1);
    expect(nativeError).toBeLessThan(1e-4);
  });
});

describe("MeliusNet's improvement block (add_into)", () => {
  const wasm = bundledWasmForSuite();
  it('adds its binary conv into the last channels of the dense block\'s concat in place: no pad, sum or copy steps', async () => {
    const { runtime, kernels, error } = await onReferenceKernels(MELIUS_BLOCKS, 'melius-blocks.sofar', 11, 2, 0.23);
    expect(error).toBeLessThan(1e-4);
    expect(runtime.plan.stats.fusedAddInto).toBe(5);
    for (const k of ['padChannelsF32', 'sumF32', 'addF32'] as const) expect(kernels).not.toContain(k);
    // one buffer along each section's chain of dense and improvement blocks, each section's input written
    // into its chain by the conv that computes it (the first dense block's batch norm reads it there, strided):
    // the only copy is the output's
    expect(kernels.filter((k) => k === 'copyF32')).toHaveLength(1);
  });

  it('stays a pad and a sum where its input is read after it, and gives the same logits', async () => {
    const { runtime, kernels, error } = await onReferenceKernels(MELIUS_READ_AFTER, 'melius-read-after.sofar', 12, 2, 0.31);
    expect(error).toBeLessThan(1e-4);
    expect(runtime.plan.stats.fusedAddInto).toBe(1);
    expect(kernels).toContain('padChannelsF32');
  });

  it('copies its input first where its window reaches into the channels of the concat before it in the chain', async () => {
    const { runtime, kernels, error } = await onReferenceKernels(MELIUS_WIDE_WINDOW, 'melius-wide-window.sofar', 14, 2, 0.19);
    expect(error).toBeLessThan(1e-4);
    expect(runtime.plan.stats.fusedAddInto).toBe(1);
    expect(kernels).toContain('copyStridedF32');
  });

  it('on the native kernels (or the WebAssembly ones where the addon is missing) and WebAssembly: the same fusion, onnxruntime\'s logits', async () => {
    for (const kernels of [undefined, wasm()]) {
      const { runtime, error } = await onKernels(MELIUS_BLOCKS, 'melius-blocks.sofar', 11, 2, 0.23, { kernels, threads: 2 });
      expect(runtime.plan.stats.fusedAddInto).toBe(5);
      expect(error).toBeLessThan(1e-4);
      runtime.release();
    }
  });
});

describe("DRF's dense-fractal layers", () => {
  const wasm = bundledWasmForSuite();
  it.each([['native', undefined], ['WebAssembly', 'wasm']] as const)(
    "on the %s kernels, each fractal join is computed by its second column's conv, straight into the dense block's concat (no copy), and each layer's two batch norms are packed in one pass",
    async (_, which) => {
      const { runtime, kernels, error } = await onKernels(DRF_LAYERS, 'drf-layers.sofar', 17, 2, 0.31, { kernels: which ? wasm() : undefined, threads: 2 });
      try {
        expect(error).toBeLessThan(1e-4);
        // the conv of one column adds the other's output and halves the sum in its output transform: no pass of the join's own
        expect(kernels).not.toContain('sumF32');
        expect(runtime.plan.stats.joinsInConvs).toBe(3);
        // the joins' convs write their slices, and so does the stem's conv (read by its batch norms too, strided)
        expect(kernels.filter((k) => k === 'copyF32')).toHaveLength(1); // the output's
        expect(runtime.plan.stats.sliceWrites).toBe(4);
        // each layer's two columns normalise its input with their own batch norms: one pass packs both
        expect(kernels.filter((k) => k === 'packSignsAffine2')).toHaveLength(3);
        expect(kernels).not.toContain('packSignsAffine');
        expect(runtime.plan.stats.pairedAffinePacks).toBe(3);
      } finally {
        runtime.release(); // the suite's WebAssembly instance takes one runtime at a time
      }
    },
  );

  it.each([['native', undefined], ['WebAssembly', 'wasm']] as const)(
    'on the %s kernels, joins of three columns (a mean and a sum) computed by the convs, each adding the sum so far, give the logits of the joins as passes of their own, bit for bit',
    async (_, which) => {
      await expectJoinsInConvsExact(DRF_JOINS3, 'drf-joins3.sofar', 19, 0.29, which ? wasm() : undefined, (joins, { runtime, kernels, error }) => {
        expect(error).toBeLessThan(1e-4);
        // per layer, a join of three maps and one of two (the fractal's columns 3, depth 4 join at depths 2 and 4)
        expect(runtime.plan.stats.joinsInConvs).toBe(joins ? 4 : 0);
        expect(kernels.filter((k) => k === 'sumF32')).toHaveLength(joins ? 0 : 4);
      });
    },
  );
});

describe("RF's residual-fractal joins", () => {
  const wasm = bundledWasmForSuite();
  it.each([['native', undefined], ['WebAssembly', 'wasm']] as const)(
    "on the %s kernels, each join is computed by its columns' last convs, each adding its unit's shortcut and then the sum so far (a second residual): the logits of the joins as passes, bit for bit",
    async (_, which) => {
      await expectJoinsInConvsExact(RF_JOINS3, 'rf-joins3.sofar', 23, 0.37, which ? wasm() : undefined, (joins, { runtime, kernels, error }) => {
        expect(error).toBeLessThan(1e-4);
        // per fractal, a join of three maps and one of two; every column's last conv adds its unit's shortcut
        expect(runtime.plan.stats.joinsInConvs).toBe(joins ? 4 : 0);
        expect(kernels.filter((k) => k === 'sumF32')).toHaveLength(joins ? 0 : 4);
        expect(kernels.filter((k) => k === 'bconv2dEpilogueRes2')).toHaveLength(joins ? 6 : 0);
      });
    },
  );

  it.skipIf(skipNative())('stay passes of their own on kernels without the second residual (each over its first input), with the same logits', async () => {
    const withoutRes2 = { ...nativeKernels(), bconv2dEpilogueRes2: undefined };
    const { runtime, kernels, error } = await onKernels(RF_JOINS3, 'rf-joins3.sofar', 23, 2, 0.37, { kernels: withoutRes2, threads: 2 });
    const apart = await onKernels(RF_JOINS3, 'rf-joins3.sofar', 23, 2, 0.37, { kernels: withoutRes2, threads: 2, plan: { inPlace: false } });
    const fused = await onKernels(RF_JOINS3, 'rf-joins3.sofar', 23, 2, 0.37, { threads: 2 });
    try {
      expect(error).toBeLessThan(1e-4);
      expect(runtime.plan.stats.joinsInConvs).toBe(0);
      expect(kernels.filter((k) => k === 'sumF32')).toHaveLength(4);
      // the convs write over their shortcut, and each join's first pass over its first input
      expect(runtime.plan.stats.inPlaceOutputs).toBeGreaterThan(apart.runtime.plan.stats.inPlaceOutputs);
      const logits = runtime.run(FIXED_INPUT, 2);
      expectSameBits(logits, fused.runtime.run(FIXED_INPUT, 2));
      expectSameBits(logits, apart.runtime.run(FIXED_INPUT, 2));
    } finally {
      for (const r of [runtime, apart.runtime, fused.runtime]) r.release();
    }
  });
});

describe("DenseNets' transitions (batch norm → max pool → ReLU → 1×1 conv)", () => {
  const wasm = bundledWasmForSuite();
  it.each([['native', undefined], ['WebAssembly', 'wasm']] as const)(
    'on the %s kernels, the max pool runs first where the batch norm scales by positive factors only, bit for bit; one negative factor keeps the order, with onnxruntime\'s logits',
    async (_, which) => {
      const { graph, diagnostics } = compile(TRANSITION, 'transition.sofar');
      expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      const weights = busyWeights(graph!, 23); // batch norm scales 0.5-1.5 over √(0.5-1.5): positive
      const pool = graph!.nodes.find((node) => node.op === 'maxpool')!;
      const norm = graph!.nodes.find((node) => node.id === pool.inputs[0])!;
      const gamma = weights.get(norm.params.find((p) => p.role === 'gamma')!.name)!;
      for (const negative of [false, true]) {
        if (negative) gamma[3] = -gamma[3];
        const reference = await orLogits(exportOnnx(graph!, weights), FIXED_INPUT, 2);
        const bytes = exportOnnx(graph!, weights, { binaryOps: true });
        const logits: Float32Array[] = [];
        for (const maxPoolFirst of [true, false]) {
          const runtime = createRuntime(bytes, { kernels: which ? wasm() : undefined, threads: 2, batch: 2, plan: { maxPoolFirst } });
          try {
            const kernels = runtime.plan.steps.map((step) => step.kernel);
            const [pooled, normalised] = [kernels.indexOf('maxpoolF32'), kernels.indexOf('affineF32')];
            expect(pooled).toBeGreaterThan(0);
            // the batch norm normalises the pooled map (a quarter of the pixels) only with positive factors
            expect(normalised > pooled).toBe(maxPoolFirst && !negative);
            // the stem's and the transition's convs write their slices of the concats (their batch norms read them there)
            expect(kernels.filter((k) => k === 'copyF32')).toHaveLength(1); // the output's
            logits.push(runtime.run(FIXED_INPUT, 2));
          } finally {
            runtime.release();
          }
        }
        expect(maxRelativeError(logits[0], reference)).toBeLessThan(1e-4);
        expectSameBits(logits[0], logits[1]);
      }
    },
  );
});

/** A dense layer, a transition as Larq's BinaryDenseNets have it, and a dense layer after it. */
const TRANSITION = `
model transition {
  input 3x10x10
  classes 5
  binarize activations = ste_sign(clip = 1.3), weights = ste_sign(clip = 1.3)
  conv 3x3 16; bn
  concat { bn; sign; bconv 3x3 8 }
  bn; maxpool 2x2 /2; relu; conv 1x1 12
  concat { bn; sign; bconv 3x3 8 }
  bn
  relu
  global_avgpool
  dense 5
}`;

/** Two dense-fractal layers of three columns, one joined by a mean (a scale of 1/3 on the sum), one by a sum. */
const DRF_JOINS3 = `
model drf_joins3 {
  input 3x10x10
  classes 5
  binarize activations = ste_sign(clip = 1.3), weights = ste_sign(clip = 1.3)
  block drf_unit(growth) { bn; sign; bconv 3x3 growth; bn }
  conv 3x3 16; bn
  concat { fractal(columns = 3, join = mean) { drf_unit(8) } }
  concat { fractal(columns = 3, join = sum) { drf_unit(8) } }
  bn
  relu
  global_avgpool
  dense 5
}`;
/** Two residual-fractal blocks of three columns of Bi-Real units, one joined by a mean, one by a sum. */
const RF_JOINS3 = `
model rf_joins3 {
  input 3x10x10
  classes 5
  binarize activations = ste_sign(clip = 1.3), weights = ste_sign(clip = 1.3)
${BIREAL_UNITS}
  conv 3x3 16; bn
  fractal(columns = 3, join = mean) { unit(16) }
  fractal(columns = 3, join = sum) { unit(16) }
  bn
  relu
  global_avgpool
  dense 5
}`;
const FIXED_INPUT = Float32Array.from({ length: 2 * 3 * 10 * 10 }, (_, i) => Math.cos(i * 0.43) * 1.7);

describe("Real-to-Binary Net's scaled blocks", () => {
  const wasm = bundledWasmForSuite();
  it('at batch 1, the binary conv takes the squeeze-and-excite gate as its multiplier, then the PReLU and the residual', async () => {
    const { kernels, error } = await onReferenceKernels(R2B_BLOCKS, 'r2b-blocks.sofar', 13, 1, 0.27);
    expect(error).toBeLessThan(1e-4);
    for (const k of ['mulChannelsF32', 'mulF32', 'sumF32', 'addF32'] as const) expect(kernels).not.toContain(k);
    expect(kernels.filter((k) => k === 'preluF32')).toHaveLength(1); // the stem's
    // the gate copied into each conv's parameters, one step of a few floats a block
    expect(kernels.filter((k) => k === 'copyStridedF32')).toHaveLength(3);
    expect(kernels.filter((k) => k === 'bconv2dEpilogue')).toHaveLength(3);
    // each block's batch norm runs on the gate's pooled vector (the pool reads the block's input) and in the
    // signs packed by the conv before it: no pass over the map
    expect(kernels.filter((k) => k === 'affineF32')).toHaveLength(3);
    kernels.forEach((k, i) => k === 'affineF32' && expect(kernels[i - 1]).toBe('globalAvgpoolF32'));
  });

  it('at batch 2 (a gate a sample), the product stays a step; the same logits either way, on the native kernels too', async () => {
    const { kernels, error } = await onReferenceKernels(R2B_BLOCKS, 'r2b-blocks.sofar', 13, 2, 0.27);
    expect(error).toBeLessThan(1e-4);
    expect(kernels).toContain('mulChannelsF32');
    for (const set of [undefined, wasm()]) {
      const { runtime: one, kernels: oneKernels, error: oneError } = await onKernels(R2B_BLOCKS, 'r2b-blocks.sofar', 13, 1, 0.27, { kernels: set, threads: 2 });
      expect(oneKernels).not.toContain('mulChannelsF32');
      expect(oneError).toBeLessThan(1e-4);
      one.release();
    }
  });
});

/** DRF's dense-fractal layers: concat(x, mean(unit(x), unit(unit(x)))), three of them. */
const DRF_LAYERS = `
model drf_layers {
  input 3x12x12
  classes 5
  binarize activations = ste_sign(clip = 1.3), weights = ste_sign(clip = 1.3)
  block drf_unit(growth) { bn; sign; bconv 3x3 growth }
  block drf_layer(growth) = concat { fractal(columns = 2, depth = 2, join = mean) { drf_unit(growth) } }
  conv 3x3 16; bn
  drf_layer(8) * 3
  bn
  relu
  global_avgpool
  dense 5
}`;

/** Real-to-Binary Net's half blocks: x + PReLU(bconv(BN(x)) · gate(BN(x))), one widening with a projection shortcut. */
const R2B_BLOCKS = readFileSync('test/runtime/fixtures/r2b-blocks.sofar', 'utf8');

/** MeliusNet's blocks: sections of dense blocks (+16 channels) each followed by an improvement block, a transition between. */
const MELIUS_BLOCKS = `
model melius_blocks {
  input 3x16x16
  classes 5
  binarize activations = ste_sign(clip = 1.3), weights = ste_sign(clip = 1.3)
  block dense_block() = concat { bn; bconv 3x3 16 }
  block improvement_block() = add_into { bn; bconv 3x3 16 }
  conv 3x3 24 /2; bn; relu
  for j in 1..3 { dense_block(); improvement_block() }
  bn; maxpool 2x2 /2 padding=same; relu; conv 1x1 40
  for j in 1..2 { dense_block(); improvement_block() }
  bn; relu; global_avgpool
  dense 5
}`;

/** An improvement block of 40 channels into a 56-channel concat: its window reaches into the chain's 40-channel concat before it. */
const MELIUS_WIDE_WINDOW = `
model melius_wide_window {
  input 3x16x16
  classes 5
  binarize activations = ste_sign, weights = ste_sign
  block dense_block() = concat { bn; bconv 3x3 16 }
  conv 3x3 24 /2; bn; relu
  dense_block(); dense_block()
  add_into { bn; bconv 3x3 40 }
  bn; relu; global_avgpool
  dense 5
}`;

/** An improvement block whose input the residual around it reads afterwards: it cannot change that input in place. */
const MELIUS_READ_AFTER = `
model melius_read_after {
  input 3x16x16
  classes 5
  binarize activations = ste_sign, weights = ste_sign
  block dense_block() = concat { bn; bconv 3x3 16 }
  block improvement_block() = add_into { bn; bconv 3x3 16 }
  conv 3x3 24 /2; bn; relu
  dense_block()
  residual(shortcut = none) { improvement_block() }
  dense_block(); improvement_block()
  bn; relu; global_avgpool
  dense 5
}`;

/** Bi-Real units: a plain one, a downsampling one with its projection shortcut, a plain one. */
const BIREAL_DOWN = `
model bireal_down {
  input 3x12x12
  classes 5
  binarize activations = approx_sign, weights = magnitude_aware_sign
${BIREAL_UNITS}
  conv 3x3 16 padding=1; bn
  unit(16); unit(32, stride = 2); unit(32)
  global_avgpool
  dense 5
}`;

/** QuickNet's residual blocks, then ReActNet's blocks (RSign, RPReLU, a widening concat of two 1×1 branches). */
const ZOO_BLOCKS = `
model zoo_blocks {
  input 64x4x4
  classes 5
  binarize activations = ste_sign, weights = ste_sign
  block quick() = residual(shortcut = none) { bconv 3x3 channels pad_value=1; relu; bn }
  block rsign_conv(k, filters) { bias; bconv k filters padding=(k // 2); bn }
  block rprelu() { bias; prelu init=0.25; bias }
  block pointwise(ch) = residual(shortcut = none) { rsign_conv(1, ch) }
  quick(); quick()
  residual(shortcut = none) { rsign_conv(3, 64) }
  rprelu()
  parallel(join = concat) {
    branch { pointwise(64) }
    branch { pointwise(64) }
  }
  rprelu()
  residual(shortcut = none) { rsign_conv(3, 128) }
  rprelu()
  global_avgpool
  dense 5
}`;

describe('the arena', () => {
  // The zoo's nets with concats (ReActNet-A's widening blocks, DRF's dense blocks) and without (Bi-Real, RF)
  it.each(['reactnet-a', 'drf-c2d2-densenet51', 'bireal-resnet18', 'rf-c4d8-resnet37'])(
    '%s: each map lives from the step that writes it, and no two maps alive at one step share a byte',
    (name) => {
      const { graph } = compileFile(`specs/${name}.sofar`);
      const plan = planModel(readRuntimeModel(exportOnnx(graph!, initWeights(graph!, 0), { binaryOps: true })), jsKernels(), 1);
      const { maps, steps } = plan;
      const inside = (m: { offset: number; bytes: number }, at: number) => at >= m.offset && at < m.offset + m.bytes;
      for (const m of maps) {
        if (m.first === -1) {
          expect(m.offset).toBe(plan.input.offset); // the input alone is written before the steps
          continue;
        }
        // a concat's buffer was made before any step and lived from step 0 (ReActNet-A's maps 10.0 MB, now 7.0)
        expect(steps[m.first].args.some((at) => inside(m, at)), `map at ${m.offset}, steps ${m.first}..${m.last}`).toBe(true);
      }
      for (const [i, a] of maps.entries())
        for (const b of maps.slice(i + 1)) {
          const together = a.first <= b.last && b.first <= a.last;
          const shared = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
          const [older, newer] = a.first <= b.first ? [a, b] : [b, a];
          // the one exception: a binary conv's output written in place over the residual it reads last
          const inPlace = newer.inPlace && newer.first === older.last && newer.offset === older.offset && newer.bytes === older.bytes &&
            (steps[newer.first].kernel.startsWith('bconv2d') || steps[newer.first].kernel === 'sumF32') && steps[newer.first].args.filter((at) => at === newer.offset).length === 2;
          expect(together && shared && !inPlace, `maps at ${a.offset} (${a.first}..${a.last}) and ${b.offset} (${b.first}..${b.last})`).toBe(false);
        }
      expect(maps.filter((m) => m.inPlace).length).toBe(plan.stats.inPlaceOutputs);
      expect(plan.stats.mapBytes).toBe(Math.max(...maps.map((m) => m.offset + m.bytes)) - Math.min(...maps.map((m) => m.offset)));
    },
  );
});

/** Argument indices of the residual and the float output of the binary conv kernels with both */
const RESIDUAL_AND_OUTPUT: Record<string, [number, number]> = {
  bconv2dPrepacked: [4, 5],
  bconv2dPrepackedPost: [4, 7],
  bconv2dEpilogue: [3, 4],
  bconv2dEpiloguePack2: [3, 4],
};

describe('staggered map offsets', () => {
  it('keep offsets in order and never closer, and part places a multiple of 4 KiB apart', () => {
    const offsets = [0, 64, 4032, 4096, 8128, 262080, 262144, 1605632, 3211264, 16777216];
    for (const a of offsets)
      for (const b of offsets.filter((o) => o > a)) expect(staggered(b) - staggered(a)).toBeGreaterThanOrEqual(b - a);
    // places up to 126 pages apart never stay congruent; of those up to 16 MiB apart, one in 64 does
    const congruent = (k: number) => (staggered(4096 * k) - staggered(0)) % 4096 === 0;
    for (let k = 1; k < 127; k++) expect(congruent(k), `${k} pages apart`).toBe(false);
    expect(Array.from({ length: 4095 }, (_, i) => congruent(i + 1)).filter(Boolean).length).toBeLessThanOrEqual(64);
  });

  // ReActNet-A's 1x1 convs at 112x112 and 56x56 read a residual map and write another of the same size (1.6 MB,
  // 0.8 MB: multiples of 4 KiB): laid out back to back, four of them had the two 4 KiB-congruent
  it.skipIf(skipNative())('leave no binary conv of ReActNet-A with its residual and output a multiple of 4 KiB apart', () => {
    const { graph } = compileFile('specs/reactnet-a.sofar');
    const model = readRuntimeModel(exportOnnx(graph!, initWeights(graph!, 0), { binaryOps: true }));
    /** The residual and the float output of each binary conv step with both, in separate maps */
    const pairs = (options: PlanOptions) =>
      planModel(model, nativeKernels(), 1, options).steps.flatMap((s) => {
        const at = RESIDUAL_AND_OUTPUT[s.kernel];
        if (!at) return [];
        const [res, y] = at.map((i) => s.args[i]);
        return res >= 0 && y >= 0 && res !== y ? [[res, y]] : [];
      });
    const aliased = (options: PlanOptions) => pairs(options).filter(([res, y]) => (res - y) % 4096 === 0).length;
    expect(pairs({}).length).toBeGreaterThan(10);
    expect(aliased({ stagger: false })).toBeGreaterThan(0);
    expect(aliased({})).toBe(0); // the runtime's default
  });
});
