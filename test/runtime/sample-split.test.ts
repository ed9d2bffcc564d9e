/**
 * A batch's first steps run sample by sample (Execution's SampleSplit, split.ts): the outputs are the whole
 * batch's, bit for bit, wherever the split falls, on the native and the WebAssembly kernels; the choice
 * follows the maps' sizes.
 */
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { createRuntime, createRuntimeWith, planModel, readRuntimeModel, RuntimeOptionError, type KernelSet, type Plan } from '../../backends/runtime/index.js';
import { carriedMaps } from '../../backends/runtime/execute.js';
import { chooseSampleSteps, mapBytesOfStep, sameCalls, sampleStepCandidates } from '../../backends/runtime/split.js';
import { SplitTrial, TRIAL_ROUNDS } from '../../backends/runtime/split-trial.js';
import { compileFile } from '../../src/compile.js';
import { initWeights } from '../../src/weights/init.js';
import { busyWeights, normalValues } from '../helpers/values.js';
import { maxRelativeError } from './util.js';
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

describe.skipIf(skipNative())('a batch whose plan for one sample makes other calls, run sample by sample whole', () => {
  // Real-to-Binary Net's gate is its conv's multiplier for one sample only: the two plans differ
  const spec = 'test/runtime/fixtures/r2b-blocks.sofar';
  const n = 3;

  it.each([
    ['native', nativeKernels],
    ['WebAssembly', bundledWasmForSuite()],
  ] as const)("on the %s kernels, gives each sample's outputs of the plan for one sample, bit for bit", async (_, kernels) => {
    const { bytes, per } = exported(spec, true);
    const x = normalValues(n * per, 9, 2);
    const model = readRuntimeModel(bytes);
    const one = planModel(model, nativeKernels(), 1), batch = planModel(model, nativeKernels(), n);
    expect(sameCalls(one, batch)).toBe(false);
    expect(sampleStepCandidates(one, batch, 2)).toEqual([0, batch.steps.length]);
    const k = await kernels();
    const single = createRuntimeWith(bytes, { kernels: k, threads: 2, batch: 1 });
    const each = Array.from({ length: n }, (_, i) => Array.from(single.run(x.subarray(i * per, (i + 1) * per), 1))).flat();
    single.release();
    const whole = outputs(k, bytes, x, n, batch.steps.length);
    expect(whole.sampleSteps).toBe(batch.steps.length);
    // a wrong carry (offset, size or sample stride) would change some sample's logits
    expect(Array.from(whole.y)).toEqual(each);
    // the batch plan (a product step for the gate) agrees but for rounding
    const over = outputs(k, bytes, x, n, false);
    expect(maxRelativeError(over.y, whole.y)).toBeLessThan(1e-5);
  });

  it('refuses a split part way, and profiles the plan for one sample, every sample counted', () => {
    const { bytes, per } = exported(spec, true);
    expect(() => createRuntime(bytes, { kernels: nativeKernels(), batch: n, sampleSplit: 4 })).toThrow(/only all of its \d+ steps/);
    const runtime = createRuntime(bytes, { kernels: nativeKernels(), threads: 2, batch: n, sampleSplit: 10_000 });
    runtime.run(normalValues(n * per, 9, 2), n);
    const { plan, samples } = runtime.profiled;
    expect(samples).toBe(n);
    expect(plan.batch).toBe(1);
    expect(plan.steps.length).toBeLessThan(runtime.plan.steps.length);
    const times = runtime.profile(3);
    expect(times).toHaveLength(plan.steps.length);
    expect(times.every((t) => t > 0)).toBe(true);
    runtime.release();
    // where the batch plan runs, it is the one profiled
    const over = createRuntime(bytes, { kernels: nativeKernels(), threads: 2, batch: n, sampleSplit: false });
    expect(over.profiled).toEqual({ plan: over.plan, samples: 1 });
    over.release();
  });

  it('lets its first runs choose between the batch plan and the plan for one sample', () => {
    const { bytes, per } = exported(spec, false);
    const runtime = createRuntime(bytes, { kernels: nativeKernels(), threads: 2, batch: n });
    const x = normalValues(n * per, 4, 2);
    const whole = outputs(nativeKernels(), bytes, x, n, 10_000).y;
    while (!runtime.sampleSplit.settled) expect(maxRelativeError(runtime.run(x, n), whole)).toBeLessThan(1e-5);
    expect(runtime.sampleSplit.candidates).toEqual([0, runtime.plan.steps.length]);
    expect(runtime.sampleSplit.candidates).toContain(runtime.sampleSteps);
    runtime.release();
  });
});

