/**
 * SoFAr's binary runtime against onnxruntime, side by side in one process: Bi-Real ResNet18, RF-c4d8
 * ResNet37 and DRF-c2d2 DenseNet51 on the runtime (`--binary-ops`) and on onnxruntime (standard and
 * `--int` exports), a float ResNet-18 with the same conv shapes on onnxruntime, and one 3×3 binary conv
 * (256→256 at 14×14) against onnxruntime's float conv of the same shape. Also each binary layer's
 * throughput in the runtime, and Bi-Real's 3×3 convs' share of the binary peak (issue 21: ≥ 60 %), against
 * the start-up peak and round by round beside the peak's probe. The zoo models (QuickNetSmall, QuickNet,
 * ReActNet-A) run on the runtime against their own standard export and the float ResNet-18 on onnxruntime
 * (ReActNet-A's accuracy is about float ResNet-18's), and QuickNetSmall and QuickNet also on one thread,
 * beside Larq Compute Engine's published single-thread latencies (other CPUs). Writes
 * bench/results/runtime.json. Not a test.
 *
 *   npm run build && node dist/bench/runtime.js [--threads 2] [--batches 1,8] [--rounds 11] [--runs 20]
 *     [--models bireal-resnet18,quicknet,...] [--out FILE]
 *
 * Every ratio is measured in interleaved rounds — A, B, C, A, B, C, ... — so that a busy spell on a
 * shared machine slows every variant alike; the medians over all rounds are compared.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import ort from 'onnxruntime-node';
import { join } from 'node:path';
import { createSession, exportOnnx, OnnxGraph, percentile, runOnnx, sofarVersion, type InferenceSession } from '../backends/onnx/index.js';
import { createRuntime, type BinaryRuntime } from '../backends/runtime/index.js';
import { stepCost, type Peaks } from '../backends/runtime/roofline.js';
import { openPeakProbe, peaksOf, type PeakProbe } from '../cli/binary-runtime.js';
import { compileFile } from '../src/compile.js';
import { summarize } from '../src/cost.js';
import { hasErrors } from '../src/diagnostics.js';
import type { Graph } from '../src/graph/types.js';
import { Random } from '../src/random.js';
import { initWeights, seededInput } from '../src/weights/init.js';
import { isMain, machine, parseFlags, printReport, repoRoot, wholeNumber, writeReport } from './common.js';

export interface RuntimeBenchOptions {
  threads?: number;
  batches?: number[];
  rounds?: number;
  runs?: number;
  warmup?: number;
  /** A subset of MODELS (and 'layer', the single 3×3 conv); all when absent. */
  models?: string[];
  out?: string;
}

/** The models the bench runs: name → spec under specs/. */
export const MODELS: Record<string, string> = {
  'bireal-resnet18': 'bireal-resnet18',
  'rf-c4d8-resnet37': 'rf-c4d8-resnet37',
  'drf-c2d2-densenet51': 'drf-c2d2-densenet51',
  quicknet_small: 'larq/quicknet_small',
  quicknet: 'larq/quicknet',
  'reactnet-a': 'reactnet-a',
};
/** A model's spec under specs/ (without .sofar): one of MODELS by name, or any spec by its path there (larq/meliusnet22); undefined if none. */
export function specOf(root: string, model: string): string | undefined {
  return MODELS[model] ?? (existsSync(join(root, 'specs', `${model}.sofar`)) ? model : undefined);
}

/** Zoo models: compared with their standard export and the float ResNet-18 (no `--int` export). */
export const ZOO = new Set(['quicknet_small', 'quicknet', 'reactnet-a']);
/**
 * Larq Compute Engine's published single-thread latencies (ms, batch 1), as issue 21 quotes them: Mac mini
 * M1, Pixel 1, Raspberry Pi 4. Other CPUs than this bench's.
 */
const LCE_SINGLE_THREAD: Record<string, { macMiniM1Ms: number; pixel1Ms: number; raspberryPi4Ms: number }> = {
  quicknet_small: { macMiniM1Ms: 4.0, pixel1Ms: 16.8, raspberryPi4Ms: 27.7 },
  quicknet: { macMiniM1Ms: 5.8, pixel1Ms: 25.5, raspberryPi4Ms: 45.0 },
};

