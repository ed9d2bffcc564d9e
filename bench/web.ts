/**
 * SoFAr's WebAssembly runtime against onnxruntime-web's WASM backend, 1 thread, batch 1, side by side in
 * one run: Bi-Real ResNet18 on the runtime (`--binary-ops`) vs onnxruntime-web running a float ResNet-18
 * with the same conv shapes (specs/resnet18-float.sofar) and SoFAr's standard export of Bi-Real ResNet18.
 * Measured in Node (this V8) and in headless Chromium (Debian's /usr/bin/chromium, a served bench page).
 * Writes bench/results/web.json. Not a test.
 *
 *   npm run build && node dist/bench/web.js [--rounds 6] [--runs 5] [--warmup 2] [--no-browser] [--out FILE]
 *
 * Rounds are interleaved — A, B, C, A, B, C, ... — so a busy spell on a shared machine slows every
 * contender alike; the medians over all rounds are compared.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportOnnx, percentile, sofarVersion } from '../backends/onnx/index.js';
import { createRuntime } from '../backends/runtime/index.js';
import { loadRuntime } from '../backends/runtime/web.js';
import { startStaticServer } from '../cli/static-server.js';
import { loadGraph } from '../cli/common.js';
import { summarize } from '../src/cost.js';
import type { Graph } from '../src/graph/types.js';
import { initWeights, seededInput } from '../src/weights/init.js';
import { isMain, machine, repoRoot, writeReport } from './common.js';
import { timedRuns } from './timed-runs.js';

/** Debian's Chromium and the flags every headless run here uses (tests too). */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Headless Chromium through playwright-core, which never downloads a browser. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

export interface WebBenchOptions {
  rounds?: number;
  runs?: number;
  warmup?: number;
  browser?: boolean;
  out?: string;
}

/** What web/bench.ts puts on the bench page's window (kept in step with it). */
interface BenchPage {
  load(config: object): Promise<{ outputs: Record<string, number[]>; ortVersion: string; crossOriginIsolated: boolean }>;
  timeRuns(label: string, runs: number): Promise<number[]>;
}
type BenchWindow = { sofarBench: BenchPage };

interface Contender {
  label: string;
  timeRuns(runs: number): Promise<number[]>;
}

const TARGET = 3;
const SOFAR = 'sofar-wasm';
const ORT_FLOAT = 'ort-web-float-resnet18';
const ORT_STANDARD = 'ort-web-bireal-standard';
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Interleaved rounds over the contenders; p50 / p90 / min per contender and each ratio to SoFAr's p50. */
async function race(contenders: Contender[], o: { rounds: number; runs: number; warmup: number }) {
  const times = new Map(contenders.map((c) => [c.label, [] as number[]]));
  for (const c of contenders) await c.timeRuns(o.warmup);
  for (let r = 0; r < o.rounds; r++) for (const c of contenders) times.get(c.label)!.push(...(await c.timeRuns(o.runs)));
  const latency = Object.fromEntries(
    [...times].map(([label, t]) => {
      const sorted = [...t].sort((a, b) => a - b);
      return [label, { p50Ms: round3(percentile(sorted, 50)), p90Ms: round3(percentile(sorted, 90)), minMs: round3(sorted[0]), runs: t.length }];
    }),
  );
  const sofar = latency[SOFAR].p50Ms;
  const speedups = Object.fromEntries(Object.entries(latency).filter(([l]) => l !== SOFAR).map(([l, s]) => [`${SOFAR} vs ${l}`, round3(s.p50Ms / sofar)]));
  return { latency, speedups, targetMet: speedups[`${SOFAR} vs ${ORT_FLOAT}`] >= TARGET && speedups[`${SOFAR} vs ${ORT_STANDARD}`] >= TARGET };
}

const loop = (run: () => unknown) => (runs: number) => timedRuns(run, runs);

