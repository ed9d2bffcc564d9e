/**
 * Fitting a model parameter to a cost budget: the whole number whose OPs (or parameters, or model
 * size) come closest to a target, found by search on the cost model alone (no weights, no training).
 *
 * Costs grow with widths, growth rates, columns and depths, so the search brackets the budget by
 * doubling and then bisects; every value it evaluates is kept, and the answer is the closest of them, so
 * a cost that is flat or dips locally still yields the best value seen near the crossing.
 */
import type { Summary } from './cost.js';

/** What a budget constrains: Bi-Real Net's OPs, Larq's total parameters, or Larq's model size in bytes. */
export type BudgetMetric = 'ops' | 'params' | 'size';

export const METRIC_NAMES: Readonly<Record<BudgetMetric, string>> = { ops: 'OPs', params: 'parameters', size: 'model size (bytes)' };

export function metricOf(summary: Summary, metric: BudgetMetric): number {
  return metric === 'ops' ? summary.ops : metric === 'params' ? summary.params.total : summary.memoryBytes;
}

/** One evaluated candidate: its cost, or null when the model does not build with that value. */
export interface Probe {
  value: number;
  cost: number | null;
}

export interface FitOptions {
  target: number;
  /** The smallest value tried (default 1). */
  min?: number;
  /** The largest value tried (default 2^16): a budget beyond it is unreachable. */
  max?: number;
}

export interface FitResult {
  value: number;
  cost: number;
  /** (cost − target) / target. */
  relativeError: number;
  /** Every value evaluated, in order. */
  probes: Probe[];
}

/**
 * The whole number in [min, max] whose cost is closest to the target, or null when no value in the
 * range builds. `costOf` returns null for a value the model refuses (a width that breaks a divisibility
 * rule, say); such values are skipped.
 */
export function fitToBudget(costOf: (value: number) => number | null, options: FitOptions): FitResult | null {
  const min = options.min ?? 1;
  const max = options.max ?? 1 << 16;
  const probes: Probe[] = [];
  const seen = new Map<number, number | null>();
  const probe = (value: number): number | null => {
    if (!seen.has(value)) {
      const cost = costOf(value);
      seen.set(value, cost);
      probes.push({ value, cost });
    }
    return seen.get(value) ?? null;
  };

  // Bracket: double from min until the cost reaches the target (or the range ends).
  let lo = min;
  let hi = min;
  for (;;) {
    const cost = probe(hi);
    if (cost !== null && cost >= options.target) break;
    if (hi >= max) break;
    lo = hi;
    hi = Math.min(max, hi * 2);
  }
  // Bisect on the first value whose cost reaches the target; values that do not build move the low end.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const cost = probe(mid);
    if (cost !== null && cost >= options.target) hi = mid;
    else lo = mid;
  }
  for (const v of [lo - 1, lo, hi, hi + 1]) if (v >= min && v <= max) probe(v);

  let best: FitResult | null = null;
  for (const { value, cost } of probes) {
    if (cost === null) continue;
    const relativeError = (cost - options.target) / options.target;
    if (!best || Math.abs(relativeError) < Math.abs(best.relativeError) || (Math.abs(relativeError) === Math.abs(best.relativeError) && value < best.value)) {
      best = { value, cost, relativeError, probes };
    }
  }
  return best;
}

/** `5%` or `0.05` → 0.05. */
export function parseTolerance(text: string): number | null {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  return m[2] ? n / 100 : n;
}

/** `1.6e8`, `160M`, `1.5G`, `300k` → a number of the metric's unit. */
export function parseBudget(text: string): number | null {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kKmMgGbB]?)\s*$/.exec(text);
  if (!m) return null;
  const scale: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, b: 1e9 };
  const n = Number(m[1]) * scale[m[2].toLowerCase()];
  return n > 0 && Number.isFinite(n) ? n : null;
}