/**
 * Issue 21's batch-1 targets at 2 threads: the speed-up over an onnxruntime contender each model must reach.
 * Each run checks them round by round (targetVerdict); QuickNet on one thread has its own, LCE's M1 time.
 */
export const TARGETS: Record<string, { against: string; speedup: number }> = {
  'reactnet-a': { against: 'ort-float-resnet18', speedup: 4 },
  quicknet: { against: 'ort-float-resnet18', speedup: 6 },
  'bireal-resnet18': { against: 'ort-float-resnet18', speedup: 6 },
  'rf-c4d8-resnet37': { against: 'ort-standard', speedup: 8 },
  'drf-c2d2-densenet51': { against: 'ort-standard', speedup: 8 },
};

type Infer = (x: Float32Array, n: number) => Promise<unknown> | unknown;
interface Contender {
  label: string;
  infer: Infer;
  times: number[];
  release: () => Promise<void> | void;
  /** SoFAr's runtime: whether its first runs have chosen the batch's sample split (warm-up lasts until then). */
  settled?: () => boolean;
}

export const median = (xs: readonly number[]) => percentile([...xs].sort((a, b) => a - b), 50);
export const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * A distribution-free interval for the median of the population the rounds sample: [x(k), x(n−1−k)] of the
 * sorted rounds, with k the largest index whose coverage 1 − 2·P(B ≤ k), B ~ Binomial(n, ½), is at least
 * `confidence` (the order statistics' classic interval: no assumption on how a shared machine's noise is
 * distributed, only that rounds are independent). 11 rounds give [x(2), x(8)] at 93.5 %; 7 give [x(0), x(6)]
 * at 98.4 %. Also returns the coverage it has.
 */
export function medianInterval(xs: readonly number[], confidence = 0.9): { low: number; high: number; coverage: number } {
  const sorted = [...xs].sort((a, b) => a - b);
  const n = sorted.length;
  // P(B ≤ k) for B ~ Binomial(n, 1/2), summed term by term
  let term = 0.5 ** n, tail = term, k = 0;
  const coverage = (tailAtK: number) => 1 - 2 * tailAtK;
  for (;;) {
    const nextTerm = (term * (n - k)) / (k + 1);
    if (k + 1 > (n - 1) / 2 || coverage(tail + nextTerm) < confidence) break;
    term = nextTerm;
    tail += term;
    k++;
  }
  return { low: round3(sorted[k]), high: round3(sorted[n - 1 - k]), coverage: round3(coverage(tail)) };
}

/**
 * Where the median of per-round figures stands against a threshold, by its interval (medianInterval):
 * 'above' where the interval lies at or above it, 'below' where it lies under it, else 'within the noise'.
 */
export function againstThreshold(values: readonly number[], threshold: number): { interval: ReturnType<typeof medianInterval>; verdict: 'above' | 'below' | 'within the noise' } {
  const interval = medianInterval(values);
  return { interval, verdict: interval.low >= threshold ? 'above' : interval.high < threshold ? 'below' : 'within the noise' };
}

/** A target met where the interval lies on its good side (`above` or `below` the threshold), missed on the other. */
export function targetMet(values: readonly number[], threshold: number, good: 'above' | 'below') {
  const { interval, verdict } = againstThreshold(values, threshold);
  return { interval, verdict: verdict === 'within the noise' ? verdict : verdict === good ? 'met' : 'missed' };
}

/** The median of each round's `runs` times, as race() writes them (one round after another). */
function roundMedians(times: readonly number[], rounds: number, runs: number): number[] {
  return Array.from({ length: rounds }, (_, r) => median(times.slice(r * runs, (r + 1) * runs)));
}

/** Per-round figures as their least, median and greatest (rounded): how far the shared machine moved. */
export function spread(xs: readonly number[]): { min: number; median: number; max: number } {
  const sorted = [...xs].sort((a, b) => a - b);
  return { min: round3(sorted[0]), median: round3(median(sorted)), max: round3(sorted[sorted.length - 1]) };
}

/** The zoo spec `specs/NAME.sofar`'s graph; a spec that does not compile stops `bench/<bench>`. */
export function compileSpec(root: string, name: string, bench = 'runtime'): Graph {
  const path = join(root, 'specs', `${name}.sofar`);
  const { graph, diagnostics } = compileFile(path);
  if (!graph || hasErrors(diagnostics)) throw new Error(`bench/${bench}: ${path} does not compile`);
  return graph;
}