async function inNode(models: Record<string, Uint8Array>, wasm: Uint8Array, x: Float32Array, shape: number[], o: Required<Omit<WebBenchOptions, 'out' | 'browser'>>) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true;
  const runtime = await loadRuntime(models[SOFAR], { wasm });
  const native = createRuntime(models[SOFAR], { threads: 1 });
  const contenders: Contender[] = [{ label: SOFAR, timeRuns: loop(() => runtime.run(x, 1)) }];
  for (const label of [ORT_FLOAT, ORT_STANDARD]) {
    const session = await ort.InferenceSession.create(models[label], { executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential' });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [1, ...shape]) };
    contenders.push({ label, timeRuns: loop(() => session.run(feeds)) });
  }
  contenders.push({ label: 'sofar-native-1-thread (reference)', timeRuns: loop(() => native.run(x, 1)) });
  const result = await race(contenders, o);
  runtime.release();
  native.release();
  return { engine: `Node ${process.version} (V8 ${process.versions.v8})`, kernels: { [SOFAR]: runtime.kernels, reference: native.kernels }, onnxruntimeWeb: ort.env.versions.web, ...result };
}

/** The bench page (web/bench.ts, bundled here), the models and onnxruntime-web's files in a served folder. */
async function inChromium(root: string, models: Record<string, Uint8Array>, wasm: Uint8Array, x: Float32Array, shape: number[], o: Required<Omit<WebBenchOptions, 'out' | 'browser'>>) {
  const esbuild = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'sofar-web-bench-'));
  const server = await startStaticServer(dir, { port: 0 });
  const browser = await launchChromium();
  try {
    await esbuild.build({ entryPoints: [join(root, 'web', 'bench.ts')], outfile: join(dir, 'bench.js'), bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'warning' });
    writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>SoFAr bench</title><script type="module" src="bench.js"></script>\n');
    const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
    mkdirSync(join(dir, 'ort'));
    for (const f of ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']) cpSync(join(ortDist, f), join(dir, 'ort', f));
    writeFileSync(join(dir, 'sofar_kernels.wasm'), wasm);
    for (const [label, bytes] of Object.entries(models)) writeFileSync(join(dir, `${label}.onnx`), bytes);

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(() => 'sofarBench' in globalThis);
    const contenders = [
      { label: SOFAR, engine: 'sofar-wasm' as const, model: `${SOFAR}.onnx` },
      { label: ORT_FLOAT, engine: 'ort-web' as const, model: `${ORT_FLOAT}.onnx` },
      { label: ORT_STANDARD, engine: 'ort-web' as const, model: `${ORT_STANDARD}.onnx` },
    ];
    const loaded = await page.evaluate((config) => (globalThis as unknown as BenchWindow).sofarBench.load(config), { wasm: 'sofar_kernels.wasm', ort: 'ort/ort.wasm.min.mjs', contenders, input: Array.from(x), shape });
    if (errors.length) throw new Error(`bench/web: the bench page failed: ${errors.join('; ')}`);
    const same = maxRelative(loaded.outputs[SOFAR], loaded.outputs[ORT_STANDARD]);
    if (!(same < 1e-4)) throw new Error(`bench/web: in Chromium, SoFAr's logits differ from onnxruntime-web's on the same model (${same})`);
    const result = await race(
      contenders.map((c) => ({ label: c.label, timeRuns: (runs: number) => page.evaluate(([label, n]) => (globalThis as unknown as BenchWindow).sofarBench.timeRuns(label, n), [c.label, runs] as const) })),
      o,
    );
    return { engine: `Chromium ${browser.version()}`, crossOriginIsolated: loaded.crossOriginIsolated, onnxruntimeWeb: loaded.ortVersion, logitsAgree: Number(same.toPrecision(3)), ...result };
  } finally {
    await browser.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function maxRelative(a: number[], b: number[]): number {
  const scale = Math.max(1e-3, ...b.map(Math.abs));
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]) / scale));
}

