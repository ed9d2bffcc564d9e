/**
 * Training throughput (samples/s) on this machine's CPU, side by side: the ONNX Runtime engine and
 * PyTorch (SoFAr's own torch backend, `sofar build SPEC --target torch`: its model.py and train.py's
 * train_step, run by Debian's python3-torch in a long-lived child process, bench/torch-steps.py) on
 * the Fashion-MNIST zoo nets at batch 128, 2 threads each, Adam, random images and labels of the right
 * shape, the training loop's own drop-path masks. The two alternate in short rounds (ORT steps, then
 * PyTorch steps, again), so a change in the machine's load falls on both. The TensorFlow.js engine on
 * its pure-JS CPU backend joins with --tfjs, for a few small batches only (it is that slow; labelled
 * so). Writes bench/results/train.json when run with the published settings (no options); any other
 * run writes $TMPDIR/sofar-bench/train.json unless --out says. Not a test.
 *
 *   npm run build && node dist/bench/train.js [--steps N] [--rounds R] [--nets bireal-small,rf-c3-small]
 *                                             [--no-torch] [--tfjs] [--out FILE]
 *
 * Published settings: 2 warm-up steps each, then 3 rounds of 4 steps each per contender (12 timed
 * steps: PyTorch takes tens of seconds a step on drf-c2-small on a busy 2-core machine).
 * The machine may be shared: the file records the load average and the process CPU time per step
 * next to the wall-clock figures, so a busy run can be told from a slow engine.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { isMain, machine, parseFlags, printReport, repoRoot, wholeNumber, writeReport } from './common.js';
import { writeTorchProject } from '../backends/torch/index.js';
import { compileFile } from '../src/compile.js';
import { hasErrors } from '../src/diagnostics.js';
import type { Graph } from '../src/graph/types.js';
import { Random } from '../src/random.js';
import { dropPathMasks, planDropPath } from '../src/train/droppath.js';
import { dropoutMasks, planDropout } from '../src/train/dropout.js';
import type { Batch, EngineFactory, OptimizerConfig, StepNoise } from '../src/train/engine.js';
import { initWeights } from '../src/weights/init.js';

const PYTHON = '/usr/bin/python3';

export interface BenchOptions {
  nets?: string[];
  /** Measured steps per net and contender (after warm-up), spread over the rounds. */
  steps?: number;
  /** Alternations of ORT and PyTorch per net. */
  rounds?: number;
  warmup?: number;
  batch?: number;
  threads?: number;
  /** PyTorch side by side (default on). */
  torch?: boolean;
  tfjs?: boolean;
  tfjsBatch?: number;
  tfjsSteps?: number;
  out?: string;
}

export interface Measured {
  samplesPerSecond: number;
  stepMs: { median: number; min: number; max: number };
  cpuMsPerStep: number;
  rssMB?: { start: number; end: number };
}

/** One engine under test: times `n` steps when asked. */
interface Contender {
  name: string;
  /** Wall-clock ms of each step and the process CPU ms they took in all. */
  steps(n: number): Promise<{ stepMs: number[]; cpuMs: number }>;
  close(): Promise<void>;
}

/** `net` is a spec under specs/fashion/ (`bireal-small`) or a path under specs/ with its folder (`./bireal-resnet18`). */
export function loadSpec(root: string, net: string): Graph {
  const path = specPath(root, net);
  const result = compileFile(path);
  if (!result.graph || hasErrors(result.diagnostics)) throw new Error(`bench: ${path} does not compile: ${result.diagnostics.map((d) => d.message).join('; ')}`);
  return result.graph;
}

const specPath = (root: string, net: string) => (net.startsWith('./') ? join(root, 'specs', `${net.slice(2)}.sofar`) : join(root, 'specs', 'fashion', `${net}.sofar`));

