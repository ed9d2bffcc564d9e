/**
 * bench/batches' verdict on a batch keeping SoFAr's lead: the median of per-round ratios with its
 * distribution-free interval. The interval's coverage against the binomial law computed independently
 * (coefficients by Pascal's rule), and against sampling: rounds drawn from a skewed law of known median.
 */
import { describe, expect, it } from 'vitest';
import { keptLead } from '../../bench/batches.js';
import { medianInterval } from '../../bench/runtime.js';

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
});
