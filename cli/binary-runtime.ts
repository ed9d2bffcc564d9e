/**
 * `--runtime sofar`: SoFAr's bit-packed binary runtime (backends/runtime) for `run`, `bench` and `eval`.
 * A spec is exported in memory as its `--binary-ops` variant; an ONNX file is one, or SoFAr's standard export that
 * records its graph (the runtime converts it on load).
 */
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import type { KernelSet } from '../backends/runtime/kernels.js';
import type { Peaks, Roofline } from '../backends/runtime/roofline.js';
import type { Graph, WeightMap } from '../src/graph/types.js';
import { userFailure } from './common.js';

export const RUNTIMES = ['ort', 'sofar', 'wasm'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];
/** SoFAr's own runtime on its native kernels (`sofar`) or on the WebAssembly build of them (`wasm`). */
export type BinaryRuntimeName = Exclude<RuntimeName, 'ort'>;

export interface OpenedBinary {
  input: number[];
  classes: number;
  /** `SoFAr runtime, native (avx512), 2 threads` (and the batch's sample split, once chosen) */
  readonly description: string;
  /** The threads it runs on (--threads, else its default: one per core natively, one for WebAssembly). */
  threads: number;
  /** Whether the runtime's first runs have made their choices (the batch's sample split). */
  settled(): boolean;
  loadMs: number;
  run(x: Float32Array, n: number): Float32Array;
  /** The roofline profile of the model's plan (after a run): each step's time, MACs and share of the peak. */
  roofline(reps: number): Promise<Roofline>;
  release(): Promise<void>;
}

/** Threads for the runtime: --threads, else one per available core. */
export function runtimeThreads(threads: number | undefined): number {
  return threads ?? availableParallelism();
}

export interface OpenOptions {
  runtime: BinaryRuntimeName;
  threads?: number;
  batch?: number;
}

/** A spec's graph and weights on SoFAr's runtime. */
export async function openSpecOnRuntime(graph: Graph, weights: WeightMap, o: OpenOptions & { source: string }): Promise<OpenedBinary> {
  const { exportOnnx } = await import('../backends/onnx/export.js');
  return open(exportOnnx(graph, weights, { binaryOps: true, metadata: { 'sofar.weights': o.source } }), graph.name, o);
}

/** A `--binary-ops` ONNX file on SoFAr's runtime; any other model is refused with the way out. */
export async function openFileOnRuntime(path: string, o: OpenOptions): Promise<OpenedBinary> {
  if (!existsSync(path)) throw userFailure(`no model at ${path}`);
  return open(new Uint8Array(readFileSync(path)), path, o);
}

/**
 * The kernels: the native addon, or the WebAssembly module (asked for, or where the addon could not be
 * built, with a note). Each runtime gets its own WebAssembly instance.
 */
async function kernelsFor(runtime: BinaryRuntimeName, threads: number) {
  const { loadNativeKernels, loadBundledWasmKernels } = await import('../backends/runtime/index.js');
  if (runtime === 'sofar') {
    const native = loadNativeKernels();
    if ('kernels' in native) return native.kernels;
    process.stderr.write(`note: ${native.unavailable}; using the WebAssembly kernels instead (--runtime wasm)\n`);
  }
  return loadBundledWasmKernels(threads);
}