export async function run(options: WebBenchOptions = {}): Promise<object> {
  const root = repoRoot();
  const o = { rounds: options.rounds ?? 6, runs: options.runs ?? 5, warmup: options.warmup ?? 2, browser: options.browser, out: options.out };
  const wasmPath = join(root, 'native', 'wasm', 'sofar_kernels.wasm');
  if (!existsSync(wasmPath)) throw new Error(`bench/web: ${wasmPath} is missing`);
  const wasm = new Uint8Array(readFileSync(wasmPath));
  const loadStart = loadavg();
  const bireal = loadGraph(join(root, 'specs', 'bireal-resnet18.sofar')).graph;
  const float = loadGraph(join(root, 'specs', 'resnet18-float.sofar')).graph;
  const weights = initWeights(bireal, 0);
  const models: Record<string, Uint8Array> = {
    [SOFAR]: exportOnnx(bireal, weights, { binaryOps: true }),
    [ORT_FLOAT]: exportOnnx(float, initWeights(float, 0)),
    [ORT_STANDARD]: exportOnnx(bireal, weights),
  };
  const x = seededInput(bireal, 1, 0);
  const shape = bireal.input;
  const rounds = { rounds: o.rounds, runs: o.runs, warmup: o.warmup };
  process.stderr.write('bench/web: in Node...\n');
  const node = await inNode(models, wasm, x, shape, rounds);
  process.stderr.write(`bench/web: Node ${JSON.stringify(node.speedups)}\n`);
  let chromium: object | string = 'skipped (--no-browser)';
  if (o.browser !== false) {
    if (!existsSync(CHROMIUM)) chromium = `skipped: no ${CHROMIUM} (apt-get install chromium)`;
    else {
      process.stderr.write('bench/web: in Chromium...\n');
      chromium = await inChromium(root, models, wasm, x, shape, rounds);
      process.stderr.write(`bench/web: Chromium ${JSON.stringify((chromium as { speedups: object }).speedups)}\n`);
    }
  }
  const cost = (g: Graph) => {
    const s = summarize(g);
    return { binaryMacs: s.macs.binary, floatMacs: s.macs.float, ops: s.ops };
  };
  const report = {
    benchmark: 'web',
    sofarVersion: sofarVersion(),
    protocol: `batch 1, 1 thread; ${o.warmup} warm-up runs, then ${o.rounds} interleaved rounds of ${o.runs} timed runs per contender (A, B, C, A, B, C, ...); medians compared; speedup = contender p50 / ${SOFAR} p50; target ≥ ${TARGET}× against both onnxruntime-web contenders`,
    models: {
      [SOFAR]: { spec: 'bireal-resnet18', variant: 'binary-ops', bytes: models[SOFAR].length, ...cost(bireal) },
      [ORT_FLOAT]: { spec: 'resnet18-float', variant: 'float', bytes: models[ORT_FLOAT].length, ...cost(float) },
      [ORT_STANDARD]: { spec: 'bireal-resnet18', variant: 'float (standard export, 1-bit packed kernels)', bytes: models[ORT_STANDARD].length, ...cost(bireal) },
    },
    date: new Date().toISOString(),
    machine: machine(loadStart),
    node,
    chromium,
  };
  writeReport(o.out ?? join(root, 'bench', 'results', 'web.json'), report);
  return report;
}

if (isMain(import.meta.url)) {
  const count = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    if (!/^[1-9]\d*$/.test(v)) throw new Error(`bench/web: --${flag} expects a whole number ≥ 1, got '${v}'`);
    return Number(v);
  };
  const options = { rounds: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' }, 'no-browser': { type: 'boolean' }, out: { type: 'string' } } as const;
  try {
    const { values: v } = parseArgs({ options });
    const report = await run({ rounds: count('rounds', v.rounds), runs: count('runs', v.runs), warmup: count('warmup', v.warmup), browser: !v['no-browser'], out: v.out });
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