async function ortContender(label: string, bytes: Uint8Array, threads: number): Promise<Contender> {
  // Its threads stop spinning when a run ends, so they do not slow the contender that runs next.
  const session: InferenceSession = await createSession(bytes, { threads, stopSpinning: true });
  return { label, infer: (x, n) => runOnnx(session, x, n), times: [], release: () => session.release() };
}

function sofarContender(label: string, bytes: Uint8Array, threads: number, batch: number): Contender & { runtime: BinaryRuntime } {
  const runtime = createRuntime(bytes, { threads, batch });
  return { label, runtime, infer: (x, n) => runtime.run(x, n), times: [], release: () => runtime.release(), settled: () => runtime.sampleSplit.settled };
}

/** Interleaved rounds: each contender runs `runs` times per round, in turn. */
async function race(contenders: Contender[], x: Float32Array, n: number, o: Required<Pick<RuntimeBenchOptions, 'rounds' | 'runs' | 'warmup'>>) {
  for (const c of contenders) for (let i = 0; i < o.warmup || !(c.settled?.() ?? true); i++) await c.infer(x, n);
  for (let r = 0; r < o.rounds; r++) {
    for (const c of contenders) {
      for (let i = 0; i < o.runs; i++) {
        const start = performance.now();
        await c.infer(x, n);
        c.times.push(performance.now() - start);
      }
    }
  }
  return Object.fromEntries(
    contenders.map((c) => {
      const sorted = [...c.times].sort((a, b) => a - b);
      return [c.label, { p50Ms: round3(percentile(sorted, 50)), p90Ms: round3(percentile(sorted, 90)), minMs: round3(sorted[0]), samplesPerS: round3((1000 * n) / median(c.times)), runs: c.times.length }];
    }),
  );
}

/**
 * The speed-up within each round (a contender's median over the SoFAr runtime's, both from that round), as
 * its least, median and greatest over the rounds: how far the shared machine moved during the run. The first
 * contender is SoFAr's; `times` holds each round's `runs` runs one round after another, as race() writes them.
 */
export function roundSpeedups(contenders: Pick<Contender, 'label' | 'times'>[], rounds: number, runs: number) {
  return Object.fromEntries(Object.entries(perRoundSpeedups(contenders, rounds, runs)).map(([label, xs]) => [`vs ${label}`, spread(xs)]));
}

/** Each contender's speed-up over SoFAr's runtime in each round, by label. */
function perRoundSpeedups(contenders: Pick<Contender, 'label' | 'times'>[], rounds: number, runs: number): Record<string, number[]> {
  const [sofar, ...others] = contenders.map((c) => roundMedians(c.times, rounds, runs));
  return Object.fromEntries(others.map((ms, j) => [contenders[j + 1].label, ms.map((m, r) => m / sofar[r])]));
}

/**
 * A model's issue-21 target checked on a run's rounds: 'met' where the interval of the per-round speed-up's
 * median lies at or above the target, 'missed' where it lies below, else 'within the noise'.
 */
export function targetVerdict(name: string, contenders: Pick<Contender, 'label' | 'times'>[], rounds: number, runs: number) {
  const target = TARGETS[name];
  const speedups = target && perRoundSpeedups(contenders, rounds, runs)[target.against];
  return speedups && speedupTarget(name, target.against, speedups);
}

/**
 * A model's target (TARGETS) against per-round speed-ups over one reference: met, missed or within the noise by
 * the interval of their median. Only against the reference the target names; undefined for a model without one.
 */
export function speedupTarget(model: string, referenceLabel: string, speedups: readonly number[]) {
  const target = TARGETS[model];
  if (!target || target.against !== referenceLabel) return undefined;
  return { ...target, ...targetMet(speedups, target.speedup, 'above') };
}

/**
 * Each binary conv step of a plan: its shape, time, binary MACs per second (the roofline's costing) and their
 * share of the binary peak, measured once in the run, before the first batch-1 model's layers (`sofar bench
 * --profile`'s probe: its fastest of five rounds).
 */
function binaryLayers(runtime: BinaryRuntime, stepMs: number[], binaryPeak: number) {
  const layers = [];
  for (const [i, step] of runtime.plan.steps.entries()) {
    const { shape, macs, kind } = stepCost(step);
    if (kind !== 'binary') continue;
    const rate = macs / (stepMs[i] / 1e3);
    layers.push({ step: i, shape, ms: round3(stepMs[i]), binaryGmacPerS: round3(rate / 1e9), shareOfPeak: round3(rate / binaryPeak) });
  }
  return layers;
}

