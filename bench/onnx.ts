/**
 * ONNX inference on this machine's CPU (onnxruntime-node): file size, session load time, latency p50 /
 * p90 and throughput at batch 1 for Bi-Real ResNet18, RF-C4D8-ResNet37 and DRF-C2D2-DenseNet51, each
 * with binary kernels 1-bit packed (the default export), unpacked (±1 float32), and as ConvInteger
 * (`--int`, packed). Seeded weights and input. Writes bench/results/onnx.json. Not a test.
 *
 *   npm run build && node dist/bench/onnx.js [--models bireal-resnet18,...] [--runs N] [--rounds N] [--loads N] [--threads N]
 *
 * The machine may be shared: the variants of a model are timed in interleaved rounds, so that a busy
 * spell slows all of them alike, and the file records the load average and the process CPU time per
 * run next to the wall-clock figures.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { exportOnnx, percentile, runOnnx, timedLoad, variantName, type ExportOptions, type InferenceSession } from '../backends/onnx/index.js';
import { isMain, machine, parseFlags, printReport, repoRoot, wholeNumber, writeReport } from './common.js';
import { compileFile } from '../src/compile.js';
import { summarize } from '../src/cost.js';
import { hasErrors } from '../src/diagnostics.js';
import { initWeights, seededInput } from '../src/weights/init.js';

export interface OnnxBenchOptions {
  models?: string[];
  /** Timed runs per variant in each round. */
  runs?: number;
  /** Interleaved rounds (all variants of a model, one after the other, per round). */
  rounds?: number;
  warmup?: number;
  /** Session loads per variant (the load time reported is their median). */
  loads?: number;
  threads?: number;
  seed?: number;
  out?: string;
}

const MODELS = ['bireal-resnet18', 'rf-c4d8-resnet37', 'drf-c2d2-densenet51'];
const VARIANTS: { label: string; options: ExportOptions }[] = [
  { label: 'packed', options: { packBits: true } },
  { label: 'unpacked', options: { packBits: false } },
  { label: 'int', options: { integer: true, packBits: true } },
];


const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
const round2 = (x: number) => Math.round(x * 100) / 100;

interface Prepared {
  label: string;
  variant: string;
  fileBytes: number;
  loadMs: number[];
  session: InferenceSession;
  times: number[];
  cpuMs: number;
}

export async function run(options: OnnxBenchOptions = {}): Promise<object> {
  const root = repoRoot();
  const o = { runs: 20, rounds: 5, warmup: 5, loads: 3, seed: 0, ...options };
  const sessionOptions = o.threads ? { threads: o.threads } : {};
  const loadStart = loadavg();
  const results = [];
  for (const model of o.models ?? MODELS) {
    const path = join(root, 'specs', `${model}.sofar`);
    const { graph, diagnostics } = compileFile(path);
    if (!graph || hasErrors(diagnostics)) throw new Error(`bench/onnx: ${path} does not compile: ${diagnostics.map((d) => d.message).join('; ')}`);
    const weights = initWeights(graph, o.seed);
    const x = seededInput(graph, 1, o.seed);
    const prepared: Prepared[] = [];
    for (const { label, options: exportOptions } of VARIANTS) {
      const bytes = exportOnnx(graph, weights, exportOptions);
      const loadMs: number[] = [];
      let session: InferenceSession | undefined;
      for (let i = 0; i < o.loads; i++) {
        await session?.release();
        const loaded = await timedLoad(bytes, sessionOptions);
        loadMs.push(loaded.loadMs);
        session = loaded.session;
      }
      for (let i = 0; i < o.warmup; i++) await runOnnx(session!, x, 1);
      prepared.push({ label, variant: variantName({ packBits: exportOptions.packBits ?? true, integer: exportOptions.integer ?? false }), fileBytes: bytes.length, loadMs, session: session!, times: [], cpuMs: 0 });
    }
    for (let r = 0; r < o.rounds; r++) {
      for (const p of prepared) {
        const cpu0 = process.cpuUsage();
        for (let i = 0; i < o.runs; i++) {
          const start = performance.now();
          await runOnnx(p.session, x, 1);
          p.times.push(performance.now() - start);
        }
        const cpu = process.cpuUsage(cpu0);
        p.cpuMs += (cpu.user + cpu.system) / 1000;
      }
    }
    const summary = summarize(graph);
    results.push({
      model: graph.name,
      spec: `specs/${model}.sofar`,
      memoryBytes: summary.memoryBytes,
      ops: summary.ops,
      variants: Object.fromEntries(
        prepared.map((p) => {
          const sorted = [...p.times].sort((a, b) => a - b);
          const mean = p.times.reduce((a, b) => a + b, 0) / p.times.length;
          return [
            p.label,
            {
              variant: p.variant,
              fileBytes: p.fileBytes,
              loadMs: round2(median(p.loadMs)),
              loadMsAll: p.loadMs.map(round2),
              latencyMs: { p50: round2(percentile(sorted, 50)), p90: round2(percentile(sorted, 90)), mean: round2(mean), min: round2(sorted[0]) },
              throughputPerS: round2(1000 / mean),
              cpuMsPerRun: round2(p.cpuMs / p.times.length),
              runs: p.times.length,
            },
          ];
        }),
      ),
    });
    for (const p of prepared) await p.session.release();
  }
  const report = {
    benchmark: 'onnx-inference',
    runtime: 'onnxruntime-node 1.23 (CPU execution provider, all graph optimisations)',
    batch: 1,
    threads: o.threads ?? 'onnxruntime default (one per physical core)',
    protocol: `${o.loads} session loads per variant (median reported), ${o.warmup} warm-up runs, then ${o.rounds} interleaved rounds of ${o.runs} timed runs per variant; nearest-rank percentiles`,
    seed: o.seed,
    date: new Date().toISOString(),
    machine: machine(loadStart),
    results,
  };
  writeReport(o.out ?? join(root, 'bench', 'results', 'onnx.json'), report);
  return report;
}

function parseArgs(argv: string[]): OnnxBenchOptions {
  const o: OnnxBenchOptions = {};
  return parseFlags('onnx', argv, o, { keys: ['runs', 'rounds', 'warmup', 'loads', 'threads', 'seed'], number: wholeNumber('onnx', 0) }, {
    '--models': (value) => (o.models = value().split(',')),
    '--out': (value) => (o.out = value()),
  });
}

if (isMain(import.meta.url)) printReport(() => run(parseArgs(process.argv.slice(2))));
