/**
 * `sofar bench SPEC|MODEL.onnx [--batch N] [--threads N] [--runs N] [--warmup N] [--int] [--no-pack]`:
 * ONNX Runtime session load time, then latency p50 / p90 and throughput over warm runs on a seeded batch.
 */
import type { Command } from 'commander';
import type { RuntimeName } from '../binary-runtime.js';
import type { Roofline } from '../../backends/runtime/roofline.js';
import { addSpecOptions, parseNonNegativeInt, parsePositiveInt, UsageError, type SpecFlags } from '../common.js';
import type { DeviceChoice } from '../engines.js';
import { openModel, seededBatch, type VariantFlags, type WeightFlags } from '../models.js';
import { describeCpu, machineRecord } from '../machine.js';
import { deviceOption, runtimeOption } from '../options.js';

interface BenchFlags extends SpecFlags, WeightFlags, VariantFlags {
  batch: number;
  runtime: RuntimeName;
  threads?: number;
  device?: DeviceChoice;
  runs: number;
  warmup: number;
  json?: boolean;
  profile?: boolean;
}

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('bench')
      .description('load time, latency p50/p90 and throughput over warm runs (ONNX Runtime or SoFAr\'s binary runtime)')
      .argument('<model>', 'a .sofar spec or a model.onnx')
      .option('--batch <n>', 'samples per inference', parsePositiveInt('--batch'), 1)
      .addOption(runtimeOption())
      .option('--threads <n>', 'threads (default: one per core)', parsePositiveInt('--threads'))
      .addOption(deviceOption())
      .option('--runs <n>', 'timed runs', parsePositiveInt('--runs'), 50)
      .option('--warmup <n>', 'untimed runs first (more on SoFAr\'s runtime until its first runs have chosen a batch\'s sample split)', parseNonNegativeInt('--warmup'), 5)
      .option('--seed <n>', 'seed of the input (and of the weights of a spec)', parseNonNegativeInt('--seed'), 0)
      .option('--weights <dir>', 'trained weights of a spec: a checkpoint folder or .safetensors file')
      .option('--int', 'binary layers as ConvInteger / MatMulInteger (spec only)')
      .option('--no-pack', 'binary kernels stored unpacked (spec only)')
      .option('--profile', "SoFAr's runtime: each step's operation, shape, time, MACs and share of the cores' peak (their register-only rates, measured at start-up), and the model's limit")
      .option('--json', 'print one JSON object'),
  ).action(async (model: string, flags: BenchFlags) => {
    if (flags.profile && flags.runtime === 'ort') throw new UsageError('--profile measures the steps of SoFAr\'s runtime', 'add --runtime sofar (or wasm)');
    const { timeCalls } = await import('../../backends/onnx/timing.js');
    const opened = await openModel(model, { ...flags, backend: 'onnx' });
    const x = seededBatch(opened.input, flags.batch, flags.seed);
    const stats = await timeCalls(opened.run, x, flags.batch, { warmup: flags.warmup, runs: flags.runs, settled: opened.settled });
    const profile = flags.profile ? await opened.roofline!(flags.runs) : undefined;
    await opened.release();
    // SoFAr's runtime knows its threads (and names them in its description); onnxruntime picks its own.
    const threads = opened.threads ?? flags.threads ?? 'default';
    if (flags.json) {
      process.stdout.write(JSON.stringify({ model: opened.name, runtime: opened.runtime, threads, loadMs: opened.loadMs, ...stats, ...(profile ? { profile: rooflineJson(profile) } : {}), machine: machineRecord() }) + '\n');
      return;
    }
    // a roofline means something only beside the CPU it was measured on
    if (profile) process.stdout.write(`on ${describeCpu()}\n${formatRoofline(profile)}\n`);
    const ms = (v: number) => `${v.toFixed(2)} ms`;
    process.stdout.write(
      [
        `${opened.name} on ${opened.runtime}${opened.threads === undefined ? `, threads ${threads}` : ''}, batch ${flags.batch}`,
        `  load        ${ms(opened.loadMs)}`,
        `  latency     p50 ${ms(stats.p50Ms)}, p90 ${ms(stats.p90Ms)}, mean ${ms(stats.meanMs)} (${stats.runs} runs after ${stats.warmup} warm-up)`,
        `  throughput  ${stats.throughput.toFixed(1)} samples/s`,
      ].join('\n') + '\n',
    );
  });
}

