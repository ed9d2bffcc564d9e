/**
 * `sofar sweep SPEC… [--set NAME=V1,V2]… [--match-ops N,… --param NAME] [--seeds 0,1,2] [--jobs N]
 * --out DIR [train flags]`: a grid of ordinary training runs, each in its own folder `DIR/runs/ID`,
 * checked and costed before the first starts, run N at a time, resumed or skipped when run again, with
 * `DIR/results.jsonl` and `DIR/results.csv` rewritten after every run. `--print-jobs` prints the runs as
 * command lines for a cluster scheduler; `--collect` gathers the results from the run folders.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, openSync, closeSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { summarize } from '../../src/cost.js';
import { replaceFileAtomic } from '../../src/io/atomic.js';
import { readMetrics } from '../../src/train/metrics.js';
import {
  combinations,
  JOB_FILE,
  jobId,
  parseAxis,
  resultOf,
  RESULTS_CSV,
  RESULTS_JSONL,
  resultsCsv,
  resultsJsonl,
  type GridAxis,
  type SweepJob,
  type SweepResult,
} from '../../src/sweep.js';
import { loadGraph, parseNonNegativeInt, parsePositiveInt, UsageError, userFailure } from '../common.js';
import { budgetFromFlags, fitSpec, toleranceFromFlag } from '../fit-budget.js';

/** Training flags a sweep hands to every run unchanged (name → takes a value). */
const TRAIN_FLAGS: Readonly<Record<string, boolean>> = {
  data: true,
  epochs: true,
  batch: true,
  lr: true,
  optimizer: true,
  momentum: true,
  schedule: true,
  weightDecay: true,
  limit: true,
  device: true,
  threads: true,
  checkpointEvery: true,
  teacher: true,
  teacherWeights: true,
  distillWeight: true,
};

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

interface SweepFlags {
  model?: string;
  set?: string[];
  matchOps?: string;
  param: string;
  tolerance?: string;
  seeds: string;
  jobs: number;
  out?: string;
  engine: string;
  nproc: number;
  python: string;
  printJobs?: boolean;
  collect?: string;
  latency: boolean;
  epochs?: number;
  [flag: string]: unknown;
}

/** The train flags given, as command-line words (`--epochs 3 --data fashion-mnist`). */
function trainArgs(flags: SweepFlags): string[] {
  return Object.keys(TRAIN_FLAGS).flatMap((name) => (flags[name] === undefined ? [] : [`--${kebab(name)}`, String(flags[name])]));
}