function randomBatch(graph: Graph, n: number, seed: number): Batch {
  const rng = new Random(seed, 'bench-batch');
  const x = Float32Array.from({ length: n * graph.input.reduce((a, b) => a * b, 1) }, () => rng.normal());
  const y = Int32Array.from({ length: n }, () => rng.int(graph.classes));
  return { x, y, n };
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const round1 = (v: number) => Math.round(v * 10) / 10;

function summarise(stepMs: number[], cpuMs: number, batch: number): Measured {
  const sorted = [...stepMs].sort((a, b) => a - b);
  const wall = stepMs.reduce((a, b) => a + b, 0);
  return {
    samplesPerSecond: round1((stepMs.length * batch) / (wall / 1000)),
    stepMs: { median: round1(sorted[sorted.length >> 1]), min: round1(sorted[0]), max: round1(sorted[sorted.length - 1]) },
    cpuMsPerStep: round1(cpuMs / stepMs.length),
  };
}

/** A SoFAr engine in this process, Adam, on two random batches and the loop's own masks. */
async function ortContender(factory: EngineFactory, graph: Graph, batch: number, threads: number | undefined): Promise<Contender> {
  const optimizer: OptimizerConfig = { name: 'adam', momentum: 0.9, weightDecay: 1e-4 };
  const engine = await factory({ graph, weights: initWeights(graph, 1), optimizer, batchSize: batch, threads });
  const data = [randomBatch(graph, batch, 1), randomBatch(graph, batch, 2)];
  const dropPath = planDropPath(graph);
  const dropout = planDropout(graph);
  const noise = (step: number): StepNoise => ({ joinMasks: dropPathMasks(dropPath, 7, step), dropoutMasks: dropoutMasks(dropout, 7, step, batch) });
  let step = 0;
  return {
    name: 'ort',
    async steps(n) {
      const stepMs: number[] = [];
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < n; i++, step++) {
        const s0 = performance.now();
        await engine.trainStep(data[step % 2], 1e-3, noise(step));
        stepMs.push(performance.now() - s0);
      }
      const cpu = process.cpuUsage(cpu0);
      return { stepMs, cpuMs: (cpu.user + cpu.system) / 1000 };
    },
    close: () => engine.dispose(),
  };
}

/**
 * PyTorch: SoFAr's torch backend for `graph` written to a scratch folder, trained by a python3 child
 * (bench/torch-steps.py) that times the steps it is asked for and answers one JSON line.
 */