const round = (x: number, digits = 4) => Number(x.toPrecision(digits));

/** The profile as `--json` gives it: shares under names that say what they are shares of. */
function rooflineJson(r: Roofline) {
  const share = (x: number | null) => (x === null ? null : round(x, 3));
  const registers = r.peaks.basis === 'register-only';
  return {
    steps: r.steps.map((s) => ({ step: s.step, kernel: s.kernel, shape: s.shape, ms: round(s.ms), macs: s.macs, kind: s.kind, macsPerSecond: round(s.macsPerSecond), shareOfRegisterPeak: registers ? share(s.shareOfPeak) : null, shareOfKernelPeak: share(s.shareOfKernelPeak) })),
    totalStepsMs: round(r.totalMs),
    binaryMacs: r.binaryMacs,
    floatMacs: r.floatMacs,
    limitMs: round(r.limitMs),
    shareOfLimit: round(r.shareOfLimit, 3),
    peaks: {
      basis: r.peaks.basis,
      binaryMacsPerSecond: round(r.peaks.binaryMacsPerSecond),
      floatMacsPerSecond: round(r.peaks.floatMacsPerSecond),
      ...(r.peaks.kernels ? { kernels: { binaryMacsPerSecond: round(r.peaks.kernels.binaryMacsPerSecond), floatMacsPerSecond: round(r.peaks.kernels.floatMacsPerSecond) } } : {}),
      method: r.peaks.method,
    },
  };
}

/** A table of the steps, then the model's total against its limit. */
function formatRoofline(r: Roofline): string {
  const g = (x: number) => (x / 1e9).toFixed(1);
  const p = r.peaks, k = p.kernels;
  const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(0)}%`;
  const lines = [
    `peaks (${p.basis === 'register-only' ? "the cores' register-only rates" : "SoFAr's kernels on ideal shapes"}): binary ${g(p.binaryMacsPerSecond)} G MAC/s, float ${g(p.floatMacsPerSecond)} G MAC/s`,
    ...(k && p.basis === 'register-only' ? [`SoFAr's kernels on ideal shapes reach binary ${g(k.binaryMacsPerSecond)} (${pct(k.binaryMacsPerSecond, p.binaryMacsPerSecond)}), float ${g(k.floatMacsPerSecond)} (${pct(k.floatMacsPerSecond, p.floatMacsPerSecond)})`] : []),
    `(${p.method})`,
    '',
    ' step  kernel                 shape                              ms      MACs      G MAC/s  of peak',
  ];
  for (const s of r.steps) {
    const macs = s.macs ? s.macs.toExponential(2) : '';
    const rate = s.macs ? g(s.macsPerSecond) : '';
    const share = s.shareOfPeak === null ? '' : `${(100 * s.shareOfPeak).toFixed(0)}% ${s.kind}`;
    lines.push(`${String(s.step).padStart(5)}  ${s.kernel.padEnd(22)} ${s.shape.padEnd(32)} ${s.ms.toFixed(3).padStart(8)} ${macs.padStart(9)} ${rate.padStart(10)}  ${share}`);
  }
  lines.push('', `total ${r.totalMs.toFixed(3)} ms for ${r.binaryMacs.toExponential(3)} binary and ${r.floatMacs.toExponential(3)} float MACs; limit at the peaks ${r.limitMs.toFixed(3)} ms: ${(100 * r.shareOfLimit).toFixed(0)}% of the limit`);
  return lines.join('\n');
}