const setArgs = (set: Record<string, string>) => Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`]);

/** The jobs of the grid, each checked and costed; any spec that does not build stops the sweep before it starts. */
export function planSweep(specs: readonly string[], flags: SweepFlags): SweepJob[] {
  const axes: GridAxis[] = (flags.set ?? []).map((text) => {
    const axis = parseAxis(text);
    if (!axis) throw new UsageError(`--set expects NAME=V1,V2,…, got '${text}'`, 'for example --set width=16,32');
    return axis;
  });
  const seeds = flags.seeds.split(',').map((s) => parseNonNegativeInt('--seeds')(s.trim()));
  const budgets = flags.matchOps === undefined ? [undefined] : flags.matchOps.split(',').map((b) => budgetFromFlags({ ops: b.trim() }).target);
  if (budgets[0] !== undefined && axes.some((a) => a.name === flags.param)) {
    throw new UsageError(`--set ${flags.param}=… and --match-ops both choose '${flags.param}'`, 'drop one of them');
  }
  const tolerance = toleranceFromFlag(flags.tolerance);
  const jobs: SweepJob[] = [];
  for (const spec of specs) {
    for (const combo of combinations(axes)) {
      for (const target of budgets) {
        const specFlags = { ...(flags.model ? { model: flags.model } : {}), set: Object.entries(combo).map(([k, v]) => `${k}=${v}`) };
        const set = { ...combo };
        if (target !== undefined) {
          const fitted = fitSpec({ spec, param: flags.param, metric: 'ops', target, tolerance, flags: specFlags });
          set[flags.param] = String(fitted.value);
        }
        const summary = summarize(loadGraph(spec, { ...specFlags, set: Object.entries(set).map(([k, v]) => `${k}=${v}`) }).graph);
        for (const seed of seeds) {
          jobs.push({
            id: jobId(spec, set, seed, flags.model),
            spec,
            ...(flags.model ? { model: flags.model } : {}),
            set,
            seed,
            ...(target !== undefined ? { budget: { metric: 'ops' as const, target, param: flags.param } } : {}),
            cost: { params: summary.params.total, memoryBytes: summary.memoryBytes, ops: summary.ops },
          });
        }
      }
    }
  }
  const ids = new Set(jobs.map((j) => j.id));
  if (ids.size !== jobs.length) throw new UsageError('two runs of this sweep would share a folder (the same spec file name twice?)', 'give specs with different file names');
  return jobs;
}

/** `sofar train …` for one job: the command a scheduler runs, and what the sweep runs itself. */
function trainCommand(job: SweepJob, dir: string, flags: SweepFlags, resume: boolean): string[] {
  const engine = flags.engine === 'torch' ? [] : ['--engine', flags.engine];
  return ['train', job.spec, ...(job.model ? ['--model', job.model] : []), ...setArgs(job.set), '--seed', String(job.seed), '--out', dir, ...engine, ...trainArgs(flags), ...(resume ? ['--resume'] : [])];
}

const quote = (word: string) => (/^[A-Za-z0-9_./=,:@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/**
 * The PyTorch backend's steps for one job: the project, then one torchrun of its train.py. Each torchrun
 * gets its own rendezvous port: `--standalone` puts every launcher on port 29400, and a second one started
 * beside a running one joins (then loses) the first one's rendezvous.
 */
function torchCommands(job: SweepJob, dir: string, flags: SweepFlags, resume: boolean, port: number): { command: string; args: string[] }[] {
  const project = join(dir, 'torch');
  const train = trainArgs(flags).filter((w, i, all) => w !== '--device' && all[i - 1] !== '--device');
  return [
    { command: 'sofar', args: ['build', job.spec, ...(job.model ? ['--model', job.model] : []), ...setArgs(job.set), '--target', 'torch', '-o', project, '--seed', String(job.seed)] },
    {
      command: flags.python,
      args: ['-m', 'torch.distributed.run', '--nnodes', '1', '--rdzv_backend', 'c10d', '--rdzv_endpoint', `localhost:${port}`, '--redirects', '2', '--tee', '2', `--nproc_per_node=${flags.nproc}`, join(project, 'train.py'), '--out', dir, '--seed', String(job.seed), ...train, ...(resume ? ['--resume'] : [])],
    },
  ];
}

function jobSteps(job: SweepJob, dir: string, flags: SweepFlags, resume: boolean, port: number): { command: string; args: string[] }[] {
  return flags.engine === 'torch' ? torchCommands(job, dir, flags, resume, port) : [{ command: 'sofar', args: trainCommand(job, dir, flags, resume) }];
}

/** A TCP port nobody listens on now (the kernel's pick), for a torchrun rendezvous. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

/** Printed jobs' rendezvous ports: distinct for every run of the sweep, wherever a scheduler puts them. */
const PRINTED_PORT_BASE = 29500;

const runsDir = (out: string) => join(out, 'runs');

/** `sofar train`'s default. */
const DEFAULT_EPOCHS = 10;

/** The epochs a sweep folder's runs were asked for (its sweep.json), for gathering results elsewhere. */
function recordedEpochs(out: string): number {
  try {
    const epochs = (JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as { epochs?: unknown }).epochs;
    return typeof epochs === 'number' ? epochs : DEFAULT_EPOCHS;
  } catch {
    return DEFAULT_EPOCHS;
  }
}

function readJob(dir: string): SweepJob | null {
  try {
    return JSON.parse(readFileSync(join(dir, JOB_FILE), 'utf8')) as SweepJob;
  } catch {
    return null;
  }
}

/** What a run folder holds: its job, metrics, the sweep's notes (failure, latency). */
function collectOne(dir: string, epochsWanted: number): SweepResult | null {
  const job = readJob(dir);
  if (!job) return null;
  let notes: { failed?: string; latencyMs?: number | null } = {};
  try {
    notes = JSON.parse(readFileSync(join(dir, 'sweep-status.json'), 'utf8'));
  } catch {
    // not run by a sweep here yet
  }
  return resultOf(job, readMetrics(dir, Number.MAX_SAFE_INTEGER), { epochsWanted, ...notes });
}

/** Gathers every run folder under `out/runs` into the results files; returns the rows. */
export function collectResults(out: string, epochsWanted: number): SweepResult[] {
  const root = runsDir(out);
  const dirs = existsSync(root) ? readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(root, d.name)) : [];
  const results = dirs.map((d) => collectOne(d, epochsWanted)).filter((r): r is SweepResult => r !== null).sort((a, b) => a.id.localeCompare(b.id));
  replaceFileAtomic(join(out, RESULTS_JSONL), resultsJsonl(results));
  replaceFileAtomic(join(out, RESULTS_CSV), resultsCsv(results));
  return results;
}

/** Runs one command with its output appended to the run's log; resolves to the exit code. */
function runLogged(command: string, args: readonly string[], log: string): Promise<number> {
  const [bin, prefix] = command === 'sofar' ? [process.execPath, [process.argv[1]]] : [command, []];
  const fd = openSync(log, 'a');
  return new Promise((done) => {
    const child = spawn(bin, [...prefix, ...args], { stdio: ['ignore', fd, fd] });
    child.on('error', () => done(127));
    child.on('close', (code) => {
      closeSync(fd);
      done(code ?? 1);
    });
  });
}

/** The binary runtime's p50 latency of a finished run, batch 1, or null where it cannot be measured. */
async function measureLatency(job: SweepJob, dir: string, log: string): Promise<number | null> {
  const out = join(dir, 'latency.json');
  const args = ['bench', job.spec, ...(job.model ? ['--model', job.model] : []), ...setArgs(job.set), '--weights', dir, '--runtime', 'sofar', '--runs', '30', '--json'];
  const [bin, prefix] = [process.execPath, [process.argv[1]]];
  const text = await new Promise<string>((done) => {
    const child = spawn(bin, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => replaceFileAtomic(log + '.bench', String(d)));
    child.on('close', () => done(stdout));
    child.on('error', () => done(''));
  });
  try {
    const stats = JSON.parse(text.trim().split('\n').pop() ?? '') as { p50Ms?: number };
    replaceFileAtomic(out, text);
    return typeof stats.p50Ms === 'number' ? stats.p50Ms : null;
  } catch {
    return null;
  }
}

function tail(path: string, lines = 6): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function runSweep(jobs: readonly SweepJob[], out: string, flags: SweepFlags): Promise<SweepResult[]> {
  const epochs = flags.epochs ?? DEFAULT_EPOCHS;
  const pending = jobs.filter((job) => collectOne(join(runsDir(out), job.id), epochs)?.status !== 'done');
  const skipped = jobs.length - pending.length;
  process.stderr.write(`sweep: ${jobs.length} runs (${skipped} already done), ${Math.min(flags.jobs, pending.length)} at a time, into ${out}\n`);
  let started = 0;
  let finished = 0;
  let failed = 0;
  const startedAt = Date.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const job = pending[started++];
      if (!job) return;
      const dir = join(runsDir(out), job.id);
      const log = join(dir, 'sweep.log');
      const resume = existsSync(join(dir, 'checkpoint.safetensors'));
      process.stderr.write(`[${started + skipped}/${jobs.length}] ${resume ? 'resuming' : 'starting'} ${job.id}\n`);
      let code = 0;
      const port = flags.engine === 'torch' ? await freePort() : 0;
      for (const step of jobSteps(job, dir, flags, resume, port)) {
        code = await runLogged(step.command, step.args, log);
        if (code !== 0) break;
      }
      const status: { failed?: string; latencyMs?: number | null } = {};
      if (code !== 0) {
        status.failed = `exit ${code}: ${tail(log)}`;
        failed++;
      } else if (flags.latency) status.latencyMs = await measureLatency(job, dir, log);
      replaceFileAtomic(join(dir, 'sweep-status.json'), JSON.stringify(status) + '\n');
      finished++;
      const result = collectResults(out, epochs).find((r) => r.id === job.id);
      const minutes = ((Date.now() - startedAt) / 60_000).toFixed(1);
      const what = code !== 0 ? `FAILED (exit ${code}; see ${log})` : `test acc ${result?.testAccuracy !== null && result?.testAccuracy !== undefined ? (100 * result.testAccuracy).toFixed(2) + '%' : '?'}${status.latencyMs ? `, ${status.latencyMs.toFixed(3)} ms` : ''}`;
      process.stderr.write(`[${finished}/${pending.length} this session, ${minutes} min] ${job.id}: ${what}\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(flags.jobs, pending.length)) }, worker));
  const results = collectResults(out, epochs);
  const ids = new Set(jobs.map((j) => j.id)); // the folder may hold other sweeps' runs too
  process.stderr.write(`sweep: ${results.filter((r) => ids.has(r.id) && r.status === 'done').length} of ${jobs.length} runs done, ${failed} failed this session; ${join(out, RESULTS_CSV)}\n`);
  if (failed) throw userFailure(`${failed} run${failed === 1 ? '' : 's'} of the sweep failed (the others are kept)`, `see the runs' sweep.log; run the same command again to retry them`);
  return results;
}

