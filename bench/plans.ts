/**
 * The runtime's planning choices, each against the runtime without it, in one process: a zoo model planned
 * both ways on the native kernels, the two runtimes alternating in rounds (with, without, then without,
 * with, ...), and their outputs compared bit for bit. Two builds of different C code differ by a few per
 * cent when loaded side by side (native/STATUS.md); two plans on one addon do not, so this is how a
 * planner change is measured. The batch choices (sampleSplit and splitTrial at 8 and 32) time whole batches,
 * a round's runs scaled down by the batch, and report milliseconds a sample. Writes bench/results/plans.json.
 * Not a test.
 *
 *   npm run build && node dist/bench/plans.js [--choices inPlace,stagger,joins,joins8,maxPoolFirst,sampleSplit8,sampleSplit32,splitTrial8,splitTrial32]
 *     [--models reactnet-a,bireal-resnet18,larq/meliusnet22,...] [--threads 2] [--rounds 20] [--runs 20] [--out FILE]
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createRuntime, loadNativeKernels, planModel, readRuntimeModel, type BinaryRuntime, type KernelSet, type RuntimeOptions } from '../backends/runtime/index.js';
import { chooseSampleSteps, FITTED_COSTS } from '../backends/runtime/split.js';
import { exportOnnx } from '../backends/onnx/index.js';
import { initWeights, seededInput } from '../src/weights/init.js';
import { isMain, machine, parseFlags, printReport, repoRoot, wholeNumber, writeReport } from './common.js';
import { timedRuns } from './timed-runs.js';
import { compileSpec, median, MODELS, round3, roundSpeedups, specOf } from './runtime.js';

/** The sample split that the cost model fitted on the Zen 5 host picks for this model and batch (what the runtime used before it timed its candidates). */
function fittedSplit(bytes: Uint8Array, kernels: KernelSet, threads: number, batch: number): Partial<RuntimeOptions> {
  const model = readRuntimeModel(bytes);
  return { sampleSplit: chooseSampleSteps(planModel(model, kernels, 1), planModel(model, kernels, batch), threads, FITTED_COSTS) };
}

/**
 * Each choice: the runtime options that turn it off (the runtime's default has every choice on), and the
 * batch it is measured at. sampleSplit: the timed choice of a split against none; splitTrial: the timed
 * choice against the fitted cost model's fixed one.
 */
export const CHOICES: Record<string, { off: Partial<RuntimeOptions> | typeof fittedSplit; batch: number }> = {
  inPlace: { off: { plan: { inPlace: false } }, batch: 1 },
  stagger: { off: { plan: { stagger: false } }, batch: 1 },
  joins: { off: { plan: { joins: false } }, batch: 1 },
  joins8: { off: { plan: { joins: false } }, batch: 8 },
  maxPoolFirst: { off: { plan: { maxPoolFirst: false } }, batch: 1 },
  sampleSplit8: { off: { sampleSplit: false }, batch: 8 },
  sampleSplit32: { off: { sampleSplit: false }, batch: 32 },
  splitTrial8: { off: fittedSplit, batch: 8 },
  splitTrial32: { off: fittedSplit, batch: 32 },
};

export interface PlansBenchOptions {
  choices?: string[];
  models?: string[];
  threads?: number;
  rounds?: number;
  runs?: number;
  out?: string;
}

/** How many times each side's steps are profiled, in turn (stepsMs). */
const PROFILE_ROUNDS = 5;

/** Each round's median of one runtime's runs (`runs` a round, in order). */
function roundMedians(times: readonly number[], rounds: number, runs: number): number[] {
  return Array.from({ length: rounds }, (_, r) => median(times.slice(r * runs, (r + 1) * runs)));
}

