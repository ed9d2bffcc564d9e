/**
 * A batch's first steps run sample by sample (Execution's SampleSplit, split.ts): the outputs are the whole
 * batch's, bit for bit, wherever the split falls, on the native and the WebAssembly kernels; the choice
 * follows the maps' sizes.
 */
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { createRuntime, createRuntimeWith, planModel, readRuntimeModel, RuntimeOptionError, type KernelSet } from '../../backends/runtime/index.js';
import { carriedMaps } from '../../backends/runtime/execute.js';
import { chooseSampleSteps, mapBytesOfStep, sameCalls } from '../../backends/runtime/split.js';
import { compileFile } from '../../src/compile.js';
import { initWeights } from '../../src/weights/init.js';
import { busyWeights, normalValues } from '../helpers/values.js';
import { bundledWasmForSuite, nativeKernels, skipNative } from './helpers.js';

function exported(spec: string, busy: boolean): { bytes: Uint8Array; per: number } {
  const { graph } = compileFile(spec);
  const weights = busy ? busyWeights(graph!, 3) : initWeights(graph!, 0);
  return { bytes: exportOnnx(graph!, weights, { binaryOps: true }), per: graph!.input.reduce((a, b) => a * b, 1) };
}

/** The outputs of one run of n samples with the given split (false: the whole batch at every step). */
function outputs(kernels: KernelSet, bytes: Uint8Array, x: Float32Array, n: number, sampleSplit: boolean | number, threads = 2) {
  const runtime = createRuntimeWith(bytes, { kernels, threads, batch: n, sampleSplit });
  try {
    return { y: runtime.run(x, n), steps: runtime.plan.steps.length, sampleSteps: runtime.sampleSteps };
  } finally {
    runtime.release();
  }
}

describe.skipIf(skipNative())('a batch run sample by sample for its first steps', () => {
  it.each(['specs/fashion/reactnet-small.sofar', 'specs/fashion/drf-c2-small.sofar', 'specs/fashion/bireal-small.sofar'])(
    '%s: gives the whole batch\'s outputs bit for bit wherever the split falls',
    (spec) => {
      const { bytes, per } = exported(spec, true);
      const n = 3;
      const x = normalValues(n * per, 11, 2);
      const whole = outputs(nativeKernels(), bytes, x, n, false);
      expect(whole.sampleSteps).toBe(0);
      for (let k = 1; k <= whole.steps; k++) {
        const split = outputs(nativeKernels(), bytes, x, n, k);
        expect(split.sampleSteps).toBe(k);
        // a wrong carry (offset, size or sample stride) changes some sample's logits
        expect(Array.from(split.y), `split after ${k} of ${whole.steps} steps`).toEqual(Array.from(whole.y));
      }
    },
  );

  it('on one thread too, and the profile counts every sample of the steps run one at a time', () => {
    const { bytes, per } = exported('specs/fashion/reactnet-small.sofar', true);
    const x = normalValues(4 * per, 5, 2);
    const whole = outputs(nativeKernels(), bytes, x, 4, false, 1);
    const runtime = createRuntime(bytes, { kernels: nativeKernels(), threads: 1, batch: 4, sampleSplit: 6 });
    expect(Array.from(runtime.run(x, 4))).toEqual(Array.from(whole.y));
    const times = runtime.profile(3);
    expect(times).toHaveLength(runtime.plan.steps.length);
    expect(times.every((t) => t > 0)).toBe(true);
    runtime.release();
  });

  it('rejects a split that is not a whole number of steps', () => {
    const { bytes } = exported('specs/fashion/reactnet-small.sofar', false);
    expect(() => createRuntime(bytes, { kernels: nativeKernels(), batch: 2, sampleSplit: -1 })).toThrow(RuntimeOptionError);
    expect(() => createRuntime(bytes, { kernels: nativeKernels(), batch: 2, sampleSplit: 2.5 })).toThrow(/sampleSplit must be an integer/);
  });
});

describe.skipIf(skipNative())('the split the runtime chooses', () => {
  const plans = (spec: string, batch: number) => {
    const model = readRuntimeModel(exported(spec, false).bytes);
    return { one: planModel(model, nativeKernels(), 1), batch: planModel(model, nativeKernels(), batch) };
  };

  it("pairs the one-sample plan's maps with the batch plan's, each the batch size times larger", () => {
    const { one, batch } = plans('specs/reactnet-a.sofar', 8);
    expect(sameCalls(one, batch)).toBe(true);
    expect(batch.maps.every((m, j) => m.size === 8 * one.maps[j].size)).toBe(true);
    // the input is carried into a split at step 0; a split after the last step carries only the output
    expect(carriedMaps(one, batch, 0).map((c) => c.batch.offset)).toEqual([batch.input.offset]);
    expect(carriedMaps(one, batch, batch.steps.length).map((c) => c.batch.offset)).toEqual([batch.output.offset]);
  });

  it("runs ReActNet-A's 112x112 to 28x28 stages sample by sample at batch 8, and hands over a small map", () => {
    const { one, batch } = plans('specs/reactnet-a.sofar', 8);
    const steps = chooseSampleSteps(one, batch, 2);
    const largest = Math.max(...one.maps.map((m) => m.size));
    const carried = carriedMaps(one, batch, steps).reduce((sum, c) => sum + c.one.size, 0);
    expect(steps).toBeGreaterThanOrEqual(10);
    expect(steps).toBeLessThan(28);
    expect(carried).toBeLessThan(largest / 4);
    // every step it leaves to the batch touches less than its first steps do
    expect(mapBytesOfStep(batch, 2)).toBeGreaterThan(Math.max(...batch.steps.slice(steps).map((_, i) => mapBytesOfStep(batch, steps + i))));
  });

  it("leaves the whole batch where a sample's maps are small (Bi-Real at batch 8), and batch 1 alone", () => {
    const bireal = plans('specs/bireal-resnet18.sofar', 8);
    expect(chooseSampleSteps(bireal.one, bireal.batch, 2)).toBe(0);
    const single = plans('specs/reactnet-a.sofar', 1);
    expect(chooseSampleSteps(single.one, single.batch, 2)).toBe(0);
  });
});

describe('a batch run sample by sample on the WebAssembly kernels', () => {
  const wasm = bundledWasmForSuite();
  it('keeps both plans in the module\'s one arena and gives the whole batch\'s outputs', () => {
    const { bytes, per } = exported('specs/fashion/drf-c2-small.sofar', true);
    const x = normalValues(3 * per, 7, 2);
    const whole = outputs(wasm(), bytes, x, 3, false, 1);
    for (const k of [1, Math.floor(whole.steps / 2), whole.steps]) {
      expect(Array.from(outputs(wasm(), bytes, x, 3, k, 1).y), `split after ${k}`).toEqual(Array.from(whole.y));
    }
  });
});
