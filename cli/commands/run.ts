/**
 * `sofar run SPEC|MODEL.onnx [--runtime ort|sofar|tfjs] [--samples N] [--seed N] [--input FILE [--data NAME] [--no-normalise]] [--json]`:
 * one inference on an input drawn from the seed (or read from a .npy array or an image, whose pixels
 * are normalised as the model's training data were), printing the logits. A spec runs with weights from the same seed (or --weights), so every backend prints the
 * same numbers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Option, type Command } from 'commander';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { decodeInputNormalisation, describeNormalisation, namedNormalisation, NORMALISATION_METADATA_KEY, type InputNormalisation } from '../../src/data/normalise.js';
import { readInputFile } from '../../src/io/input-file.js';
import { seededInput } from '../../src/weights/init.js';
import type { InferenceSession } from '../../backends/onnx/index.js';
import { addSpecOptions, noteDeprecated, parseNonNegativeInt, parsePositiveInt, UsageError, userFailure, type SpecFlags } from '../common.js';
import { describeVariant, exportModel, loadSpec, specWeights, type VariantFlags, type WeightFlags } from './build.js';
import { openFileOnRuntime, openSpecOnRuntime, ortLoadFailure, RUNTIMES, type BinaryRuntimeName, type RuntimeName } from '../binary-runtime.js';
import { deviceOption, inferenceProvider, type DeviceChoice } from './engines.js';

interface RunFlags extends SpecFlags, WeightFlags, VariantFlags {
  /** Deprecated spelling of --runtime ort|tfjs. */
  backend?: 'onnx' | 'tfjs';
  runtime: RuntimeName | 'tfjs';
  samples?: number;
  /** Deprecated spelling of --samples. */
  batch?: number;
  input?: string;
  data?: string;
  normalise: boolean;
  threads?: number;
  json?: boolean;
}

/** Data sets whose normalisation `--data` names for a model that records none. */
const NORMALISATION_SOURCES = ['fashion-mnist', 'mnist', 'cifar10', 'synthetic'] as const;

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('run')
      .description('run one inference and print the logits (input drawn from the seed, or --input FILE)')
      .argument('<model>', 'a .sofar spec or a model.onnx')
      .addOption(runtimeOption(true))
      .addOption(new Option('--backend <backend>', 'deprecated: --runtime ort|tfjs').choices(['onnx', 'tfjs']).hideHelp())
      .option('--samples <n>', 'samples drawn from the seed (default 1)', parsePositiveInt('--samples'))
      .addOption(new Option('--batch <n>', 'deprecated: --samples').argParser(parsePositiveInt('--batch')).hideHelp())
      .option('--seed <n>', 'seed of the input and of the initial weights', parseNonNegativeInt('--seed'), 0)
      .option('--input <file>', 'a .npy array ([N,C,H,W], [C,H,W] or [H,W]) or a PNG / JPEG of the model input size')
      .addOption(new Option('--data <name>', "normalise --input pixels as this data set's training images (for a model that records no normalisation)").choices(NORMALISATION_SOURCES))
      .option('--no-normalise', 'feed --input pixels scaled to [0, 1] only, without the training normalisation')
      .option('--weights <dir>', 'trained weights of a spec: a checkpoint folder or .safetensors file')
      .option('--threads <n>', 'threads (ONNX Runtime intra-op threads; SoFAr runtime default: one per core)', parsePositiveInt('--threads'))
      .addOption(deviceOption())
      .option('--int', 'binary layers as ConvInteger / MatMulInteger (--runtime ort, spec only)')
      .option('--no-pack', 'binary kernels stored unpacked (--runtime ort, spec only)')
      .option('--json', 'print { "output": number[][] }'),
  ).action((model: string, flags: RunFlags, cmd: Command) => runCommand(model, currentSpellings(flags, cmd)));
}

/** The old spellings (`--backend onnx|tfjs`, `--batch N`) as today's (`--runtime ort|tfjs`, `--samples N`), with a note. */
function currentSpellings(flags: RunFlags, cmd: Command): RunFlags {
  const out = { ...flags };
  if (flags.backend !== undefined) {
    const now = flags.backend === 'tfjs' ? 'tfjs' : 'ort';
    noteDeprecated(`--backend ${flags.backend}`, `--runtime ${now}`);
    if (cmd.getOptionValueSource('runtime') !== 'cli') out.runtime = now;
    else if (flags.runtime !== now) throw new UsageError(`--runtime ${flags.runtime} and --backend ${flags.backend} name two runtimes`, 'drop --backend (it is the old spelling of --runtime)');
  }
  if (flags.batch !== undefined) {
    noteDeprecated('--batch', '--samples');
    if (flags.samples !== undefined) throw new UsageError('--samples and --batch are the same option', 'drop --batch (the old spelling)');
    out.samples = flags.batch;
  }
  delete out.backend;
  delete out.batch;
  return out;
}