async function open(bytes: Uint8Array, what: string, o: OpenOptions): Promise<OpenedBinary> {
  const runtime = await import('../backends/runtime/index.js');
  // WebAssembly: one thread unless asked (its threads are worker_threads sharing the module's memory).
  const threads = o.runtime === 'wasm' ? (o.threads ?? 1) : runtimeThreads(o.threads);
  const start = performance.now();
  let rt;
  const kernels = await kernelsFor(o.runtime, threads);
  // WebAssembly kernels with threads own worker threads: stopped with the runtime.
  const close = async () => kernels.close?.();
  try {
    rt = runtime.createRuntime(bytes, { threads, batch: o.batch ?? 1, kernels });
  } catch (e) {
    await close();
    if (e instanceof runtime.RuntimeModelError) {
      const other = e.otherExport;
      throw userFailure(`SoFAr's runtime cannot run ${what}: ${e.message}`,
        other ? `this is SoFAr's '${other.variant}' export, for ONNX runtimes: run it with --runtime ort, or ${runtime.CONVERT_HINT}` : "see docs/operators.md (in SoFAr's package) for what the runtime runs");
    }
    throw e;
  }
  const loadMs = performance.now() - start;
  if (rt.converted) process.stderr.write(`note: ${what}: ${rt.converted}; sofar convert MODEL.onnx --binary-ops writes that form once\n`);
  const out = rt.output;
  // The split note changes in the first runs; after release the last one is kept.
  let described = '';
  const describe = () => (rt.released ? described : (described = `SoFAr runtime, ${rt.kernels}, ${threads} thread${threads === 1 ? '' : 's'}${splitNote(rt.sampleSplit, rt.plan.steps.length)}`));
  return {
    input: rt.input,
    classes: out.reduce((a, b) => a * b, 1),
    get description() {
      return describe();
    },
    settled: () => rt.sampleSplit.settled,
    threads,
    loadMs,
    run: (x, n) => rt.run(x, n),
    roofline: async (reps) => {
      const { roofline } = await import('../backends/runtime/roofline.js');
      const stepMs = rt.profile(reps);
      const { plan, samples } = rt.profiled;
      return roofline(plan, stepMs, await measurePeaks(o.runtime, threads, reps), samples);
    },
    release: async () => {
      describe();
      rt.release();
      await close();
    },
  };
}

/** How a batch's steps run, as `sofar bench` says it: nothing at batch 1 or where no split is possible. */
function splitNote(split: { steps: number; candidates: readonly number[]; settled: boolean }, steps: number): string {
  const { candidates } = split;
  const how = (k: number) => (k === 0 ? 'every step over the whole batch' : k === steps ? 'every step one sample at a time' : `its first ${k} of ${steps} steps one sample at a time`);
  if (candidates.length === 1) return split.steps > 0 ? `, ${how(split.steps)}` : '';
  const tried = `the fastest of ${candidates.join(', ')} in its first runs`;
  if (!split.settled) return `, trying its first ${candidates.join(', ')} of ${steps} steps one sample at a time`;
  return `, ${how(split.steps)} (${tried})`;
}

/** Rounds of the peaks' probe; the fastest counts (see measurePeaks). */
const PEAK_ROUNDS = 5;
/** Least milliseconds a round of the probe lasts: longer than a shared machine's slow phases. */
const PEAK_ROUND_MS = 25;
/** Milliseconds between rounds, so that no two rounds fall in the same phase. */
const PEAK_PAUSE_MS = 10;
/**
 * Milliseconds one call of a register-only loop lasts, about (its iterations are set from a first call): short,
 * as the probe's conv runs are, so that calls fit between another tenant's time slices on a shared machine.
 * With three busy processes on 2 vCPUs, calls of 1 ms read one core's rate at best (1,225 G MAC/s against
 * 2,450 quiet) while the conv's shorter runs still caught both cores, which failed the roofline test in CI;
 * calls of 0.25 ms read 2,386–2,438 there, and 2,444 against 2,450 quiet.
 */
const REGISTER_CALL_MS = 0.25;
/** Tasks a register-only call is cut into, per thread: a late thread's share is taken by the others. */
const REGISTER_TASKS_PER_THREAD = 4;

/**
 * The peaks on this machine, measured now at the given threads: the ceilings — the register-only rates of
 * the binary and float GEMMs' inner steps (sofar_register_peak: xor, popcount and add; multiply-add; 12
 * independent accumulators in registers), what issue 21 calls the cores' peak — and, beside them, what
 * SoFAr's kernels reach on their best-blocked shapes (a binary 3×3 conv 512 → 512 at 14×14, a float 1×1
 * conv 256 → 512 at 14×14) on a kernel set of their own. Each the fastest of PEAK_ROUNDS rounds, each round
 * the median of the convs' runs and the fastest of the loops' calls (registerLoops): on a shared machine a
 * round's median can fall to one core's rate (its second
 * thread descheduled for a few milliseconds: measured on 2 vCPUs, one round in five at 57.7 G float MAC/s
 * against 107–113), and a peak from that round put a stem at 110 % of it. Each round lasts at least
 * PEAK_ROUND_MS and rounds are PEAK_PAUSE_MS apart: a probe of 10 runs a round (~13 ms in all) once fell
 * wholly inside such a phase, all five rounds at one core's rate, and put XNOR-Net's convs at 144–170 %.
 * Kernel sets without register-only loops (the WebAssembly build) take the kernels' rates as the ceilings.
 */
