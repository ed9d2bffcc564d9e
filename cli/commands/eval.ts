/**
 * `sofar eval SPEC|MODEL.onnx --data ...`: accuracy and mean cross-entropy on the test split, through
 * ONNX Runtime. A spec is exported with its trained weights (`--weights DIR`, default runs/<model>);
 * an ONNX model is run as it is. Images are normalised exactly as `sofar train` normalised them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { openFileOnRuntime, openSpecOnRuntime, ortLoadFailure, RUNTIMES, type BinaryRuntimeName, type OpenedBinary, type RuntimeName } from '../binary-runtime.js';
import { checkCheckpointFits, CHECKPOINT_FILE, readCheckpoint } from '../../src/checkpoint/index.js';
import { DATASET_NAMES, loadDataset } from '../../src/data/index.js';
import { evaluate } from '../../src/train/evaluate.js';
import { addSpecOptions, loadGraph, parsePositiveInt, UsageError, userFailure, withRecordedParams, type SpecFlags } from '../common.js';
import { deviceOption, inferenceProvider, type DeviceChoice } from './engines.js';

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
      .addOption(new Option('--runtime <runtime>', 'ort: onnxruntime-node on the standard export; sofar: SoFAr\'s bit-packed binary kernels (native) on the --binary-ops export; wasm: the same kernels as WebAssembly (one thread unless --threads)').choices(RUNTIMES).default('ort'))
      .option('--threads <n>', 'threads (ONNX Runtime intra-op threads; SoFAr runtime default: one per core)', parsePositiveInt('--threads'))
      .addOption(deviceOption())
      .option('--json', 'print one JSON object: accuracy, loss, samples'),
  ).action((model: string, flags: EvalFlags) => runEval(model, flags));
}

async function runEval(model: string, flags: EvalFlags): Promise<void> {
  const isOnnx = model.toLowerCase().endsWith('.onnx');
  if (isOnnx && flags.weights) throw new UsageError('--weights goes with a spec; an ONNX model carries its weights');
  if (flags.runtime !== 'ort') return evalOnSofar(model, isOnnx, flags.runtime, flags);
  const onnx = await import('../../backends/onnx/index.js');
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
      throw ortLoadFailure(model, e);
    }
    name = model;
    exported = true;
  } else {
    const { graph, checkpoint } = trainedSpec(model, flags);
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
  await report((x, n) => onnx.runOnnx(session, x, n), { input, classes, name, exported }, flags);
  await session.release();
}

/**
 * The spec's graph and its trained weights (--weights, default runs/<model>); the graph is built with
 * the --set values the checkpoint was trained with where the flags leave them out.
 */
function trainedSpec(model: string, flags: EvalFlags) {
  let weightsAt = flags.weights;
  if (!weightsAt) {
    const { graph } = loadGraph(model, flags);
    weightsAt = join('runs', graph.name);
    if (!existsSync(join(weightsAt, CHECKPOINT_FILE))) throw userFailure(`no trained weights for '${graph.name}' in ${weightsAt}`, 'pass --weights DIR (the --out folder of sofar train)');
  }
  const checkpoint = readCheckpoint(weightsAt);
  const { graph } = loadGraph(model, withRecordedParams(flags, checkpoint.meta.modelParams, `the run in ${weightsAt}`));
  checkCheckpointFits(checkpoint, graph);
  return { graph, checkpoint };
}

async function evalOnSofar(model: string, isOnnx: boolean, runtime: BinaryRuntimeName, flags: EvalFlags): Promise<void> {
  if (flags.device && flags.device !== 'cpu') throw new UsageError(`--runtime sofar runs on the CPU; --device ${flags.device} is for --runtime ort`);
  let rt: OpenedBinary;
  let name: string;
  if (isOnnx) {
    rt = await openFileOnRuntime(model, { runtime, threads: flags.threads, batch: flags.batch });
    name = model;
  } else {
    const { graph, checkpoint } = trainedSpec(model, flags);
    rt = await openSpecOnRuntime(graph, checkpoint.weights, { runtime, threads: flags.threads, batch: flags.batch, source: checkpoint.path });
    name = `${graph.name} (${checkpoint.path}, epoch ${checkpoint.meta.epoch})`;
  }
  try {
    await report(async (x, n) => rt.run(x, n), { input: rt.input, classes: rt.classes, name: `${name} on ${rt.description}`, exported: isOnnx }, flags);
  } finally {
    await rt.release();
  }
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