export async function run(options: PlansBenchOptions = {}) {
  const o = { choices: Object.keys(CHOICES), models: ['reactnet-a', 'bireal-resnet18', 'quicknet', 'rf-c4d8-resnet37', 'drf-c2d2-densenet51'], threads: 2, rounds: 20, runs: 20, ...options };
  const root = repoRoot();
  // a model is one of the runtime bench's, or any spec under specs/ by its path there (larq/meliusnet22)
  const unknown = [...o.choices.filter((c) => !(c in CHOICES)), ...o.models.filter((m) => !specOf(root, m))];
  if (unknown.length) throw new Error(`bench/plans: unknown ${unknown.join(', ')} (choices: ${Object.keys(CHOICES).join(', ')}; models: ${Object.keys(MODELS).join(', ')}, or a spec's path under specs/ without .sofar)`);
  const native = loadNativeKernels();
  if (!('kernels' in native)) throw new Error(`bench/plans: ${native.unavailable}`);
  const kernels = native.kernels;
  const loadStart = loadavg();
  const results = [];
  for (const name of o.models) {
    const graph = compileSpec(root, specOf(root, name)!, 'plans');
    const bytes = exportOnnx(graph, initWeights(graph, 0), { binaryOps: true });
    for (const choice of o.choices) {
      const { batch } = CHOICES[choice];
      const choiceOff = CHOICES[choice].off;
      const off = typeof choiceOff === 'function' ? choiceOff(bytes, kernels, o.threads, batch) : choiceOff;
      const x = seededInput(graph, batch, 0);
      const runs = Math.max(3, Math.round(o.runs / batch));
      const withIt = createRuntime(bytes, { kernels, threads: o.threads, batch });
      const without = createRuntime(bytes, { kernels, threads: o.threads, batch, ...off });
      try {
        const a = withIt.run(x, batch), b = without.run(x, batch);
        const identical = a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
        // the runtime's first runs time its candidate splits: warm up until both have chosen
        for (let i = 0; i < Math.max(2, Math.round(10 / batch)) || !withIt.sampleSplit.settled || !without.sampleSplit.settled; i++) withIt.run(x, batch), without.run(x, batch);
        const sides = [{ label: 'with', runtime: withIt, times: [] as number[] }, { label: 'without', runtime: without, times: [] as number[] }];
        for (let r = 0; r < o.rounds; r++) {
          // the order alternates, so that neither side always runs just after the other
          for (const side of r % 2 === 0 ? sides : [...sides].reverse()) side.times.push(...(await timedRuns(() => side.runtime.run(x, batch), runs)));
        }
        const p50 = (side: (typeof sides)[number]) => round3(median(roundMedians(side.times, o.rounds, runs)) / batch);
        // each step timed on its own (runtime.profile: a step's median over the runs), both sides in turn: a change
        // to a few steps shows here where whole runs drift by more than it
        const profiles = sides.map(() => [] as number[]);
        for (let r = 0; r < PROFILE_ROUNDS; r++) sides.forEach((side, j) => profiles[j].push(side.runtime.profile(runs).reduce((a, b) => a + b, 0)));
        const stats = (rt: BinaryRuntime) => ({ steps: rt.plan.stats.steps, mapBytes: rt.plan.stats.mapBytes, inPlaceOutputs: rt.plan.stats.inPlaceOutputs, sampleSteps: rt.sampleSteps, sampleStepCandidates: rt.sampleSplit.candidates });
        const result = {
          model: name,
          choice,
          batch,
          identicalLogits: identical,
          /** milliseconds a sample */
          p50Ms: { with: p50(sides[0]), without: p50(sides[1]) },
          /** milliseconds a sample: the steps' medians summed (runtime.profile), the median of PROFILE_ROUNDS such sums */
          stepsMs: { with: round3(median(profiles[0]) / batch), without: round3(median(profiles[1]) / batch) },
          speedWithOverWithout: roundSpeedups(sides, o.rounds, runs)['vs without'],
          plan: { with: stats(withIt), without: stats(without) },
        };
        process.stderr.write(`bench/plans: ${name} ${choice}: ${JSON.stringify(result.speedWithOverWithout)} (identical logits: ${identical})\n`);
        results.push(result);
      } finally {
        withIt.release();
        without.release();
      }
    }
  }
  const report = {
    bench: 'plans',
    command: `node dist/bench/plans.js --choices ${o.choices.join(',')} --models ${o.models.join(',')} --threads ${o.threads} --rounds ${o.rounds} --runs ${o.runs}`,
    machine: machine(loadStart),
    kernels: kernels.description,
    threads: o.threads,
    note: 'each row: one model planned with and without one planning choice on the same native kernels, at the row\'s batch, alternating in rounds; p50Ms in milliseconds a sample; speedWithOverWithout is the ratio of the two medians within each round, summarized over the rounds; stepsMs: each step timed on its own (runtime.profile, its median), summed, the median of 5 such sums taken in turn, ms a sample',
    results,
  };
  writeReport(o.out ?? join(root, 'bench', 'results', 'plans.json'), report);
  return report;
}

function parseArgs(argv: string[]): PlansBenchOptions {
  const o: PlansBenchOptions = {};
  return parseFlags('plans', argv, o, { keys: ['threads', 'rounds', 'runs'], number: wholeNumber('plans', 1) }, {
    '--choices': (value) => (o.choices = value().split(',')),
    '--models': (value) => (o.models = value().split(',')),
    '--out': (value) => (o.out = value()),
  });
}

if (isMain(import.meta.url)) printReport(() => run(parseArgs(process.argv.slice(2))));
