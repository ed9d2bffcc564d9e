/**
 * `sofar run SPEC|MODEL.onnx [--backend onnx|tfjs] [--batch N] [--seed N] [--input FILE] [--json]`:
 * one inference on an input drawn from the seed (or read from a .npy array or an image), printing the
 * logits. A spec runs with weights from the same seed (or --weights), so every backend prints the
 * same numbers.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { Option, type Command } from 'commander';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { readInputFile } from '../../src/io/input-file.js';
import { seededInput } from '../../src/weights/init.js';
import type { InferenceSession } from '../../backends/onnx/index.js';
import { addSpecOptions, loadGraph, parseNonNegativeInt, parsePositiveInt, UsageError, userFailure, type SpecFlags } from '../common.js';
import { asUserErrors, describeVariant, exportModel, specWeights, type VariantFlags, type WeightFlags } from './build.js';
import { openFileOnRuntime, openSpecOnRuntime, ortLoadFailure, RUNTIMES, type BinaryRuntimeName, type RuntimeName } from '../binary-runtime.js';
import { deviceOption, inferenceProvider, type DeviceChoice } from './engines.js';

interface RunFlags extends SpecFlags, WeightFlags, VariantFlags {
  backend: 'onnx' | 'tfjs';
  runtime: RuntimeName;
  batch?: number;
  input?: string;
  threads?: number;
  json?: boolean;
}

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('run')
      .description('run one inference and print the logits (input drawn from the seed, or --input FILE)')
      .argument('<model>', 'a .sofar spec or a model.onnx')
      .addOption(new Option('--backend <backend>', 'the runtime for a spec').choices(['onnx', 'tfjs']).default('onnx'))
      .addOption(runtimeOption())
      .option('--batch <n>', 'samples drawn from the seed (default 1)', parsePositiveInt('--batch'))
      .option('--seed <n>', 'seed of the input and of the initial weights', parseNonNegativeInt('--seed'), 0)
      .option('--input <file>', 'a .npy array ([N,C,H,W], [C,H,W] or [H,W]) or a PNG / JPEG of the model input size')
      .option('--weights <dir>', 'trained weights of a spec: a checkpoint folder or .safetensors file')
      .option('--threads <n>', 'threads (ONNX Runtime intra-op threads; SoFAr runtime default: one per core)', parsePositiveInt('--threads'))
      .addOption(deviceOption())
      .option('--int', 'binary layers as ConvInteger / MatMulInteger (onnx backend, spec only)')
      .option('--no-pack', 'binary kernels stored unpacked (onnx backend, spec only)')
      .option('--json', 'print { "output": number[][] }'),
  ).action((model: string, flags: RunFlags) => asUserErrors(() => runCommand(model, flags)));
}

async function runCommand(target: string, flags: RunFlags): Promise<void> {
  if (flags.input && flags.batch !== undefined) throw new UsageError('--batch goes with a seeded input; --input gives its own batch');
  const opened = await openModel(target, { ...flags, batch: flags.batch ?? 1 });
  const { x, n } = flags.input ? readInputFile(flags.input, opened.input) : { x: seededBatch(opened.input, flags.batch ?? 1, flags.seed), n: flags.batch ?? 1 };
  const logits = await opened.run(x, n);
  await opened.release();
  const classes = logits.length / n;
  const rows = Array.from({ length: n }, (_, i) => Array.from(logits.subarray(i * classes, (i + 1) * classes)));
  if (flags.json) {
    process.stdout.write(JSON.stringify({ output: rows }) + '\n');
    return;
  }
  const from = flags.input ? `input ${flags.input}` : `seeded input, seed ${flags.seed}`;
  process.stdout.write(`${opened.name} on ${opened.runtime}, ${from}: logits [${n}, ${classes}]\n`);
  rows.forEach((row, i) => process.stdout.write(`${formatRow(row, i)}\n`));
}

/** A model ready to run: a spec exported in memory, an ONNX file, or a spec in TensorFlow.js. */
export interface OpenedModel {
  name: string;
  runtime: string;
  /** Per-sample input shape `[C, H, W]`. */
  input: number[];
  /** Milliseconds spent creating the runtime session (ONNX only). */
  loadMs: number;
  session?: InferenceSession;
  run(x: Float32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface OpenFlags extends SpecFlags, WeightFlags, VariantFlags {
  backend?: 'onnx' | 'tfjs';
  runtime?: RuntimeName;
  threads?: number;
  device?: DeviceChoice;
  /** Samples per run (sizes SoFAr runtime's buffers up front). */
  batch?: number;
}

/** `--runtime ort|sofar`, shared by run, bench and eval. */
export function runtimeOption(): Option {
  return new Option('--runtime <runtime>', 'ort: onnxruntime-node on the standard export; sofar: SoFAr\'s bit-packed binary kernels (native) on the --binary-ops export; wasm: the same kernels as WebAssembly, 1 thread').choices(RUNTIMES).default('ort');
}

export async function openModel(target: string, flags: OpenFlags): Promise<OpenedModel> {
  if (flags.runtime === 'sofar' || flags.runtime === 'wasm') return openOnSofar(target, { ...flags, runtime: flags.runtime });
  const onnx = await import('../../backends/onnx/index.js');
  const { provider, label } = flags.backend === 'tfjs' ? { provider: 'cpu' as const, label: 'CPU' } : await inferenceProvider(flags.device);
  const sessionOptions = { ...(flags.threads ? { threads: flags.threads } : {}), provider };
  const onDevice = provider === 'webgpu' ? ` on ${label}` : '';
  if (target.toLowerCase().endsWith('.onnx')) {
    if (flags.weights) throw new UsageError('--weights goes with a spec; an ONNX model carries its weights');
    if (flags.set?.length || flags.model) throw new UsageError('--set and --model go with a spec; an ONNX model is fixed', 'give the .sofar file to change its parameters');
    if (flags.backend === 'tfjs') throw new UsageError('--backend tfjs runs a spec, not an ONNX model', `run the spec itself: sofar run SPEC --backend tfjs`);
    if (flags.int || !flags.pack) throw new UsageError('--int and --no-pack choose how a spec is exported; an ONNX model is run as it is');
    if (!existsSync(target)) throw userFailure(`no model at ${target}`);
    let loaded;
    try {
      loaded = await onnx.timedLoad(target, sessionOptions);
    } catch (e) {
      throw ortLoadFailure(target, e);
    }
    const session = loaded.session;
    let input: number[];
    try {
      input = onnx.sessionInputShape(session);
    } catch (e) {
      throw userFailure(`${target}: ${(e as Error).message}`);
    }
    return { name: basename(target), runtime: `onnxruntime-node${onDevice}`, input, loadMs: loaded.loadMs, session, run: (x, n) => onnx.runOnnx(session, x, n), release: () => session.release() };
  }
  const { graph } = loadGraph(target, flags);
  const { weights, source } = specWeights(graph, flags);
  if (flags.backend === 'tfjs') {
    if (flags.int || !flags.pack) throw new UsageError('--int and --no-pack are ONNX export variants; drop them with --backend tfjs');
    const { run: runTfjs, device } = await loadTfjs(flags.device);
    return { name: graph.name, runtime: `TensorFlow.js on ${device} (weights: ${source})`, input: graph.input, loadMs: 0, run: (x, n) => runTfjs(graph, weights, x, n), release: async () => {} };
  }
  const loaded = await onnx.timedLoad(await exportModel(graph, weights, flags, source), sessionOptions);
  const session = loaded.session;
  return {
    name: graph.name,
    runtime: `onnxruntime-node${onDevice} (${describeVariant(flags, graph)}; weights: ${source})`,
    input: graph.input,
    loadMs: loaded.loadMs,
    session,
    run: (x, n) => onnx.runOnnx(session, x, n),
    release: () => session.release(),
  };
}

/** SoFAr's runtime: a spec as its --binary-ops variant, or a --binary-ops ONNX file. */
async function openOnSofar(target: string, flags: OpenFlags & { runtime: BinaryRuntimeName }): Promise<OpenedModel> {
  if (flags.backend === 'tfjs') throw new UsageError('--runtime sofar runs ONNX models; --backend tfjs is another runtime', 'drop one of them');
  if (flags.int || !flags.pack) throw new UsageError('--int and --no-pack are variants of the standard export; --runtime sofar runs the --binary-ops variant');
  if (flags.device && flags.device !== 'cpu') throw new UsageError(`--runtime sofar runs on the CPU; --device ${flags.device} is for --runtime ort`);
  const o = { runtime: flags.runtime, threads: flags.threads, batch: flags.batch };
  if (target.toLowerCase().endsWith('.onnx')) {
    if (flags.weights) throw new UsageError('--weights goes with a spec; an ONNX model carries its weights');
    if (flags.set?.length || flags.model) throw new UsageError('--set and --model go with a spec; an ONNX model is fixed', 'give the .sofar file to change its parameters');
    const rt = await openFileOnRuntime(target, o);
    return { name: basename(target), runtime: rt.description, input: rt.input, loadMs: rt.loadMs, run: async (x, n) => rt.run(x, n), release: async () => rt.release() };
  }
  const { graph } = loadGraph(target, flags);
  const { weights, source } = specWeights(graph, flags);
  const rt = await openSpecOnRuntime(graph, weights, { ...o, source });
  return { name: graph.name, runtime: `${rt.description} (weights: ${source})`, input: graph.input, loadMs: rt.loadMs, run: async (x, n) => rt.run(x, n), release: async () => rt.release() };
}

/**
 * The TensorFlow.js backend's inference on the best tfjs package installed (tfjs-node-gpu, tfjs-node,
 * then pure JS with a warning), loaded only when asked for so that ONNX-only use never loads tfjs.
 */
async function loadTfjs(device: DeviceChoice = 'auto'): Promise<{ run: (graph: Graph, weights: WeightMap, x: Float32Array, n: number) => Promise<Float32Array>; device: string }> {
  const { runTfjs, selectTfjs, selectionDevice } = await import('../../backends/tfjs/index.js');
  // The tfjs runtime keeps its own default, the best package installed, unless --device says otherwise.
  const selection = await selectTfjs({ device });
  if (selection.warning) process.stderr.write(`warning: ${selection.warning}\n`);
  return { run: (graph, weights, x, n) => runTfjs(graph, weights, x, n, selection.tf), device: selectionDevice(selection) };
}

/** The seeded input of `n` samples (the same numbers `seededInput` gives for a graph of that input). */
export function seededBatch(input: readonly number[], n: number, seed: number): Float32Array {
  return seededInput({ input: [...input] }, n, seed);
}

/** `sample 0: class 3 (logit 2.1043); logits [...]`, listing every logit up to 10 classes, else the top 5. */
function formatRow(row: number[], i: number): string {
  const order = row.map((v, k) => [k, v] as const).sort((a, b) => b[1] - a[1]);
  const fmt = (v: number) => v.toFixed(4);
  const head = `  sample ${i}: class ${order[0][0]} (logit ${fmt(order[0][1])})`;
  if (row.length <= 10) return `${head}; logits [${row.map(fmt).join(', ')}]`;
  return `${head}; top 5: ${order.slice(0, 5).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`;
}