/** Writes each job's folder and record (so results can be gathered wherever the runs execute). */
function prepareFolders(jobs: readonly SweepJob[], out: string, flags: SweepFlags): void {
  mkdirSync(runsDir(out), { recursive: true });
  for (const job of jobs) {
    const dir = join(runsDir(out), job.id);
    mkdirSync(dir, { recursive: true });
    replaceFileAtomic(join(dir, JOB_FILE), JSON.stringify(job, null, 2) + '\n');
  }
  replaceFileAtomic(join(out, 'sweep.json'), JSON.stringify({ argv: process.argv.slice(2), epochs: flags.epochs ?? DEFAULT_EPOCHS, jobs: jobs.map((j) => j.id) }, null, 2) + '\n');
}

export function register(program: Command): void {
  const cmd = program
    .command('sweep')
    .description('train a grid of runs (specs × --set values or fitted cost budgets × seeds), resumable, with results.csv and results.jsonl')
    .argument('[specs...]', '.sofar files')
    .option('--model <name>', 'which model to build when a file defines several')
    .option('--set <name=v1,v2>', 'one axis of the grid: a model parameter and its values (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--match-ops <n,…>', 'OPs budgets: each spec’s --param is fitted to every budget (see sofar fit)')
    .option('--param <name>', 'the model parameter --match-ops fits', 'width')
    .option('--tolerance <share>', 'how far a fitted cost may be from its budget (default 5%)')
    .option('--seeds <list>', 'seeds of every setting, e.g. 0,1,2', '0')
    .option('--jobs <n>', 'runs at a time', parsePositiveInt('--jobs'), 1)
    .option('-o, --out <dir>', 'the sweep folder: runs/ID for each run, results.csv, results.jsonl')
    .option('--engine <name>', 'ort or tfjs (sofar train), or torch (the PyTorch backend: sofar build --target torch, then torchrun train.py)', 'ort')
    .option('--nproc <n>', 'torchrun processes a run (--engine torch)', parsePositiveInt('--nproc'), 1)
    .option('--python <path>', 'the Python that has PyTorch (--engine torch)', 'python3')
    .option('--no-latency', 'skip measuring each trained model on the binary runtime')
    .option('--print-jobs', 'write the run folders and print one command line a run (for Slurm job arrays, Kubernetes Indexed Jobs), run nothing')
    .option('--collect <dir>', 'gather the results of the run folders in DIR (wherever they ran) into its results files, run nothing')
    .option('--data <source>', 'train flag: the data set')
    .option('--epochs <n>', 'train flag: epochs of every run (default 10)', parsePositiveInt('--epochs'))
    .option('--batch <n>', 'train flag: batch size')
    .option('--lr <x>', 'train flag: learning rate')
    .option('--optimizer <name>', 'train flag: adam, sgd or bop')
    .option('--momentum <x>', 'train flag: SGD momentum')
    .option('--schedule <name>', 'train flag: learning-rate schedule')
    .option('--weight-decay <x>', 'train flag: L2 weight decay')
    .option('--limit <n>', 'train flag: the first N training samples')
    .option('--device <name>', 'train flag: device')
    .option('--threads <n>', 'train flag: CPU threads of each run')
    .option('--checkpoint-every <n>', 'train flag: a checkpoint every N steps')
    .option('--teacher <model>', 'train flag: distil from this spec or model.onnx')
    .option('--teacher-weights <run>', "train flag: the teacher spec's trained weights")
    .option('--distill-weight <w>', 'train flag: weight of the distillation term');
  cmd.action(async (specs: string[], flags: SweepFlags) => {
    if (flags.collect !== undefined) {
      const results = collectResults(resolve(flags.collect), flags.epochs ?? recordedEpochs(resolve(flags.collect)));
      process.stderr.write(`collected ${results.length} runs (${results.filter((r) => r.status === 'done').length} done) into ${join(flags.collect, RESULTS_CSV)}\n`);
      return;
    }
    if (!specs.length) throw new UsageError('sofar sweep needs at least one spec', 'sofar sweep SPEC… --out DIR [--set NAME=V1,V2] [--seeds 0,1,2]');
    if (!flags.out) throw new UsageError('sofar sweep needs --out DIR: the sweep folder', 'for example --out sweeps/width');
    if (!['ort', 'tfjs', 'torch'].includes(flags.engine)) throw new UsageError(`--engine is ort, tfjs or torch, got '${flags.engine}'`);
    const out = resolve(flags.out);
    const jobs = planSweep(specs, flags);
    prepareFolders(jobs, out, flags);
    if (flags.printJobs) {
      for (const [index, job] of jobs.entries()) {
        const dir = join(runsDir(out), job.id);
        const steps = jobSteps(job, dir, flags, false, PRINTED_PORT_BASE + (index % 10_000)).map((s) => [s.command, ...s.args].map(quote).join(' '));
        process.stdout.write(steps.join(' && ') + '\n');
      }
      return;
    }
    await runSweep(jobs, out, flags);
  });
}
