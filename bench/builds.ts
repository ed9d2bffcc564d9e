/**
 * Two builds of the native kernels side by side in one process: each addon file's functions as a kernel set,
 * each model planned on both, the two runtimes alternating in rounds (the order flipped every round), their
 * logits compared bit for bit. How a change to the C code is measured: processes on a shared machine differ
 * by tens of per cent, one process's rounds by a few. Two builds differ by a few per cent even where their
 * code for a model is the same (code layout): give a control model the change does not touch, and read the
 * change's ratio against the control's. Writes bench/results/builds.json. Not a test.
 *
 *   npm run build && node dist/bench/builds.js --a OLD.node --b NEW.node [--models drf-c2d2-densenet51,bireal-resnet18]
 *     [--threads 2] [--rounds 16] [--runs 20] [--out FILE]
 *
 * A model is one of bench/runtime's or any spec's path under specs/ (larq/meliusnet22). Build an addon with
 * `node scripts/build-native.mjs` and copy native/build/Release/sofar_kernels.node aside before the change.
 */
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { exportOnnx } from '../backends/onnx/index.js';
import { createRuntime } from '../backends/runtime/index.js';
import { loadAddonKernels } from '../backends/runtime/kernels.js';
import { initWeights, seededInput } from '../src/weights/init.js';
import { isMain, machine, parseFlags, printReport, repoRoot, wholeNumber, writeReport } from './common.js';
import { timedRuns } from './timed-runs.js';
import { compileSpec, median, MODELS, round3, specOf, spread } from './runtime.js';

export interface BuildsBenchOptions {
  a?: string;
  b?: string;
  models?: string[];
  threads?: number;
  rounds?: number;
  runs?: number;
  out?: string;
}

export async function run(options: BuildsBenchOptions = {}) {
  const o = { models: ['drf-c2d2-densenet51', 'bireal-resnet18'], threads: 2, rounds: 16, runs: 20, ...options };
  if (!o.a || !o.b) throw new Error('bench/builds: give both addons, --a FILE and --b FILE');
  const root = repoRoot();
  const unknown = o.models.filter((m) => !specOf(root, m));
  if (unknown.length) throw new Error(`bench/builds: unknown model ${unknown.join(', ')} (${Object.keys(MODELS).join(', ')}, or a spec's path under specs/ without .sofar)`);
  const builds = [o.a, o.b].map((path) => ({ path: resolve(path), kernels: loadAddonKernels(resolve(path)) }));
  const loadStart = loadavg();
  const results = [];
  for (const name of o.models) {
    const graph = compileSpec(root, specOf(root, name)!, 'builds');
    const bytes = exportOnnx(graph, initWeights(graph, 0), { binaryOps: true });
    const x = seededInput(graph, 1, 0);
    const sides = builds.map((build, j) => ({ label: j ? 'b' : 'a', runtime: createRuntime(bytes, { kernels: build.kernels, threads: o.threads, batch: 1 }), rounds: [] as number[] }));
    try {
      const [ya, yb] = sides.map((side) => side.runtime.run(x, 1));
      const identical = ya.length === yb.length && ya.every((v, i) => Object.is(v, yb[i]));
      for (const side of sides) await timedRuns(() => side.runtime.run(x, 1), o.runs);
      for (let r = 0; r < o.rounds; r++) {
        for (const side of r % 2 === 0 ? sides : [...sides].reverse()) side.rounds.push(median(await timedRuns(() => side.runtime.run(x, 1), o.runs)));
      }
      const [a, b] = sides.map((side) => side.rounds);
      const ratios = a.map((ms, r) => ms / b[r]);
      const result = {
        model: name,
        identicalLogits: identical,
        /** milliseconds, the median of the rounds' medians */
        p50Ms: { a: round3(median(a)), b: round3(median(b)) },
        /** a's time over b's within each round (> 1: b faster) */
        speedBOverA: spread(ratios),
        roundsBFaster: ratios.filter((v) => v > 1).length,
      };
      process.stderr.write(`bench/builds: ${name}: b over a ${JSON.stringify(result.speedBOverA)}, b faster in ${result.roundsBFaster} of ${o.rounds} rounds (identical logits: ${identical})\n`);
      results.push(result);
    } finally {
      for (const side of sides) side.runtime.release();
    }
  }
  const report = {
    bench: 'builds',
    command: `node dist/bench/builds.js --a ${o.a} --b ${o.b} --models ${o.models.join(',')} --threads ${o.threads} --rounds ${o.rounds} --runs ${o.runs}`,
    machine: machine(loadStart),
    builds: { a: builds[0].path, b: builds[1].path },
    kernels: { a: builds[0].kernels.description, b: builds[1].kernels.description },
    threads: o.threads,
    note: 'each row: one model on two builds of the native kernels in one process, batch 1, alternating in rounds (order flipped each round); speedBOverA: a\'s round median over b\'s, summarized over the rounds; two builds differ by a few per cent even where their code for a model is the same (layout), so compare against a control model',
    results,
  };
  writeReport(o.out ?? join(root, 'bench', 'results', 'builds.json'), report);
  return report;
}

function parseArgs(argv: string[]): BuildsBenchOptions {
  const o: BuildsBenchOptions = {};
  return parseFlags('builds', argv, o, { keys: ['threads', 'rounds', 'runs'], number: wholeNumber('builds', 1) }, {
    '--a': (value) => (o.a = value()),
    '--b': (value) => (o.b = value()),
    '--models': (value) => (o.models = value().split(',')),
    '--out': (value) => (o.out = value()),
  });
}

if (isMain(import.meta.url)) printReport(() => run(parseArgs(process.argv.slice(2))));
