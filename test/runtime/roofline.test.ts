/**
 * The roofline profile (`sofar bench --runtime sofar --profile`): the MACs its steps add up to are the
 * cost model's, binary and float, for the plan of a zoo model (the independent count: src/cost.ts on the
 * graph); shares and the limit follow from the step times and peaks given; the ceilings are the cores'
 * register-only rates, which the addon's loops report the MACs of (12 accumulators of the instruction set's
 * width) and which SoFAr's best conv does not exceed; the command prints them.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/export.js';
import { createRuntime } from '../../backends/runtime/index.js';
import { detectedNativeIsa, setNativeIsa } from '../../backends/runtime/kernels.js';
import { peakRate, roofline, type Peaks } from '../../backends/runtime/roofline.js';
import { compileFile } from '../../src/compile.js';
import { summarize } from '../../src/cost.js';
import { initWeights } from '../../src/weights/init.js';
import { nativeKernels, skipNative } from './helpers.js';

const PEAKS: Peaks = { binaryMacsPerSecond: 1e12, floatMacsPerSecond: 1e11, basis: 'register-only', kernels: { binaryMacsPerSecond: 8e11, floatMacsPerSecond: 9e10 }, method: 'test' };

describe('the roofline profile', () => {
  it('a peak is the fastest round of its probe: a round at one core’s rate (its second thread descheduled) does not lower it', () => {
    // 2.57e7 MACs (the float probe): rounds at 0.44 ms (one core) and 0.23-0.24 ms (two)
    const rate = (ms: number) => 2.57e7 / (ms / 1e3);
    expect(peakRate([0.24, 0.44, 0.23, 0.235, 0.44].map(rate))).toBeCloseTo(rate(0.23), 0);
    expect(peakRate([rate(0.44)])).toBeCloseTo(rate(0.44), 0);
  });

  for (const spec of ['specs/fashion/bireal-small.sofar', 'specs/fashion/drf-c2-small.sofar']) {
    it(`${spec}: the steps' MACs are the cost model's, and the limit is those MACs at the peaks`, () => {
      const graph = compileFile(spec).graph!;
      const rt = createRuntime(exportOnnx(graph, initWeights(graph, 0), { binaryOps: true }), { threads: 1 });
      try {
        const stepMs = rt.plan.steps.map(() => 0.5);
        const r = roofline(rt.plan, stepMs, PEAKS);
        const summary = summarize(graph);
        expect(r.binaryMacs).toBe(summary.macs.binary);
        expect(r.floatMacs).toBe(summary.macs.float);
        expect(r.totalMs).toBeCloseTo(0.5 * rt.plan.steps.length, 9);
        expect(r.limitMs).toBeCloseTo((summary.macs.binary / 1e12 + summary.macs.float / 1e11) * 1e3, 9);
        for (const s of r.steps.filter((s) => s.kind !== 'other')) {
          expect(s.shareOfPeak).toBeCloseTo(s.macs / 5e-4 / (s.kind === 'binary' ? 1e12 : 1e11), 9);
          expect(s.shareOfKernelPeak).toBeCloseTo(s.macs / 5e-4 / (s.kind === 'binary' ? 8e11 : 9e10), 9);
        }
        for (const s of r.steps.filter((s) => s.kind === 'other')) expect([s.shareOfPeak, s.shareOfKernelPeak]).toEqual([null, null]);
      } finally {
        rt.release();
      }
    });
  }

  it("a batch run sample by sample on the plan for one sample: its steps' MACs are the cost model's, that many times", () => {
    // Real-to-Binary Net's blocks: the plans for one sample and for 3 make other calls, so all of a batch's steps run one sample at a time
    const graph = compileFile('test/runtime/fixtures/r2b-blocks.sofar').graph!;
    const rt = createRuntime(exportOnnx(graph, initWeights(graph, 0), { binaryOps: true }), { threads: 1, batch: 3, sampleSplit: 10_000 });
    try {
      const { plan, samples } = rt.profiled;
      expect(samples).toBe(3);
      const r = roofline(plan, plan.steps.map(() => 0.5), PEAKS, samples);
      const summary = summarize(graph);
      expect(r.binaryMacs).toBe(3 * summary.macs.binary);
      expect(r.floatMacs).toBe(3 * summary.macs.float);
      expect(r.steps.find((s) => s.kind === 'binary')!.shape).toMatch(/×3 one at a time$/);
    } finally {
      rt.release();
    }
  });

  it.skipIf(skipNative())('the addon’s register-only loops report 12 accumulators of their instruction set’s width, on any threads', () => {
    const k = nativeKernels();
    const widths = { scalar: [64, 1], avx2: [256, 8], avx512: [512, 16] } as const;
    try {
      for (const isa of ['scalar', 'avx2', 'avx512'] as const) {
        if (setNativeIsa(isa) !== isa) continue;
        for (const threads of [1, 2]) {
          k.setThreads(threads);
          expect(k.registerPeak!(0, 1000, 3), `${isa} binary`).toBe(3 * 1000 * 12 * widths[isa][0]);
          expect(k.registerPeak!(1, 1000, 3), `${isa} float`).toBe(3 * 1000 * 12 * widths[isa][1]);
        }
      }
    } finally {
      setNativeIsa(detectedNativeIsa() as 'avx512');
      k.setThreads(1);
    }
    expect(() => k.registerPeak!(2 as 0, 10, 1)).toThrow(RangeError);
    expect(() => k.registerPeak!(0, 0.5, 1)).toThrow(RangeError);
    expect(() => k.registerPeak!(0, 10, 0)).toThrow(RangeError);
  });

  it('sofar bench --profile --json names each step’s share of the cores’ register-only peak and of the kernels’ best, and the model’s share of its limit', () => {
    const r = spawnSync(process.execPath, [resolve('dist/cli/main.js'), 'bench', 'specs/fashion/bireal-small.sofar', '--runtime', 'sofar', '--threads', '2', '--profile', '--runs', '5', '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    type Json = { steps: { kind: string; shareOfRegisterPeak: number | null; shareOfKernelPeak: number | null }[]; limitMs: number; shareOfLimit: number; peaks: { basis: string; binaryMacsPerSecond: number; floatMacsPerSecond: number; kernels: { binaryMacsPerSecond: number; floatMacsPerSecond: number } } };
    const { profile, machine } = JSON.parse(r.stdout) as { profile: Json; machine: { model: string; cpus: number; date: string } };
    // the CPU it was measured on, as the results files record it
    expect(machine.cpus).toBeGreaterThan(0);
    expect(machine.model.length).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(machine.date))).toBe(false);
    const binary = profile.steps.filter((s) => s.kind === 'binary');
    expect(binary.length).toBeGreaterThan(0);
    expect(binary.every((s) => (s.shareOfRegisterPeak ?? 0) > 0 && (s.shareOfKernelPeak ?? 0) > 0)).toBe(true);
    expect(profile.limitMs).toBeGreaterThan(0);
    expect(profile.shareOfLimit).toBeGreaterThan(0);
    // the ceilings: the register-only rates, which SoFAr's best-shape convs reach but do not pass (both the fastest of five rounds, taken in turn)
    expect(profile.peaks.basis).toBe('register-only');
    expect(profile.peaks.binaryMacsPerSecond).toBeGreaterThan(1e9);
    expect(profile.peaks.kernels.binaryMacsPerSecond).toBeLessThan(1.05 * profile.peaks.binaryMacsPerSecond);
    expect(profile.peaks.kernels.floatMacsPerSecond).toBeLessThan(1.05 * profile.peaks.floatMacsPerSecond);
    const ort = spawnSync(process.execPath, [resolve('dist/cli/main.js'), 'bench', 'specs/fashion/bireal-small.sofar', '--profile'], { encoding: 'utf8' });
    expect(ort.status).toBe(2);
    expect(ort.stderr).toMatch(/--runtime sofar/);
  });
});
