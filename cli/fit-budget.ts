/**
 * Fitting a spec's model parameter to a cost budget for the command line (`sofar fit`, `sofar sweep
 * --match-ops`): the spec's own diagnostics for a spec that does not build or lacks the parameter, and a
 * user error naming the closest value for a budget no value reaches.
 */
import { compileFile } from '../src/compile.js';
import { summarize } from '../src/cost.js';
import { hasErrors } from '../src/diagnostics.js';
import { fitToBudget, METRIC_NAMES, metricOf, parseBudget, parseTolerance, type BudgetMetric, type FitResult } from '../src/fit.js';
import { loadGraph, parseSetFlags, UsageError, UserError, userFailure, type SpecFlags } from './common.js';

export interface FitRequest {
  spec: string;
  param: string;
  metric: BudgetMetric;
  target: number;
  tolerance: number;
  flags: SpecFlags;
}

export interface Fitted extends FitResult {
  param: string;
  metric: BudgetMetric;
  target: number;
}

/**
 * Fits `param` of a spec to the budget, or throws a user error: a spec that does not build, a parameter
 * the model does not declare, a budget no value reaches within the tolerance.
 */
export function fitSpec(request: FitRequest): Fitted {
  const { spec, param, metric, target, tolerance, flags } = request;
  const fixed = parseSetFlags(flags.set);
  if (param in fixed) throw new UsageError(`--set ${param}=… and --param ${param} contradict each other`, `drop --set ${param}: fit chooses its value`);
  // The spec must build as it is, and declare the parameter: both reported with the spec's own diagnostics.
  loadGraph(spec, flags);
  const compileWith = (value: number) =>
    compileFile(spec, { ...(flags.model ? { model: flags.model } : {}), params: { ...fixed, [param]: value }, ...(flags.maxNodes ? { nodeBudget: flags.maxNodes } : {}) });
  const undeclared = compileWith(1).diagnostics.filter((d) => d.code === 'unknown-name' && d.message.includes(`has no parameter '${param}'`));
  if (undeclared.length) throw new UserError(undeclared, compileWith(1).sources);
  const costOf = (value: number): number | null => {
    const result = compileWith(value);
    return result.graph && !hasErrors(result.diagnostics) ? metricOf(summarize(result.graph), metric) : null;
  };
  const best = fitToBudget(costOf, { target });
  if (!best) throw userFailure(`${spec} builds with no value of '${param}'`, 'check the spec with sofar check --set');
  if (Math.abs(best.relativeError) > tolerance) {
    throw userFailure(
      `no value of '${param}' puts ${spec} within ±${formatPercent(tolerance)} of ${target.toExponential(3)} ${METRIC_NAMES[metric]}: the closest, ${param}=${best.value}, gives ${best.cost.toExponential(3)} (${formatSigned(best.relativeError)})`,
      'choose another budget, another parameter, or a larger --tolerance',
    );
  }
  return { ...best, param, metric, target };
}

export const formatPercent = (x: number) => `${+(x * 100).toFixed(2)}%`;
export const formatSigned = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;

/** The metric and budget from `--ops`, `--params` or `--size` (exactly one). */
export function budgetFromFlags(flags: { ops?: string; params?: string; size?: string }): { metric: BudgetMetric; target: number } {
  const given = (['ops', 'params', 'size'] as const).filter((m) => flags[m] !== undefined);
  if (given.length !== 1) throw new UsageError('give exactly one budget: --ops N, --params N or --size BYTES', 'for example --ops 3.5e6');
  const metric = given[0];
  const target = parseBudget(flags[metric]!);
  if (target === null) throw new UsageError(`--${metric} expects a positive number (1.6e8, 160M, 300k), got '${flags[metric]}'`);
  return { metric, target };
}

export function toleranceFromFlag(text: string | undefined): number {
  const tolerance = parseTolerance(text ?? '5%');
  if (tolerance === null || !(tolerance >= 0 && tolerance < 1)) throw new UsageError(`--tolerance expects a share like 5% or 0.05, got '${text}'`);
  return tolerance;
}