async function torchContender(root: string, graph: Graph, source: string, batch: number, threads: number): Promise<Contender & { version: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sofar-bench-train-'));
  writeTorchProject(graph, initWeights(graph, 1), dir, { source });
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, [join(root, 'bench', 'torch-steps.py'), dir, String(threads), String(batch), '7'], {
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const answer = async (): Promise<Record<string, unknown>> => {
    const next = await lines.next();
    if (next.done) throw new Error(`bench: the PyTorch process ended:\n${stderr}`);
    const reply = JSON.parse(next.value) as Record<string, unknown>;
    if (reply.error) throw new Error(`bench: the PyTorch process: ${reply.error}`);
    return reply;
  };
  const close = async () => {
    child.stdin.end('quit\n');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    child.stdin.write(JSON.stringify([graph.input, graph.classes]) + '\n');
    const ready = await answer();
    return {
      name: 'torch',
      version: String(ready.torch),
      async steps(n) {
        child.stdin.write(`steps ${n}\n`);
        const r = await answer();
        return { stepMs: r.stepMs as number[], cpuMs: r.cpuMs as number };
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Warm-up, then `rounds` rounds in which every contender times its share of `steps` in turn. */
async function alternate(contenders: Contender[], warmup: number, steps: number, rounds: number, batch: number): Promise<Measured[]> {
  for (const c of contenders) await c.steps(warmup);
  const times = contenders.map(() => ({ stepMs: [] as number[], cpuMs: 0 }));
  const perRound = Math.ceil(steps / rounds);
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of contenders.entries()) {
      const t = await c.steps(perRound);
      times[i].stepMs.push(...t.stepMs);
      times[i].cpuMs += t.cpuMs;
    }
  }
  return times.map((t) => summarise(t.stepMs, t.cpuMs, batch));
}

/** Times `steps` training steps of one engine after `warmup` untimed ones (bench/gpu.ts). */
export async function measure(factory: EngineFactory, graph: Graph, batch: number, warmup: number, steps: number, threads: number | undefined): Promise<Measured> {
  const contender = await ortContender(factory, graph, batch, threads);
  try {
    await contender.steps(warmup);
    const rssStart = process.memoryUsage().rss;
    const t = await contender.steps(steps);
    return { ...summarise(t.stepMs, t.cpuMs, batch), rssMB: { start: mb(rssStart), end: mb(process.memoryUsage().rss) } };
  } finally {
    await contender.close();
  }
}

export async function run(options: BenchOptions = {}): Promise<object> {
  const root = repoRoot();
  const nets = options.nets ?? ['bireal-small', 'rf-c3-small', 'drf-c2-small'];
  const batch = options.batch ?? 128;
  const threads = options.threads ?? 2;
  const rounds = options.rounds ?? 3;
  const steps = options.steps ?? 12;
  const warmup = options.warmup ?? 2;
  const { createOrtEngine } = await import('../backends/ort-train/engine.js');
  const { ORT_VERSION } = await import('../backends/ort-train/session.js');
  const results: object[] = [];
  const loadStart = loadavg();
  let torchVersion: string | undefined;
  for (const net of nets) {
    const graph = loadSpec(root, net);
    const netLoad = loadavg();
    const contenders: Contender[] = [await ortContender(createOrtEngine, graph, batch, threads)];
    if (options.torch ?? true) {
      const torch = await torchContender(root, graph, relative(root, specPath(root, net)), batch, threads);
      torchVersion = torch.version;
      contenders.push(torch);
    }
    try {
      const measured = await alternate(contenders, warmup, steps, rounds, batch);
      const [ort, torch] = measured;
      const row = {
        net: `fashion/${net}`,
        batch,
        threads,
        rounds,
        loadAverage: { start: netLoad, end: loadavg() },
        ort,
        ...(torch ? { torch, ortOverTorch: Math.round((ort.samplesPerSecond / torch.samplesPerSecond) * 100) / 100 } : {}),
      };
      results.push(row);
      const line = (name: string, m: Measured) => `${name} ${m.samplesPerSecond} samples/s (median step ${m.stepMs.median} ms, ${m.cpuMsPerStep} ms CPU/step)`;
      process.stderr.write(`fashion/${net}: ${measured.map((m, i) => line(contenders[i].name, m)).join('; ')}${torch ? `; ORT/PyTorch ${row.ortOverTorch}` : ''}\n`);
    } finally {
      for (const c of contenders) await c.close();
    }
    if (options.tfjs) {
      const { tfjsEngineFactory } = await import('../backends/tfjs/engine.js');
      const tfjsBatch = options.tfjsBatch ?? 8;
      const tfjs = await measure(tfjsEngineFactory({ device: 'cpu' }), graph, tfjsBatch, 1, options.tfjsSteps ?? 2, undefined);
      results.push({ net: `fashion/${net}`, engine: 'tfjs', note: `pure-JS CPU backend; ${tfjsBatch}-sample batches, a few steps only (too slow for more)`, batch: tfjsBatch, ...tfjs });
      process.stderr.write(`fashion/${net} tfjs (pure JS, batch ${tfjsBatch}): ${tfjs.samplesPerSecond} samples/s\n`);
    }
  }
  const report = {
    bench: 'train',
    date: new Date().toISOString(),
    machine: machine(loadStart),
    onnxruntime: ORT_VERSION,
    ...(torchVersion ? { torch: torchVersion } : {}),
    method:
      `per net: ${warmup} untimed steps each, then ${rounds} rounds of ${Math.ceil(steps / rounds)} ORT steps followed by as many PyTorch steps ` +
      `(SoFAr's torch backend, train.py's train_step, in a long-lived python3 process); Adam, weight decay 1e-4, random data; ` +
      `${threads} threads each (ORT intra-op threads; torch.set_num_threads); cpuMsPerStep is the process CPU time per step`,
    results,
  };
  const out = resultsPath(options, root);
  writeReport(out, report);
  process.stderr.write(`wrote ${out}\n`);
  return report;
}

/**
 * Where the report goes: --out, else bench/results/train.json for a full run (the published
 * settings), else a scratch file, so a short or partial run never replaces the committed figures.
 */
export function resultsPath(options: BenchOptions, root: string): string {
  if (options.out) return options.out;
  const keys = Object.keys(options).filter((k) => options[k as keyof BenchOptions] !== undefined);
  const full = keys.length === 0;
  return full ? join(root, 'bench', 'results', 'train.json') : join(tmpdir(), 'sofar-bench', 'train.json');
}

function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = {};
  return parseFlags('train', argv, o, { keys: ['steps', 'rounds', 'warmup', 'batch', 'threads'], number: wholeNumber('train', 1) }, {
    '--nets': (value) => (o.nets = value().split(',')),
    '--no-torch': () => (o.torch = false),
    '--tfjs': () => (o.tfjs = true),
    '--out': (value) => (o.out = value()),
  });
}

if (isMain(import.meta.url)) printReport(() => run(parseArgs(process.argv.slice(2))), { stack: true });
