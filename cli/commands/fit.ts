/**
 * `sofar fit SPEC (--ops N | --params N | --size N) [--param NAME] [--tolerance 5%] [--set …]`: the
 * whole-number value of a model parameter whose cost comes closest to a budget, printed as a `--set`
 * value (`width=37`) on stdout; how close it came on stderr.
 */
import type { Command } from 'commander';
import { METRIC_NAMES } from '../../src/fit.js';
import { addSpecOptions, type SpecFlags } from '../common.js';
import { budgetFromFlags, fitSpec, formatSigned, toleranceFromFlag } from '../fit-budget.js';

interface FitFlags extends SpecFlags {
  ops?: string;
  params?: string;
  size?: string;
  param: string;
  tolerance?: string;
  json?: boolean;
}

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('fit')
      .description('the value of a model parameter (a width, a growth rate) that puts a spec on a cost budget: prints NAME=V for --set')
      .argument('<spec>', 'a .sofar file with a whole-number model parameter')
      .option('--ops <n>', "budget in OPs (Bi-Real Net's: binary MACs / 64 + float MACs), e.g. 3.5e6")
      .option('--params <n>', "budget in parameters (Larq's total)")
      .option('--size <bytes>', "budget in model size (Larq's, bytes)")
      .option('--param <name>', 'the model parameter to fit', 'width')
      .option('--tolerance <share>', 'the largest accepted distance from the budget, e.g. 5% (default) or 0.02')
      .option('--json', 'print one JSON object: param, value, cost, target, relativeError'),
  ).action((spec: string, flags: FitFlags) => {
    const fitted = fitSpec({ spec, param: flags.param, ...budgetFromFlags(flags), tolerance: toleranceFromFlag(flags.tolerance), flags });
    if (flags.json) {
      const { probes: _probes, ...rest } = fitted;
      process.stdout.write(JSON.stringify(rest) + '\n');
      return;
    }
    process.stderr.write(`${fitted.param}=${fitted.value}: ${fitted.cost.toExponential(3)} ${METRIC_NAMES[fitted.metric]} against a budget of ${fitted.target.toExponential(3)} (${formatSigned(fitted.relativeError)}; ${fitted.probes.length} values evaluated)\n`);
    process.stdout.write(`${fitted.param}=${fitted.value}\n`);
  });
}
