/**
 * The roofline profile (`sofar bench --runtime sofar --profile`): the MACs its steps add up to are the
 * cost model's, binary and float, for the plan of a zoo model (the independent count: src/cost.ts on the
 * graph); shares and the limit follow from the step times and peaks given; the command prints them.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/export.js';
import { createRuntime } from '../../backends/runtime/index.js';
import { peakRate, roofline } from '../../backends/runtime/roofline.js';
import { compileFile } from '../../src/compile.js';
import { summarize } from '../../src/cost.js';
import { initWeights } from '../../src/weights/init.js';

describe('the roofline profile', () => {
  it('a peak is the fastest round of its probe: a round at one core’s rate (its second thread descheduled) does not lower it', () => {
    // 2.57e7 MACs (the float probe): rounds at 0.44 ms (one core) and 0.23-0.24 ms (two)
    expect(peakRate(2.57e7, [0.24, 0.44, 0.23, 0.235, 0.44])).toBeCloseTo(2.57e7 / 0.23e-3, 0);
    expect(peakRate(2.57e7, [0.44])).toBeCloseTo(2.57e7 / 0.44e-3, 0);
  });

  for (const spec of ['specs/fashion/bireal-small.sofar', 'specs/fashion/drf-c2-small.sofar']) {
    it(`${spec}: the steps' MACs are the cost model's, and the limit is those MACs at the peaks`, () => {
      const graph = compileFile(spec).graph!;
      const rt = createRuntime(exportOnnx(graph, initWeights(graph, 0), { binaryOps: true }), { threads: 1 });
      try {
        const stepMs = rt.plan.steps.map(() => 0.5);
        const r = roofline(rt.plan, stepMs, { binaryMacsPerSecond: 1e12, floatMacsPerSecond: 1e11, method: 'test' });
        const summary = summarize(graph);
        expect(r.binaryMacs).toBe(summary.macs.binary);
        expect(r.floatMacs).toBe(summary.macs.float);
        expect(r.totalMs).toBeCloseTo(0.5 * rt.plan.steps.length, 9);
        expect(r.limitMs).toBeCloseTo((summary.macs.binary / 1e12 + summary.macs.float / 1e11) * 1e3, 9);
        for (const s of r.steps.filter((s) => s.kind !== 'other')) expect(s.shareOfPeak).toBeCloseTo(s.macs / 5e-4 / (s.kind === 'binary' ? 1e12 : 1e11), 9);
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
      const r = roofline(plan, plan.steps.map(() => 0.5), { binaryMacsPerSecond: 1e12, floatMacsPerSecond: 1e11, method: 'test' }, samples);
      const summary = summarize(graph);
      expect(r.binaryMacs).toBe(3 * summary.macs.binary);
      expect(r.floatMacs).toBe(3 * summary.macs.float);
      expect(r.steps.find((s) => s.kind === 'binary')!.shape).toMatch(/×3 one at a time$/);
    } finally {
      rt.release();
    }
  });

  it('sofar bench --profile --json names each step’s share of the kernels’ peak and the model’s share of its limit', () => {
    const r = spawnSync(process.execPath, [resolve('dist/cli/main.js'), 'bench', 'specs/fashion/bireal-small.sofar', '--runtime', 'sofar', '--profile', '--runs', '5', '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { profile } = JSON.parse(r.stdout) as { profile: { steps: { kind: string; shareOfKernelPeak: number | null }[]; limitMs: number; shareOfLimit: number; peaks: { binaryMacsPerSecond: number } } };
    expect(profile.steps.some((s) => s.kind === 'binary' && (s.shareOfKernelPeak ?? 0) > 0)).toBe(true);
    expect(profile.limitMs).toBeGreaterThan(0);
    expect(profile.shareOfLimit).toBeGreaterThan(0);
    expect(profile.peaks.binaryMacsPerSecond).toBeGreaterThan(1e9);
    const ort = spawnSync(process.execPath, [resolve('dist/cli/main.js'), 'bench', 'specs/fashion/bireal-small.sofar', '--profile'], { encoding: 'utf8' });
    expect(ort.status).toBe(2);
    expect(ort.stderr).toMatch(/--runtime sofar/);
  });
});