/** Issue 21: every binary 3×3 conv of Bi-Real ResNet18 at batch 1 and 2 threads at least this share of the measured binary peak. */
export const CONV_SHARE_TARGET = { model: 'bireal-resnet18', share: 0.6 };

/** The 3×3 convs' least share of the peak against CONV_SHARE_TARGET. */
export function convShareVerdict(layers: { shape: string; shareOfPeak: number }[]) {
  const shares = layers.filter((l) => l.shape.startsWith('3x3')).map((l) => l.shareOfPeak);
  const least = Math.min(...shares);
  return { share: CONV_SHARE_TARGET.share, convs: shares.length, least, verdict: least >= CONV_SHARE_TARGET.share ? 'met' : 'missed' };
}

/**
 * The same reading, each round beside the peaks measured in that round: a round of the peaks' probe (the cores'
 * register-only binary rate, issue 21's "measured two-core binary peak", and `sofar bench --profile`'s binary
 * conv on its best shape, each one median of its runs) and a profile of the model, in alternating order; a
 * conv's share in a round is its rate over the round's register-only rate (the kernels' conv where the kernel
 * set has no register-only loop), and, beside it, over the round's conv. A shared machine's slow and fast
 * phases move both, where a start-up peak (the fastest of five rounds, minutes before the model's profile)
 * sets a quiet moment's rate against a busy one's. Per conv: the median over the rounds and its interval
 * (medianInterval).
 */
async function convSharesByRound(runtime: BinaryRuntime, probe: PeakProbe, rounds: number, runs: number) {
  const convs = runtime.plan.steps.map((step, i) => ({ step: i, ...stepCost(step) })).filter((c) => c.kind === 'binary' && c.shape.startsWith('3x3'));
  const shares = convs.map((): number[] => []);
  const ofKernels = convs.map((): number[] => []);
  let basis: 'register-only' | 'kernels' = 'register-only';
  for (let r = 0; r < rounds; r++) {
    const probeFirst = r % 2 === 0;
    const before = probeFirst ? probe.round() : undefined;
    const stepMs = runtime.profile(runs);
    const peaks = before ?? probe.round();
    if (!peaks.registers) basis = 'kernels';
    const ceiling = peaks.registers?.median.binary ?? peaks.kernels.binary;
    convs.forEach((c, j) => {
      const rate = c.macs / (stepMs[c.step] / 1e3);
      shares[j].push(rate / ceiling);
      ofKernels[j].push(rate / peaks.kernels.binary);
    });
  }
  const verdict = convShareByRoundVerdict(convs.map((c, j) => ({ step: c.step, shape: c.shape, shares: shares[j] })));
  const kernels = convShareByRoundVerdict(convs.map((c, j) => ({ step: c.step, shape: c.shape, shares: ofKernels[j] })));
  return { basis, ...verdict, againstKernels: { leastMedian: kernels.leastMedian, verdict: kernels.verdict, layers: kernels.layers.map((l) => ({ step: l.step, median: l.median })) } };
}

/**
 * Issue 21's conv-share target over per-round shares: met where every 3×3 conv's interval lies at or above the
 * share, missed where one lies below it, else within the noise.
 */
export function convShareByRoundVerdict(convs: { step: number; shape: string; shares: readonly number[] }[]) {
  const layers = convs.map((c) => ({ step: c.step, shape: c.shape, median: round3(median([...c.shares])), ...againstThreshold(c.shares, CONV_SHARE_TARGET.share) }));
  const verdict = layers.some((l) => l.verdict === 'below') ? 'missed' : layers.every((l) => l.verdict === 'above') ? 'met' : 'within the noise';
  return { share: CONV_SHARE_TARGET.share, convs: layers.length, leastMedian: Math.min(...layers.map((l) => l.median)), verdict, layers };
}

