/**
 * The benches' verdicts from the median of per-round ratios with its distribution-free interval: bench/batches'
 * on a batch keeping SoFAr's lead, bench/runtime's on issue 21's speed-up targets. The interval's coverage against the binomial law computed independently
 * (coefficients by Pascal's rule), and against sampling: rounds drawn from a skewed law of known median.
 */
import { describe, expect, it } from 'vitest';
import { keptLead } from '../../bench/batches.js';
import { againstThreshold, convShareByRoundVerdict, convShareVerdict, medianInterval, speedupTarget, targetVerdict } from '../../bench/runtime.js';

/** P(B ≤ k), B ~ Binomial(n, 1/2), from Pascal's triangle. */
function binomialTail(n: number, k: number): number {
  let row = [1];
  for (let i = 0; i < n; i++) row = [1, ...row.slice(1).map((v, j) => v + row[j]), 1];
  return row.slice(0, k + 1).reduce((a, b) => a + b, 0) / 2 ** n;
}

describe('medianInterval', () => {
  it('takes the order statistics whose coverage is the least at or above 90 %', () => {
    const ranks = (n: number) => Array.from({ length: n }, (_, i) => i);
    for (const [n, k] of [[5, 0], [7, 0], [9, 1], [11, 2], [15, 3], [21, 6]] as const) {
      const interval = medianInterval(ranks(n).reverse());
      expect([interval.low, interval.high]).toEqual([k, n - 1 - k]);
      expect(interval.coverage).toBeCloseTo(1 - 2 * binomialTail(n, k), 3);
      expect(1 - 2 * binomialTail(n, k)).toBeGreaterThanOrEqual(0.9);
      expect(1 - 2 * binomialTail(n, k + 1)).toBeLessThan(0.9); // the next narrower one would not do
    }
  });

  it('covers the median of a skewed law as often as it says (11 rounds, 4,000 draws)', () => {
    // mulberry32: 32-bit integer steps (Math.imul), uniform in (0, 1)
    let state = 12345;
    const uniform = () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 2 ** 32;
    };
    const median = Math.log(2); // of the exponential law with rate 1
    let covered = 0;
    const trials = 4000;
    for (let t = 0; t < trials; t++) {
      const { low, high } = medianInterval(Array.from({ length: 11 }, () => -Math.log(uniform())));
      if (low <= median && median <= high) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.91);
    expect(covered / trials).toBeLessThan(0.96); // 0.935 in theory: not a wider interval than it claims
  });

  it('gives the verdict on the lead: kept, lost, or within the noise', () => {
    expect(keptLead([1.02, 1.05, 1.01, 1.1, 1.03, 1.04, 1.06]).lead).toBe('kept');
    expect(keptLead([0.95, 0.97, 0.9, 0.96, 0.98, 0.93, 0.99]).lead).toBe('lost');
    expect(keptLead([0.95, 1.05, 0.99, 1.02, 0.97, 1.01, 1.0]).lead).toBe('within the noise');
  });

  it('checks the batch-1 target speed-up held at a batch, against the reference the target names only', () => {
    const above = [6.4, 6.6, 6.2, 6.9, 6.5, 6.3, 6.8]; // Bi-Real's target is 6×
    expect(speedupTarget('bireal-resnet18', 'ort-float-resnet18', above)).toMatchObject({ speedup: 6, verdict: 'met' });
    expect(speedupTarget('bireal-resnet18', 'ort-float-resnet18', above.map((x) => x - 0.5))).toMatchObject({ verdict: 'within the noise' });
    expect(speedupTarget('bireal-resnet18', 'ort-float-resnet18', above.map((x) => x - 1))).toMatchObject({ verdict: 'missed' });
    expect(speedupTarget('rf-c4d8-resnet37', 'ort-standard', above)).toMatchObject({ speedup: 8, verdict: 'missed' });
    expect(speedupTarget('bireal-resnet18', 'ort-standard', above)).toBeUndefined(); // not the target's reference
    expect(speedupTarget('quicknet_small', 'ort-float-resnet18', above)).toBeUndefined(); // no target
  });

  it('checks a model’s issue-21 target round by round: met, missed, or within the noise', () => {
    // 5 rounds of 3 runs each: SoFAr at 1 ms, onnxruntime's float ResNet-18 at the given ms in each round
    const contenders = (ortMs: number[]) => [
      { label: 'sofar', times: ortMs.flatMap(() => [1, 1.02, 0.98]) },
      { label: 'ort-standard', times: ortMs.flatMap(() => [9, 9, 9]) },
      { label: 'ort-float-resnet18', times: ortMs.flatMap((ms) => [ms, ms * 1.01, ms * 0.99]) },
    ];
    const met = targetVerdict('reactnet-a', contenders([4.5, 4.4, 4.6, 4.2, 4.8]), 5, 3)!;
    expect([met.against, met.speedup, met.verdict]).toEqual(['ort-float-resnet18', 4, 'met']);
    expect([met.interval.low, met.interval.high]).toEqual([4.2, 4.8]); // 5 rounds: the least and the greatest (93.8 %)
    expect(targetVerdict('reactnet-a', contenders([4.5, 4.4, 3.9, 4.2, 4.8]), 5, 3)!.verdict).toBe('within the noise');
    expect(targetVerdict('reactnet-a', contenders([3.5, 3.4, 3.9, 3.2, 3.8]), 5, 3)!.verdict).toBe('missed');
    // RF-c4d8 against its standard export (9 ms over 1 ms: 9x ≥ 8x)
    expect(targetVerdict('rf-c4d8-resnet37', contenders([1, 1, 1, 1, 1]), 5, 3)!.verdict).toBe('met');
    expect(targetVerdict('quicknet_small', contenders([1, 1, 1, 1, 1]), 5, 3)).toBeUndefined(); // no target
  });

  it('checks Bi-Real’s binary 3×3 convs against 60 % of the measured peak: the least of them counts, 1×1 convs do not', () => {
    const layer = (shape: string, shareOfPeak: number) => ({ shape, shareOfPeak });
    const convs = [layer('3x3 64→64 at 56x56', 0.62), layer('3x3 128→128 at 28x28', 0.84), layer('1x1 64→128 at 56x56', 0.2)];
    expect(convShareVerdict(convs)).toEqual({ share: 0.6, convs: 2, least: 0.62, verdict: 'met' });
    expect(convShareVerdict([...convs, layer('3x3 64→64 at 56x56', 0.59)]).verdict).toBe('missed');
  });

  it('checks the convs’ shares round by round: met where every conv’s interval clears 60 %, missed where one lies below it', () => {
    // eleven rounds: the interval of the median is [x(2), x(8)] of the sorted shares (93.5 %)
    const steady = { step: 2, shape: '3x3 64→64 at 56x56', shares: [0.64, 0.66, 0.7, 0.65, 0.63, 0.68, 0.67, 0.62, 0.69, 0.66, 0.65] };
    const deep = { step: 18, shape: '3x3 512→512 at 7x7', shares: Array(11).fill(0.9) };
    const met = convShareByRoundVerdict([steady, deep]);
    expect(met).toMatchObject({ share: 0.6, convs: 2, leastMedian: 0.66, verdict: 'met' });
    expect(met.layers[0].interval).toMatchObject({ low: 0.64, high: 0.68 });
    // two rounds of eleven where a busy neighbour halved the conv beside a quiet probe: still met
    const twoSlow = { ...steady, shares: [0.64, 0.31, 0.7, 0.65, 0.63, 0.68, 0.3, 0.62, 0.69, 0.66, 0.65] };
    expect(convShareByRoundVerdict([twoSlow, deep]).verdict).toBe('met');
    // three such rounds reach the interval's low end: within the noise; a conv below in most rounds: missed
    const threeSlow = { ...twoSlow, shares: [...twoSlow.shares.slice(0, 10), 0.29] };
    expect(convShareByRoundVerdict([threeSlow, deep]).verdict).toBe('within the noise');
    const slowConv = { ...steady, shares: steady.shares.map((s) => s - 0.1) };
    expect(convShareByRoundVerdict([slowConv, deep])).toMatchObject({ leastMedian: 0.56, verdict: 'missed' });
    // 1×1 convs are not counted: the caller passes the 3×3 ones
  });

  it('places a median against a threshold by its interval: above, below, or within the noise', () => {
    // QuickNet on one thread against LCE's 5.8 ms: five rounds' medians in ms
    expect(againstThreshold([3.1, 3.0, 3.4, 2.9, 3.2], 5.8).verdict).toBe('below');
    expect(againstThreshold([5.1, 6.0, 5.9, 6.2, 5.7], 5.8).verdict).toBe('within the noise');
    expect(againstThreshold([6.1, 6.0, 5.9, 6.2, 6.3], 5.8).verdict).toBe('above');
  });
});
