/**
 * The threaded WebAssembly kernels in Node (worker_threads): SoFAr's runtime on
 * native/wasm/sofar_kernels.wasm (one thread) and on native/wasm/sofar_kernels_threads.wasm at 1 and 2
 * threads, batch 1, Bi-Real ResNet18 (224×224) and the Fashion-MNIST Bi-Real (28×28); the native addon at
 * 1 and 2 threads for reference (what the machine's cores allow). The logits of every WebAssembly
 * contender are checked equal bit for bit; chunksRunPerThread says how the parallel loops' chunks were
 * shared (caller first). Writes bench/results/web-threads.json. Not a test.
 *
 *   npm run build && node dist/bench/web-threads.js [--rounds 5] [--runs 5] [--warmup 3] [--out FILE]
 *
 * Interleaved rounds (A, B, C, A, B, C, ...); medians over all rounds compared.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { exportOnnx, percentile, sofarVersion } from '../backends/onnx/index.js';
import { createRuntime, createRuntimeWith, loadNativeKernels, loadWasmKernels, type BinaryRuntime, type WasmKernelSet } from '../backends/runtime/index.js';
import { compileFile } from '../src/compile.js';
import { initWeights, seededInput } from '../src/weights/init.js';
import { isMain, machine, parseFlags, printReport, repoRoot, wholeNumber, writeReport } from './common.js';

export interface WebThreadsBenchOptions {
  rounds?: number;
  runs?: number;
  warmup?: number;
  out?: string;
}

const MODELS = { 'bireal-resnet18': 'specs/bireal-resnet18.sofar', 'fashion/bireal-small': 'specs/fashion/bireal-small.sofar' };
const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
const round3 = (x: number) => Math.round(x * 1000) / 1000;

export async function run(options: WebThreadsBenchOptions = {}): Promise<object> {
  const o = { rounds: 5, runs: 5, warmup: 3, ...options };
  const root = repoRoot();
  const loadStart = loadavg();
  const single = readFileSync(join(root, 'native', 'wasm', 'sofar_kernels.wasm'));
  const threaded = readFileSync(join(root, 'native', 'wasm', 'sofar_kernels_threads.wasm'));
  const models: Record<string, object> = {};
  const twoThreadGains: number[] = [];
  for (const [name, path] of Object.entries(MODELS)) {
    const graph = compileFile(join(root, path)).graph!;
    const bytes = exportOnnx(graph, initWeights(graph, 0), { binaryOps: true });
    const x = seededInput(graph, 1, 1);
    const kernels: WasmKernelSet[] = [];
    const contender = async (label: string, wasm: Uint8Array, threads: number) => {
      const k = await loadWasmKernels(wasm, { threads });
      kernels.push(k);
      const runtime: BinaryRuntime = createRuntimeWith(bytes, { kernels: k, threads, batch: 1 });
      return { label, runtime, threads: k.threads(), times: [] as number[], kernels: k as WasmKernelSet | undefined };
    };
    const native = (threads: number) => ({ label: `native addon, ${threads} thread${threads > 1 ? 's' : ''} (reference)`, runtime: createRuntime(bytes, { threads, batch: 1 }), threads, times: [] as number[], kernels: undefined });
    const twoThreads = await contender('wasm-threads, 2 threads', threaded, 2);
    const contenders = [
      await contender('wasm, 1 thread (sofar_kernels.wasm)', single, 1),
      await contender('wasm-threads, 1 thread', threaded, 1),
      twoThreads,
    ];
    const wasmCount = contenders.length;
    if ('kernels' in loadNativeKernels()) contenders.push(native(1), native(2));
    const reference = Array.from(contenders[0].runtime.run(x, 1));
    for (const c of contenders) {
      if (contenders.indexOf(c) < wasmCount && JSON.stringify(Array.from(c.runtime.run(x, 1))) !== JSON.stringify(reference)) throw new Error(`bench/web-threads: ${c.label} gives other logits on ${name}`);
      for (let i = 0; i < o.warmup; i++) c.runtime.run(x, 1);
    }
    for (let r = 0; r < o.rounds; r++) {
      for (const c of contenders) {
        for (let i = 0; i < o.runs; i++) {
          const start = performance.now();
          c.runtime.run(x, 1);
          c.times.push(performance.now() - start);
        }
      }
    }
    const base = median(contenders[0].times);
    twoThreadGains.push(base / median(twoThreads.times));
    models[name] = {
      logitsEqual: true,
      contenders: contenders.map((c) => ({ label: c.label, threads: c.threads, p50Ms: round3(median(c.times)), minMs: round3(Math.min(...c.times)), speedupOver1Thread: round3(base / median(c.times)), ...(c.kernels && c.threads > 1 ? { chunksRunPerThread: c.kernels.chunksRun().slice(0, c.threads) } : {}) })),
    };
    for (const c of contenders) c.runtime.release();
    for (const k of kernels) await k.close();
    process.stderr.write(`bench/web-threads: ${name}: ${JSON.stringify(models[name])}\n`);
  }
  const result = {
    benchmark: 'web-threads',
    sofar: sofarVersion(),
    node: process.version,
    machine: machine(loadStart),
    // Only where a second thread gained nothing and the machine was busy: then the load is the likely cause.
    note: loadavg()[0] >= cpus().length - 0.5 && twoThreadGains.some((g) => g < 1.1)
      ? `the machine was busy (load ${loadavg()[0].toFixed(1)} on ${cpus().length} logical CPUs): no core was free for a second thread, so 2 threads cannot beat 1 here (see the native addon's own 2-thread figure); chunksRunPerThread shows the worker doing its share`
      : undefined,
    protocol: `batch 1, Node worker_threads; ${o.warmup} warm-up runs, then ${o.rounds} interleaved rounds of ${o.runs} timed runs per contender; medians; speedup = 1-thread sofar_kernels.wasm p50 / contender p50; logits equal bit for bit`,
    models,
  };
  writeReport(options.out ?? join(root, 'bench', 'results', 'web-threads.json'), result);
  return result;
}

/** Flags given on the command line; absent ones keep run()'s defaults (an undefined value would override them). */
function parseArgs(argv: string[]): WebThreadsBenchOptions {
  const o: WebThreadsBenchOptions = {};
  return parseFlags('web-threads', argv, o, { keys: ['rounds', 'runs', 'warmup'], number: wholeNumber('web-threads', 1) }, {
    '--out': (value) => (o.out = value()),
  });
}

if (isMain(import.meta.url)) printReport(() => run(parseArgs(process.argv.slice(2))));