/** Median time of onnxruntime's Conv node (its profiler's kernel time, layout reorders included) over `runs` runs. */
async function ortConvNodeMs(bytes: Uint8Array, threads: number, x: Float32Array, runs: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'sofar-ort-profile-'));
  try {
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, enableProfiling: true, profileFilePrefix: join(dir, 'conv'), logSeverityLevel: 3 });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [1, 256, 14, 14]) };
    for (let i = 0; i < runs; i++) await session.run(feeds);
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'))!;
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat: string; name: string; dur: number }[];
    // Every node event of one run belongs to the conv (ORT splits it into layout reorders and the NCHWc conv); sum them per run.
    const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
    const perRun = nodes.length / runs;
    const sums = Array.from({ length: runs }, (_, r) => nodes.slice(r * perRun, (r + 1) * perRun).reduce((a, e) => a + e.dur, 0) / 1000);
    return median(sums.slice(Math.floor(runs / 5)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One conv layer as its own ONNX model: float Conv for onnxruntime, Sign + BinaryConv2D for the runtime. */
function singleLayer(binary: boolean, c: number, size: number): Uint8Array {
  const g = new OnnxGraph(binary ? 'bconv' : 'conv');
  const rng = new Random(1, 'bench-layer');
  const x = g.input('input', 'float32', ['batch', c, size, size]);
  const attrs = { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] };
  if (binary) {
    const bits = Uint8Array.from({ length: c * 9 * (c / 8) }, () => Math.floor(rng.uniform() * 256));
    const kernel = g.initializer('kernel', 'uint8', [c, 3, 3, c / 8], bits);
    const mul = g.initializer('multiplier', 'float32', [c], new Float32Array(c).fill(0.01));
    const signs = g.node('Sign', [x], ['signs'], {}, { domain: 'ai.sofar' });
    g.node('BinaryConv2D', [signs[0], kernel, mul], ['output'], { ...attrs, dilations: [1, 1], group: 1, pad_value: 0 }, { domain: 'ai.sofar' });
  } else {
    const w = g.initializer('kernel', 'float32', [c, c, 3, 3], Float32Array.from({ length: c * c * 9 }, () => rng.normal() * 0.05));
    g.node('Conv', [x, w], ['output'], attrs);
  }
  g.output('output', 'float32', ['batch', c, size, size]);
  return g.encode({ producerVersion: sofarVersion(), ...(binary ? { opsets: { 'ai.sofar': 1 } } : {}) });
}

export async function run(options: RuntimeBenchOptions = {}): Promise<object> {
  const root = repoRoot();
  // 11 rounds: the interval of a median is [x(2), x(8)] of them (medianInterval); 5 rounds' is their least and greatest
  const o = { threads: 2, batches: [1, 8], rounds: 11, runs: 20, warmup: 3, models: [...Object.keys(MODELS), 'layer'], ...options };
  const unknown = o.models.filter((m) => m !== 'layer' && !(m in MODELS));
  if (unknown.length) throw new Error(`bench/runtime: unknown --models ${unknown.join(', ')} (known: ${[...Object.keys(MODELS), 'layer'].join(', ')})`);
  const loadStart = loadavg();
  const floatResnet = compileSpec(root, 'resnet18-float');
  const results: object[] = [];
  let kernels = '';
  let peaks: Peaks | undefined;
  let probe: PeakProbe | undefined;
  for (const batch of o.batches) {
    const runs = Math.max(3, Math.round(o.runs / batch));
    for (const name of Object.keys(MODELS).filter((m) => o.models.includes(m))) {
      const graph = compileSpec(root, MODELS[name]);
      const weights = initWeights(graph, 0);
      const x = seededInput(graph, batch, 0);
      const sofar = sofarContender('sofar', exportOnnx(graph, weights, { binaryOps: true }), o.threads, batch);
      kernels = sofar.runtime.kernels;
      const contenders: Contender[] = [sofar, await ortContender('ort-standard', exportOnnx(graph, weights), o.threads)];
      if (!ZOO.has(name)) contenders.push(await ortContender('ort-int', exportOnnx(graph, weights, { integer: true }), o.threads));
      if (name === 'bireal-resnet18' || ZOO.has(name)) contenders.push(await ortContender('ort-float-resnet18', exportOnnx(floatResnet, initWeights(floatResnet, 0)), o.threads));
      const latency = await race(contenders, x, batch, { rounds: o.rounds, runs, warmup: o.warmup });
      const p50 = (label: string) => (latency as Record<string, { p50Ms: number }>)[label].p50Ms;
      const speedups = Object.fromEntries(contenders.slice(1).map((c) => [`vs ${c.label}`, round3(p50(c.label) / p50('sofar'))]));
      // one probe serves the start-up peaks and the conv shares' rounds
      if (batch === 1) peaks ??= await peaksOf((probe ??= await openPeakProbe('sofar', o.threads, 20)), o.threads);
      const layers = batch === 1 ? binaryLayers(sofar.runtime, sofar.runtime.profile(Math.max(5, runs)), peaks!.binaryMacsPerSecond) : undefined;
      const shareTarget = batch === 1 && name === CONV_SHARE_TARGET.model && o.threads === 2;
      const convShare = layers && shareTarget ? convShareVerdict(layers) : undefined;
      const convShareByRound = shareTarget ? await convSharesByRound(sofar.runtime, probe!, o.rounds, Math.max(5, runs)) : undefined;
      const summary = summarize(graph);
      const byRound = roundSpeedups(contenders, o.rounds, runs);
      const target = batch === 1 && o.threads === 2 ? targetVerdict(name, contenders, o.rounds, runs) : undefined;
      results.push({ model: graph.name, batch, binaryMacs: summary.macs.binary, floatMacs: summary.macs.float, plan: sofar.runtime.plan.stats, sampleSteps: sofar.runtime.sampleSteps, sampleStepCandidates: sofar.runtime.sampleSplit.candidates, latency, speedups, roundSpeedups: byRound, ...(target ? { target } : {}), ...(convShare ? { convShare } : {}), ...(convShareByRound ? { convShareByRound } : {}), ...(layers ? { binaryLayers: layers } : {}) });
      for (const c of contenders) await c.release();
      process.stderr.write(`bench/runtime: ${name} batch ${batch}: ${JSON.stringify(speedups)}, by round ${JSON.stringify(byRound)}${target ? `, target ≥ ${target.speedup}× ${target.against}: ${target.verdict} [${target.interval.low}, ${target.interval.high}]` : ''}${convShare ? `, its ${convShare.convs} 3×3 convs at ≥ ${convShare.least} of the start-up binary peak: ${convShare.verdict}` : ''}${convShareByRound ? `; beside each round's ${convShareByRound.basis} peak, at ≥ ${convShareByRound.leastMedian} (medians): ${convShareByRound.verdict} (of the kernels' best conv: ≥ ${convShareByRound.againstKernels.leastMedian}, ${convShareByRound.againstKernels.verdict})` : ''}\n`);
    }
  }
  await probe?.release();
  for (const name of Object.keys(LCE_SINGLE_THREAD).filter((m) => o.models.includes(m))) results.push(await singleThreadRow(root, name, o));
  if (o.models.includes('layer')) results.push(await layerRow(o));

  const report = {
    benchmark: 'binary-runtime',
    sofarVersion: sofarVersion(),
    kernels,
    threads: o.threads,
    protocol: `${o.warmup} warm-up runs (SoFAr's: more, until its first runs have chosen a batch's sample split), then ${o.rounds} interleaved rounds of ${o.runs}/batch timed runs per contender (A, B, C, A, B, C, ...); medians compared; speedup = onnxruntime p50 / SoFAr p50; roundSpeedups: the same ratio within each round, its min, median and max over the rounds; target (batch 1, 2 threads): issue 21's speed-up for the model, met where the distribution-free interval of the per-round speed-up's median lies at or above it, missed where below, else within the noise; peaks: the cores' register-only binary and float rates (the binary GEMM's xor + popcount + add, the float GEMM's multiply-add, 12 accumulators in registers: issue 21's measured peak) and, as peaks.kernels, SoFAr's kernels on their best shapes, each the fastest of five start-up rounds; convShare (Bi-Real ResNet18, batch 1, 2 threads): each binary 3×3 conv's rate in the model's profile over the start-up register-only binary peak; convShareByRound: the same share within each of the rounds, against a round of the peaks' probe timed beside it (alternating which runs first; the register-only loops' median call of the round), per conv the median and its interval, met where every conv's interval lies at or above the 60 % target, missed where one lies below, and againstKernels the same over the round's best-shape conv; onnxruntime sessions stop their threads spinning when a run ends (session.force_spinning_stop), so no contender runs beside another one's idle spinning threads`,
    date: new Date().toISOString(),
    machine: machine(loadStart),
    ...(peaks ? { peaks } : {}),
    results,
  };
  writeReport(o.out ?? join(root, 'bench', 'results', 'runtime.json'), report);
  return report;
}