export async function measurePeaks(runtimeName: BinaryRuntimeName, threads: number, reps: number): Promise<Peaks> {
  const probe = await openPeakProbe(runtimeName, threads, reps);
  try {
    return await peaksOf(probe, threads);
  } finally {
    await probe.release();
  }
}

/** measurePeaks on a probe already open (kept for rounds of its own afterwards). */
export async function peaksOf(probe: PeakProbe, threads: number): Promise<Peaks> {
  const { peakRate } = await import('../backends/runtime/roofline.js');
  const rounds: PeakRound[] = [];
  for (let r = 0; r < PEAK_ROUNDS; r++) {
    if (r > 0) await new Promise((resolve) => setTimeout(resolve, PEAK_PAUSE_MS));
    rounds.push(probe.round());
  }
  const kernels = { binaryMacsPerSecond: peakRate(rounds.map((r) => r.kernels.binary)), floatMacsPerSecond: peakRate(rounds.map((r) => r.kernels.float)) };
  const at = `at ${threads} thread${threads === 1 ? '' : 's'}, measured at start-up (the fastest of ${PEAK_ROUNDS} rounds)`;
  const registers = rounds.every((r) => r.registers) ? rounds.map((r) => r.registers!) : undefined;
  if (!registers) return { ...kernels, basis: 'kernels', kernels, method: `SoFAr's kernels on ideal shapes ${at}: ${PEAK_SHAPES} (this kernel set has no register-only loops)` };
  return {
    binaryMacsPerSecond: peakRate(registers.map((r) => r.fastest.binary)),
    floatMacsPerSecond: peakRate(registers.map((r) => r.fastest.float)),
    basis: 'register-only',
    kernels,
    method: `the cores' register-only rates ${at}: ${REGISTER_STEPS}; beside them SoFAr's kernels on ${PEAK_SHAPES}`,
  };
}

/**
 * One round of the peaks' probe, MACs a second: the kernels' (each conv's median run) and the register-only
 * loops' (their median call, beside a round of something else in the same phase of the machine; and their
 * fastest, for a peak: see registerLoops).
 */
export interface PeakRound {
  kernels: { binary: number; float: number };
  /** Absent where the kernel set has no register-only loops. */
  registers?: { median: { binary: number; float: number }; fastest: { binary: number; float: number } };
}

/** The peaks' probe, open: a round of it timed now. */
export interface PeakProbe {
  round(): PeakRound;
  release(): Promise<void>;
}

/** The shapes the probe's kernels run (measurePeaks). */
export const PEAK_SHAPES = 'binary 3x3 512→512 at 14x14, float 1x1 256→512 at 14x14';
/** The register-only loops' steps (native/src/peak.c). */
const REGISTER_STEPS = "the binary GEMM's xor + popcount + add and the float GEMM's multiply-add, 12 accumulators in registers";

/**
 * The peaks' probe (measurePeaks' convs on a kernel set of its own, and its register-only loops), kept open
 * so that a caller can time a round of it beside each round of something else: a round runs each conv and
 * each loop for at least PEAK_ROUND_MS (and the convs `reps` runs).
 */