async function runCommand(target: string, given: RunFlags): Promise<void> {
  const flags = { ...given, batch: given.samples };
  if (flags.input && flags.samples !== undefined) throw new UsageError('--samples goes with a seeded input; --input gives its own samples');
  const { runtime, backend } = given.runtime === 'tfjs' ? { runtime: 'ort' as const, backend: 'tfjs' as const } : { runtime: given.runtime, backend: 'onnx' as const };
  const opened = await openModel(target, { ...flags, runtime, backend, batch: flags.samples ?? 1 });
  if (!flags.input && (flags.data || !flags.normalise)) throw new UsageError('--data and --no-normalise say how --input pixels are normalised', 'give --input FILE, or drop them');
  const normalisation = flags.input ? inputNormalisation(opened, flags) : null;
  const { x, n, pixels } = flags.input ? readInputFile(flags.input, opened.input, normalisation) : { x: seededBatch(opened.input, flags.samples ?? 1, flags.seed), n: flags.samples ?? 1, pixels: false };
  if (flags.input) process.stderr.write(`note: ${normalisationNote(pixels, normalisation, opened.normalisation, flags)}\n`);
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

/**
 * The normalisation for --input pixels: the one the model records (its checkpoint's, or its ONNX
 * metadata), else the data set --data names; none with --no-normalise. A --data that contradicts the
 * recorded one is refused.
 */
function inputNormalisation(opened: OpenedModel, flags: RunFlags): InputNormalisation | null {
  const named = flags.data ? namedNormalisation(flags.data, opened.input[0]) : null;
  const recorded = opened.normalisation;
  if (named && recorded && (named.dataset !== recorded.dataset || named.mean.join() !== recorded.mean.join() || named.std.join() !== recorded.std.join())) {
    throw new UsageError(`--data ${flags.data} contradicts the normalisation the model was trained with, ${describeNormalisation(recorded)}`, 'drop --data (the recorded normalisation is used), or --no-normalise');
  }
  if (!flags.normalise) return null;
  return recorded ?? named;
}

/** What was done to the input, for stderr. */
function normalisationNote(pixels: boolean, applied: InputNormalisation | null, recorded: InputNormalisation | null, flags: RunFlags): string {
  if (!pixels) return `${flags.input} is a float array, used as it is${recorded ? ` (the model was trained on inputs normalised as ${describeNormalisation(recorded)})` : ''}`;
  if (applied) return `pixels scaled to [0, 1], then normalised as in training on ${describeNormalisation(applied)}; --no-normalise to feed them unnormalised`;
  if (!flags.normalise) return 'pixels scaled to [0, 1], not normalised (--no-normalise)';
  return 'pixels scaled to [0, 1], no normalisation applied: the model records none (--data NAME normalises as that data set)';
}

/** The normalisation an ONNX file records in its metadata, or null. */
async function recordedInFile(path: string): Promise<InputNormalisation | null> {
  if (!existsSync(path)) return null;
  const { readModelMetadata } = await import('../../backends/onnx/index.js');
  return decodeInputNormalisation(readModelMetadata(new Uint8Array(readFileSync(path)))[NORMALISATION_METADATA_KEY]);
}

/** A model ready to run: a spec exported in memory, an ONNX file, or a spec in TensorFlow.js. */
export interface OpenedModel {
  name: string;
  runtime: string;
  /** Per-sample input shape `[C, H, W]`. */
  input: number[];
  /** How the model's training inputs were normalised, when it records it (a checkpoint, ONNX metadata). */
  normalisation: InputNormalisation | null;
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

/** `--runtime ort|sofar`, shared by run, bench and eval; run also takes `tfjs` (a spec in TensorFlow.js). */
export function runtimeOption(tfjs = false): Option {
  const choices: string[] = tfjs ? [...RUNTIMES, 'tfjs'] : [...RUNTIMES];
  const description = `ort: onnxruntime-node on the standard export; sofar: SoFAr's bit-packed binary kernels (native) on the --binary-ops export; wasm: the same kernels as WebAssembly (one thread unless --threads)${tfjs ? '; tfjs: a spec in TensorFlow.js' : ''}`;
  return new Option('--runtime <runtime>', description).choices(choices).default('ort');
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
    if (flags.backend === 'tfjs') throw new UsageError('--runtime tfjs runs a spec, not an ONNX model', `run the spec itself: sofar run SPEC --runtime tfjs`);
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
    const normalisation = await recordedInFile(target);
    return { name: basename(target), runtime: `onnxruntime-node${onDevice}`, input, normalisation, loadMs: loaded.loadMs, session, run: (x, n) => onnx.runOnnx(session, x, n), release: () => session.release() };
  }
  const { graph, flags: specFlags } = loadSpec(target, flags);
  const { weights, source, normalisation } = specWeights(graph, flags);
  if (flags.backend === 'tfjs') {
    if (flags.int || !flags.pack) throw new UsageError('--int and --no-pack are ONNX export variants; drop them with --runtime tfjs');
    const { run: runTfjs, device } = await loadTfjs(flags.device);
    return { name: graph.name, runtime: `TensorFlow.js on ${device} (weights: ${source})`, input: graph.input, normalisation, loadMs: 0, run: (x, n) => runTfjs(graph, weights, x, n), release: async () => {} };
  }
  const loaded = await onnx.timedLoad(await exportModel(graph, weights, flags, source, { normalisation, set: specFlags.set }), sessionOptions);
  const session = loaded.session;
  return {
    name: graph.name,
    runtime: `onnxruntime-node${onDevice} (${describeVariant(flags, graph)}; weights: ${source})`,
    input: graph.input,
    normalisation,
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
    const normalisation = await recordedInFile(target);
    return { name: basename(target), runtime: rt.description, input: rt.input, normalisation, loadMs: rt.loadMs, run: async (x, n) => rt.run(x, n), release: () => rt.release() };
  }
  const { graph } = loadSpec(target, flags);
  const { weights, source, normalisation } = specWeights(graph, flags);
  const rt = await openSpecOnRuntime(graph, weights, { ...o, source });
  return { name: graph.name, runtime: `${rt.description} (weights: ${source})`, input: graph.input, normalisation, loadMs: rt.loadMs, run: async (x, n) => rt.run(x, n), release: () => rt.release() };
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