/** A zoo model on one thread of the runtime, interleaved with its standard export on one thread of onnxruntime, beside LCE's published figures. */
async function singleThreadRow(root: string, name: string, o: Required<Pick<RuntimeBenchOptions, 'rounds' | 'runs' | 'warmup'>>) {
  const graph = compileSpec(root, MODELS[name]);
  const weights = initWeights(graph, 0);
  const contenders: Contender[] = [sofarContender('sofar', exportOnnx(graph, weights, { binaryOps: true }), 1, 1), await ortContender('ort-standard', exportOnnx(graph, weights), 1)];
  const latency = await race(contenders, seededInput(graph, 1, 0), 1, o);
  for (const c of contenders) await c.release();
  const p50 = (latency as Record<string, { p50Ms: number }>).sofar.p50Ms;
  // Issue 21: QuickNet on one thread faster than LCE's Mac mini M1 figure (another CPU), checked on the rounds
  const underMs = LCE_SINGLE_THREAD[name].macMiniM1Ms;
  const target = name === 'quicknet' ? { underMs, ...targetMet(roundMedians(contenders[0].times, o.rounds, o.runs), underMs, 'below') } : undefined;
  process.stderr.write(`bench/runtime: ${name} on one thread: ${p50} ms${target ? `, target < ${target.underMs} ms: ${target.verdict} [${target.interval.low}, ${target.interval.high}]` : ''}\n`);
  return {
    model: graph.name,
    batch: 1,
    threads: 1,
    latency,
    ...(target ? { target } : {}),
    larqComputeEngine: { ...LCE_SINGLE_THREAD[name], source: "Larq Compute Engine's published single-thread latency, batch 1, as issue 21 quotes it", note: 'other CPUs (Apple M1, Snapdragon 821, Cortex-A72) than this bench: not a like-for-like comparison' },
  };
}