describe.skipIf(skipNative())('the split the runtime chooses', () => {
  const planned = new Map<string, { one: Plan; batch: Plan }>();
  const plans = (spec: string, batch: number) => {
    const key = `${spec} ${batch}`;
    if (!planned.has(key)) {
      const model = readRuntimeModel(exported(spec, false).bytes);
      planned.set(key, { one: planModel(model, nativeKernels(), 1), batch: planModel(model, nativeKernels(), batch) });
    }
    return planned.get(key)!;
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

  it('offers none, the fitted choice and the longer prefixes of costlier spills as candidates', () => {
    const reactnet = plans('specs/reactnet-a.sofar', 8);
    const candidates = sampleStepCandidates(reactnet.one, reactnet.batch, 2);
    expect(candidates[0]).toBe(0);
    expect(candidates).toContain(chooseSampleSteps(reactnet.one, reactnet.batch, 2));
    expect(candidates).toEqual([...new Set(candidates)].sort((a, b) => a - b));
    expect(candidates.length).toBeGreaterThan(2);
    expect(Math.max(...candidates)).toBeLessThanOrEqual(reactnet.batch.steps.length);
    // Bi-Real's 56x56 stage spills a batch of 8 out of two 1 MiB L2s: split where spills cost more
    const bireal = plans('specs/bireal-resnet18.sofar', 8);
    expect(sampleStepCandidates(bireal.one, bireal.batch, 2).length).toBeGreaterThan(1);
    const single = plans('specs/reactnet-a.sofar', 1);
    expect(sampleStepCandidates(single.one, single.batch, 2)).toEqual([0]);
  });
});

describe('the trial of the candidate splits', () => {
  /** Feeds a trial the times that `timeOf(k, run)` gives and returns the splits it asked for, in order. */
  const feed = (trial: SplitTrial, timeOf: (k: number, run: number) => number) => {
    const asked: number[] = [];
    for (let run = 0; !trial.settled; run++) {
      const k = trial.next();
      asked.push(k);
      trial.record(timeOf(k, run));
    }
    return asked;
  };

  it('tries every candidate once a round, in alternating order, and keeps the fastest by its median', () => {
    const trial = new SplitTrial([0, 12, 17]);
    const asked = feed(trial, (k) => ({ 0: 30, 12: 20, 17: 25 })[k]!);
    const rounds = Array.from({ length: TRIAL_ROUNDS + 1 }, (_, r) => (r % 2 === 0 ? [0, 12, 17] : [17, 12, 0]));
    expect(asked).toEqual(rounds.flat());
    expect(trial.next()).toBe(12);
    // settled: further times change nothing
    trial.record(1);
    expect(trial.next()).toBe(12);
  });

  it('weighs each run against its own round, so a machine slowing down round by round does not decide', () => {
    // 12 is 10 % faster than 0 within every round but the second, where one of its runs is disturbed (2x),
    // while the machine slows down round by round: over raw times 0's median would be lower (30 against 36)
    const trial = new SplitTrial([0, 12]);
    let run = 0;
    feed(trial, (k) => {
      const round = Math.floor(run++ / 2);
      return (k === 0 ? 10 : 9) * Math.max(round, 1) * (k === 12 && round === 2 ? 2 : 1);
    });
    expect(trial.next()).toBe(12);
  });

  it('ignores the first round and one outlier a candidate', () => {
    // the first round is slow for 12 (its maps first touched), and one later run of 12 is disturbed
    const trial = new SplitTrial([0, 12]);
    let seen12 = 0;
    feed(trial, (k) => (k === 0 ? 10 : ++seen12 === 1 ? 100 : seen12 === 3 ? 50 : 8));
    expect(trial.next()).toBe(12);
    expect(trial.trialTimes.map((t) => t.length)).toEqual([TRIAL_ROUNDS, TRIAL_ROUNDS]);
  });

  it('keeps a single candidate at once', () => {
    const trial = new SplitTrial([7]);
    expect(trial.settled).toBe(true);
    expect(trial.next()).toBe(7);
    expect(() => new SplitTrial([])).toThrow(/no candidates/);
  });
});

describe.skipIf(skipNative())('a runtime choosing its split in its first runs', () => {
  it("gives the whole batch's outputs on every run of the trial and settles on a candidate", () => {
    const { bytes, per } = exported('specs/reactnet-a.sofar', false);
    const n = 2;
    const x = normalValues(n * per, 3, 2);
    const whole = outputs(nativeKernels(), bytes, x, n, false).y;
    const runtime = createRuntime(bytes, { kernels: nativeKernels(), threads: 2, batch: n });
    try {
      const { candidates } = runtime.sampleSplit;
      expect(candidates.length).toBeGreaterThan(1);
      const used = new Set<number>();
      let runs = 0;
      while (!runtime.sampleSplit.settled) {
        used.add(runtime.sampleSteps);
        expect(Array.from(runtime.run(x, n)), `run ${runs} (first ${runtime.sampleSteps} steps sample by sample)`).toEqual(Array.from(whole));
        runs++;
      }
      expect(runs).toBe((TRIAL_ROUNDS + 1) * candidates.length);
      expect([...used].sort((a, b) => a - b)).toEqual([...candidates]);
      expect(candidates).toContain(runtime.sampleSteps);
      expect(Array.from(runtime.run(x, n))).toEqual(Array.from(whole));
      // a fixed split is no trial
      const fixed = createRuntime(bytes, { kernels: nativeKernels(), threads: 2, batch: n, sampleSplit: 5 });
      expect(fixed.sampleSplit).toEqual({ steps: 5, candidates: [5], settled: true });
      fixed.release();
    } finally {
      runtime.release();
    }
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