export async function openPeakProbe(runtimeName: BinaryRuntimeName, threads: number, reps: number): Promise<PeakProbe> {
  const [{ GraphBuilder }, { initWeights }, { exportOnnx }, runtime, { stepCost }, { percentile }] = await Promise.all([
    import('../src/graph/builder.js'),
    import('../src/weights/init.js'),
    import('../backends/onnx/export.js'),
    import('../backends/runtime/index.js'),
    import('../backends/runtime/roofline.js'),
    import('../backends/onnx/timing.js'),
  ]);
  const b = new GraphBuilder({ name: 'peak_probe', input: [256, 14, 14], classes: 10, binarize: { activations: 'ste_sign', weights: 'ste_sign' } });
  let x = b.conv(b.input(), { filters: 512, kernel: 1 });
  x = b.bconv(b.batchnorm(x), { filters: 512, kernel: 3 });
  const graph = b.finish(b.dense(b.globalAvgpool(x), { units: 10 }));
  const kernels = await kernelsFor(runtimeName, threads);
  const probe = runtime.createRuntime(exportOnnx(graph, initWeights(graph, 0), { binaryOps: true }), { threads, kernels });
  const release = async () => {
    probe.release();
    await kernels.close?.();
  };
  try {
    const input = new Float32Array(256 * 14 * 14).map((_, i) => Math.sin(i));
    probe.run(input, 1);
    const start = performance.now();
    probe.run(input, 1);
    const perRound = Math.max(reps, 10, Math.ceil(PEAK_ROUND_MS / Math.max(performance.now() - start, 1e-3)));
    const step = (kind: 'binary' | 'float') => {
      const i = probe.plan.steps.findIndex((s) => stepCost(s).kind === kind);
      return { i, macs: stepCost(probe.plan.steps[i]).macs };
    };
    const binary = step('binary'), float = step('float');
    const loops = registerLoops(kernels, threads);
    const round = (): PeakRound => {
      const ms = probe.profile(perRound);
      const conv = { binary: binary.macs / (ms[binary.i] / 1e3), float: float.macs / (ms[float.i] / 1e3) };
      if (!loops) return { kernels: conv };
      const binaryCalls = loops.rates(0), floatCalls = loops.rates(1);
      const median = (rates: number[]) => percentile([...rates].sort((a, b) => a - b), 50);
      return { kernels: conv, registers: { median: { binary: median(binaryCalls), float: median(floatCalls) }, fastest: { binary: Math.max(...binaryCalls), float: Math.max(...floatCalls) } } };
    };
    return { round, release };
  } catch (e) {
    await release();
    throw e;
  }
}

/**
 * The kernel set's register-only loops at `threads` threads, or undefined where it has none: rates(kind) runs
 * calls of about REGISTER_CALL_MS for at least PEAK_ROUND_MS and gives each call's MACs a second. A loop of
 * register operations cannot run faster than the cores do, so the fastest call is the best reading of their
 * peak (a shared machine's slow phases only lower calls): a median of 5 ms calls read half the rate under
 * another process's load while the convs' short runs still caught whole windows, and put them above it. The
 * median call is the rate of the moment, to set against a profile taken in the same phase.
 */
function registerLoops(kernels: KernelSet, threads: number) {
  const registerPeak = kernels.registerPeak?.bind(kernels);
  if (!registerPeak) return undefined;
  const tasks = threads * REGISTER_TASKS_PER_THREAD;
  const timed = (kind: 0 | 1, iterations: number) => {
    kernels.setThreads(threads);
    const start = performance.now();
    const macs = registerPeak(kind, iterations, tasks);
    return { macs, ms: performance.now() - start };
  };
  // iterations for a call of about REGISTER_CALL_MS, from a call of a known length; 0 where the call does nothing
  const iterationsFor = (kind: 0 | 1) => {
    const first = timed(kind, 20000);
    return first.macs > 0 ? Math.max(1000, Math.round((20000 * REGISTER_CALL_MS) / Math.max(first.ms, 1e-3))) : 0;
  };
  const iterations = [iterationsFor(0), iterationsFor(1)];
  if (!iterations[0] || !iterations[1]) return undefined; // a build whose instruction set has no loop
  return {
    rates(kind: 0 | 1): number[] {
      const rates: number[] = [];
      for (let spent = 0; spent < PEAK_ROUND_MS || rates.length < 3; ) {
        const { macs, ms } = timed(kind, iterations[kind]);
        rates.push(macs / (ms / 1e3));
        spent += ms;
      }
      return rates;
    },
  };
}

/** onnxruntime refused a model; a `--binary-ops` model is SoFAr's runtime's to run. */
export function ortLoadFailure(path: string, e: unknown) {
  const message = (e as Error).message.split('\n')[0];
  const binaryOps = message.includes('ai.sofar');
  return userFailure(`ONNX Runtime cannot load ${path}: ${message}`, binaryOps ? 'this is a --binary-ops model: run it with --runtime sofar' : undefined);
}