/** One 3×3 binary conv 256→256 at 14×14 against onnxruntime's float conv of the same shape. */
async function layerRow(o: Required<Pick<RuntimeBenchOptions, 'threads' | 'rounds' | 'runs' | 'warmup'>>) {
  const layerInput = Float32Array.from({ length: 256 * 14 * 14 }, (_, i) => Math.sin(i));
  const layer = [sofarContender('sofar-bconv', singleLayer(true, 256, 14), o.threads, 1), await ortContender('ort-float-conv', singleLayer(false, 256, 14), o.threads)];
  const layerLatency = await race(layer, layerInput, 1, { rounds: o.rounds, runs: o.runs * 5, warmup: o.warmup * 5 });
  const lp = layerLatency as Record<string, { p50Ms: number }>;
  // The kernels alone: the runtime's bconv step, and onnxruntime's conv node from its own profiler.
  const bconvStep = (layer[0] as ReturnType<typeof sofarContender>).runtime;
  const stepMs = bconvStep.profile(200);
  const bconvMs = stepMs[bconvStep.plan.steps.findIndex((s) => s.kernel.startsWith('bconv2d'))];
  const ortConvMs = await ortConvNodeMs(singleLayer(false, 256, 14), o.threads, layerInput, 200);
  for (const c of layer) await c.release();
  return {
    layer: '3x3 conv 256→256 at 14x14, batch 1',
    macs: 256 * 256 * 9 * 14 * 14,
    latency: layerLatency,
    speedup: round3(lp['ort-float-conv'].p50Ms / lp['sofar-bconv'].p50Ms),
    kernelOnly: { sofarBconvMs: round3(bconvMs), ortConvNodeMs: round3(ortConvMs), speedup: round3(ortConvMs / bconvMs) },
  };
}

function parseArgs(argv: string[]): RuntimeBenchOptions {
  const o: RuntimeBenchOptions = {};
  const number = wholeNumber('runtime', 1);
  return parseFlags('runtime', argv, o, { keys: ['threads', 'rounds', 'runs', 'warmup'], number }, {
    '--batches': (value) => (o.batches = value().split(',').map((v) => number('--batches', v))),
    '--models': (value) => (o.models = value().split(',')),
    '--out': (value) => (o.out = value()),
  });
}

if (isMain(import.meta.url)) printReport(() => run(parseArgs(process.argv.slice(2))));
