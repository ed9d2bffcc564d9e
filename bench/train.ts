/**
 * Training throughput (samples/s) on this machine's CPU: the ONNX Runtime engine at batch 128 on the
 * Fashion-MNIST zoo nets, and the TensorFlow.js engine on its pure-JS CPU backend for a few small
 * batches only (it is that slow; labelled so). Random images and labels of the right shape, the
 * training loop's own drop-path masks. Writes bench/results/train.json when run with the published
 * settings (no options); any other run writes $TMPDIR/sofar-bench/train.json unless --out says. Not a test.
 *
 *   npm run build && node dist/bench/train.js [--steps N] [--nets bireal-small,rf-c3-small] [--no-tfjs] [--out FILE]
 *
 * The machine may be shared: the file records the load average and the process CPU time per step
 * next to the wall-clock figures, so a busy run can be told from a slow engine.
 */
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMain, machine, parseFlags, printReport, repoRoot, writeReport } from './common.js';
import { compileFile } from '../src/compile.js';
import { hasErrors } from '../src/diagnostics.js';
import type { Graph } from '../src/graph/types.js';
import { Random } from '../src/random.js';
import { dropPathMasks, planDropPath } from '../src/train/droppath.js';
import { dropoutMasks, planDropout } from '../src/train/dropout.js';
import type { Batch, EngineFactory, OptimizerConfig, StepNoise } from '../src/train/engine.js';
import { initWeights } from '../src/weights/init.js';

/** PyTorch 1.13 on this machine, bireal-small, batch 128, 2 threads (the reference). */
const PYTORCH_SAMPLES_PER_S = 340;

export interface BenchOptions {
  nets?: string[];
  /** Measured steps per net (after warm-up). */
  steps?: number;
  warmup?: number;
  batch?: number;
  threads?: number;
  tfjs?: boolean;
  tfjsBatch?: number;
  tfjsSteps?: number;
  out?: string;
}

export interface Measured {
  samplesPerSecond: number;
  stepMs: { median: number; min: number; max: number };
  cpuMsPerStep: number;
  rssMB: { start: number; end: number };
}


/** `net` is a spec under specs/fashion/ (`bireal-small`) or a path under specs/ with its folder (`./bireal-resnet18`). */
export function loadSpec(root: string, net: string): Graph {
  const path = net.startsWith('./') ? join(root, 'specs', `${net.slice(2)}.sofar`) : join(root, 'specs', 'fashion', `${net}.sofar`);
  const result = compileFile(path);
  if (!result.graph || hasErrors(result.diagnostics)) throw new Error(`bench: ${path} does not compile: ${result.diagnostics.map((d) => d.message).join('; ')}`);
  return result.graph;
}

function randomBatch(graph: Graph, n: number, seed: number): Batch {
  const rng = new Random(seed, 'bench-batch');
  const x = Float32Array.from({ length: n * graph.input.reduce((a, b) => a * b, 1) }, () => rng.normal());
  const y = Int32Array.from({ length: n }, () => rng.int(graph.classes));
  return { x, y, n };
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Times `steps` training steps after `warmup` untimed ones. */
export async function measure(factory: EngineFactory, graph: Graph, batch: number, warmup: number, steps: number, threads: number | undefined): Promise<Measured> {
  const optimizer: OptimizerConfig = { name: 'adam', momentum: 0.9, weightDecay: 1e-4 };
  const engine = await factory({ graph, weights: initWeights(graph, 1), optimizer, batchSize: batch, threads });
  const data = [randomBatch(graph, batch, 1), randomBatch(graph, batch, 2)];
  const dropPath = planDropPath(graph);
  const dropout = planDropout(graph);
  const noise = (step: number): StepNoise => ({ joinMasks: dropPathMasks(dropPath, 7, step), dropoutMasks: dropoutMasks(dropout, 7, step, batch) });
  try {
    for (let i = 0; i < warmup; i++) await engine.trainStep(data[i % 2], 1e-3, noise(i));
    const rssStart = process.memoryUsage().rss;
    const times: number[] = [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const s0 = performance.now();
      await engine.trainStep(data[i % 2], 1e-3, noise(warmup + i));
      times.push(performance.now() - s0);
    }
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const sorted = [...times].sort((a, b) => a - b);
    const round = (v: number) => Math.round(v * 10) / 10;
    return {
      samplesPerSecond: round((steps * batch) / (wall / 1000)),
      stepMs: { median: round(sorted[sorted.length >> 1]), min: round(sorted[0]), max: round(sorted[sorted.length - 1]) },
      cpuMsPerStep: round((cpu.user + cpu.system) / 1000 / steps),
      rssMB: { start: mb(rssStart), end: mb(process.memoryUsage().rss) },
    };
  } finally {
    await engine.dispose();
  }
}

export async function run(options: BenchOptions = {}): Promise<object> {
  const root = repoRoot();
  const nets = options.nets ?? ['bireal-small', 'rf-c3-small'];
  const batch = options.batch ?? 128;
  const threads = options.threads ?? 2;
  const { createOrtEngine } = await import('../backends/ort-train/engine.js');
  const { ORT_VERSION } = await import('../backends/ort-train/session.js');
  const results: object[] = [];
  const loadStart = loadavg();
  for (const net of nets) {
    const graph = loadSpec(root, net);
    const ort = await measure(createOrtEngine, graph, batch, options.warmup ?? 3, options.steps ?? 20, threads);
    results.push({ net: `fashion/${net}`, engine: 'ort', batch, threads, ...ort });
    process.stderr.write(`fashion/${net} ort: ${ort.samplesPerSecond} samples/s (median step ${ort.stepMs.median} ms, ${ort.cpuMsPerStep} ms CPU/step)\n`);
    if (options.tfjs ?? true) {
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
    reference: { pytorch113SamplesPerSecond: PYTORCH_SAMPLES_PER_S, net: 'fashion/bireal-small', batch: 128, threads: 2, target: PYTORCH_SAMPLES_PER_S / 2 },
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
  return parseFlags('train', argv, o, { keys: ['steps', 'warmup', 'batch', 'threads'], number: (_, v) => Number(v) }, {
    '--nets': (value) => (o.nets = value().split(',')),
    '--no-tfjs': () => (o.tfjs = false),
    '--out': (value) => (o.out = value()),
  });
}

if (isMain(import.meta.url)) printReport(() => run(parseArgs(process.argv.slice(2))), { stack: true });
