/**
 * `sofar eval SPEC|MODEL.onnx --data ...`: accuracy and mean cross-entropy on the test split, through
 * ONNX Runtime. A spec is exported with its trained weights (`--weights DIR`, default runs/<model>);
 * an ONNX model is run as it is. Images are normalised exactly as `sofar train` normalised them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { checkCheckpointFits, CHECKPOINT_FILE, readCheckpoint } from '../../src/checkpoint/index.js';
import { DATASET_NAMES, loadDataset } from '../../src/data/index.js';
import { SofarError } from '../../src/diagnostics.js';
import { evaluate } from '../../src/train/evaluate.js';
import { addSpecOptions, loadGraph, parsePositiveInt, UsageError, userFailure, UserError, type SpecFlags } from '../common.js';
import { deviceOption, inferenceProvider, type DeviceChoice } from './engines.js';

interface EvalFlags extends SpecFlags {
  data: string;
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
      .option('--limit <n>', 'evaluate the test share that goes with N training samples (as train --limit)', parsePositiveInt('--limit'))
      .option('--threads <n>', 'ONNX Runtime intra-op threads', parsePositiveInt('--threads'))
      .addOption(deviceOption())
      .option('--json', 'print one JSON object: accuracy, loss, samples'),
  ).action(async (model: string, flags: EvalFlags) => {
    try {
      await runEval(model, flags);
    } catch (e) {
      if (e instanceof SofarError) throw new UserError(e.diagnostics);
      throw e;
    }
  });
}

async function runEval(model: string, flags: EvalFlags): Promise<void> {
  const onnx = await import('../../backends/onnx/index.js');
  const isOnnx = model.toLowerCase().endsWith('.onnx');
  if (isOnnx && flags.weights) throw new UsageError('--weights goes with a spec; an ONNX model carries its weights');
  let session: Awaited<ReturnType<typeof onnx.createSession>>;
  let name: string;
  let exported = false;
  const { provider } = await inferenceProvider(flags.device);
  const sessionOptions = { ...(flags.threads ? { threads: flags.threads } : {}), provider };
  if (isOnnx) {
    if (!existsSync(model)) throw userFailure(`no model at ${model}`);
    try {
      session = await onnx.createSession(model, sessionOptions);
    } catch (e) {
      throw userFailure(`ONNX Runtime cannot load ${model}: ${(e as Error).message.split('\n')[0]}`);
    }
    name = model;
    exported = true;
  } else {
    const { graph } = loadGraph(model, flags);
    const weightsAt = flags.weights ?? join('runs', graph.name);
    if (!flags.weights && !existsSync(join(weightsAt, CHECKPOINT_FILE))) {
      throw userFailure(`no trained weights for '${graph.name}' in ${weightsAt}`, 'pass --weights DIR (the --out folder of sofar train)');
    }
    const checkpoint = readCheckpoint(weightsAt);
    checkCheckpointFits(checkpoint, graph);
    session = await onnx.createSession(onnx.exportOnnx(graph, checkpoint.weights), sessionOptions);
    name = `${graph.name} (${checkpoint.path}, epoch ${checkpoint.meta.epoch})`;
  }

  let input: number[];
  try {
    input = onnx.sessionInputShape(session);
  } catch (e) {
    throw userFailure(`${model}: ${(e as Error).message}`);
  }
  const size = input.reduce((a, b) => a * b, 1);
  // The number of classes is the width of the logits.
  const classes = (await onnx.runOnnx(session, new Float32Array(size), 1)).length;
  const dataset = loadDataset(flags.data, { input, classes, name, exported }, { only: 'test', ...(flags.limit ? { limit: flags.limit } : {}) });
  const result = await evaluate((x, n) => onnx.runOnnx(session, x, n), dataset.test, classes, flags.batch);
  await session.release();
  if (flags.json) {
    process.stdout.write(JSON.stringify({ accuracy: result.accuracy, loss: result.loss, samples: result.samples }) + '\n');
    return;
  }
  process.stdout.write(
    `${name} on ${dataset.source}: accuracy ${(100 * result.accuracy).toFixed(2)}% (${Math.round(result.accuracy * result.samples)}/${result.samples}), loss ${result.loss.toFixed(4)}\n`,
  );
}
