/**
 * `sofar bench SPEC|MODEL.onnx [--batch N] [--threads N] [--runs N] [--warmup N] [--int] [--no-pack]`:
 * ONNX Runtime session load time, then latency p50 / p90 and throughput over warm runs on a seeded batch.
 */
import type { Command } from 'commander';
import type { RuntimeName } from '../binary-runtime.js';
import { addSpecOptions, parseNonNegativeInt, parsePositiveInt, type SpecFlags } from '../common.js';
import type { DeviceChoice } from '../engines.js';
import { openModel, seededBatch, type VariantFlags, type WeightFlags } from '../models.js';
import { deviceOption, runtimeOption } from '../options.js';

interface BenchFlags extends SpecFlags, WeightFlags, VariantFlags {
  batch: number;
  runtime: RuntimeName;
  threads?: number;
  device?: DeviceChoice;
  runs: number;
  warmup: number;
  json?: boolean;
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
      .option('--warmup <n>', 'untimed runs first', parseNonNegativeInt('--warmup'), 5)
      .option('--seed <n>', 'seed of the input (and of the weights of a spec)', parseNonNegativeInt('--seed'), 0)
      .option('--weights <dir>', 'trained weights of a spec: a checkpoint folder or .safetensors file')
      .option('--int', 'binary layers as ConvInteger / MatMulInteger (spec only)')
      .option('--no-pack', 'binary kernels stored unpacked (spec only)')
      .option('--json', 'print one JSON object'),
  ).action(async (model: string, flags: BenchFlags) => {
    const { timeCalls } = await import('../../backends/onnx/timing.js');
    const opened = await openModel(model, { ...flags, backend: 'onnx' });
    const x = seededBatch(opened.input, flags.batch, flags.seed);
    const stats = await timeCalls(opened.run, x, flags.batch, { warmup: flags.warmup, runs: flags.runs });
    await opened.release();
    const threads = flags.threads ?? 'default';
    if (flags.json) {
      process.stdout.write(JSON.stringify({ model: opened.name, runtime: opened.runtime, threads, loadMs: opened.loadMs, ...stats }) + '\n');
      return;
    }
    const ms = (v: number) => `${v.toFixed(2)} ms`;
    process.stdout.write(
      [
        `${opened.name} on ${opened.runtime}, threads ${threads}, batch ${flags.batch}`,
        `  load        ${ms(opened.loadMs)}`,
        `  latency     p50 ${ms(stats.p50Ms)}, p90 ${ms(stats.p90Ms)}, mean ${ms(stats.meanMs)} (${stats.runs} runs after ${stats.warmup} warm-up)`,
        `  throughput  ${stats.throughput.toFixed(1)} samples/s`,
      ].join('\n') + '\n',
    );
  });
}
