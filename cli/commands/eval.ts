/**
 * `sofar eval SPEC|MODEL.onnx --data ...`: accuracy and mean cross-entropy on the test split, through
 * ONNX Runtime. A spec is exported with its trained weights (`--weights DIR`, default runs/<model>);
 * an ONNX model is run as it is. Images are normalised exactly as `sofar train` normalised them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CHECKPOINT_FILE } from '../../src/checkpoint/index.js';
import { DATASET_NAMES, loadDataset } from '../../src/data/index.js';
import { evaluate } from '../../src/train/evaluate.js';
import type { RuntimeName } from '../binary-runtime.js';
import { addSpecOptions, loadGraph, parsePositiveInt, userFailure, type SpecFlags } from '../common.js';
import type { DeviceChoice } from '../engines.js';
import { openModel } from '../models.js';
import { deviceOption, runtimeOption } from '../options.js';

interface EvalFlags extends SpecFlags {
  data: string;
  runtime: RuntimeName;
  weights?: string;
  batch: number;
  limit?: number;
  threads?: number;
  device?: DeviceChoice;
  json?: boolean;
}

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('eval')
      .description('test accuracy and loss of a trained spec or an ONNX model')
      .argument('<model>', 'a .sofar spec (with --weights) or a model.onnx')
      .option('--data <source>', `${DATASET_NAMES.join(', ')}, or a folder of IDX files or CIFAR-10 batches`, 'fashion-mnist')
      .option('--weights <dir>', 'checkpoint folder or file of a spec (default runs/<model name>)')
      .option('--batch <n>', 'samples per inference batch', parsePositiveInt('--batch'), 256)
      .option('--limit <n>', 'evaluate only the first N test samples', parsePositiveInt('--limit'))
      .addOption(runtimeOption())
      .option('--threads <n>', 'threads (ONNX Runtime intra-op threads; SoFAr runtime default: one per core)', parsePositiveInt('--threads'))
      .addOption(deviceOption())
      .option('--json', 'print one JSON object: accuracy, loss, samples'),
  ).action((model: string, flags: EvalFlags) => runEval(model, flags));
}

async function runEval(model: string, flags: EvalFlags): Promise<void> {
  const isOnnx = model.toLowerCase().endsWith('.onnx');
  const weights = isOnnx ? flags.weights : (flags.weights ?? defaultRun(model, flags));
  // Only the trained weights are evaluated: the seed and the standard export variant are fixed.
  const opened = await openModel(model, { ...flags, weights, seed: 0, pack: true, backend: 'onnx' });
  try {
    // The number of classes is the width of the logits.
    const size = opened.input.reduce((a, b) => a * b, 1);
    const classes = (await opened.run(new Float32Array(size), 1)).length;
    const name = opened.trained ? `${opened.name} (${opened.trained.path}, epoch ${opened.trained.epoch})` : model;
    await report(opened.run, { input: opened.input, classes, name: flags.runtime === 'ort' ? name : `${name} on ${opened.engine}`, exported: isOnnx }, flags);
  } finally {
    await opened.release();
  }
}

/** `runs/<model name>`, where `sofar train` keeps a spec's run unless told otherwise; refused when it holds no checkpoint. */
function defaultRun(model: string, flags: EvalFlags): string {
  const { graph } = loadGraph(model, flags);
  const dir = join('runs', graph.name);
  if (!existsSync(join(dir, CHECKPOINT_FILE))) throw userFailure(`no trained weights for '${graph.name}' in ${dir}`, 'pass --weights DIR (the --out folder of sofar train)');
  return dir;
}

/** Evaluates on the test split and prints the result. */
async function report(infer: (x: Float32Array, n: number) => Promise<Float32Array>, model: { input: number[]; classes: number; name: string; exported: boolean }, flags: EvalFlags): Promise<void> {
  const { classes, name } = model;
  const dataset = loadDataset(flags.data, model, { only: 'test', ...(flags.limit ? { testLimit: flags.limit } : {}) });
  const result = await evaluate(infer, dataset.test, classes, flags.batch);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ accuracy: result.accuracy, loss: result.loss, samples: result.samples }) + '\n');
    return;
  }
  process.stdout.write(
    `${name} on ${dataset.source}: accuracy ${(100 * result.accuracy).toFixed(2)}% (${Math.round(result.accuracy * result.samples)}/${result.samples}), loss ${result.loss.toFixed(4)}\n`,
  );
}
