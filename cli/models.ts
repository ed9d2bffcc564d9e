/**
 * Opening models for the commands: a spec built with the `--set` values its weights were trained with,
 * its weights (a run's checkpoint, or the seeded initial ones), the ONNX variant it is exported as, and
 * a spec or an `.onnx` file ready to run on ONNX Runtime, SoFAr's runtime or TensorFlow.js. The rules
 * of which flags go with which model live here, so every command refuses the same things in the same
 * words.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { checkCheckpointFits, readCheckpoint, type Checkpoint } from '../src/checkpoint/index.js';
import { decodeInputNormalisation, encodeInputNormalisation, NORMALISATION_METADATA_KEY, type InputNormalisation } from '../src/data/normalise.js';
import type { Graph, WeightMap } from '../src/graph/types.js';
import { initWeights, seededInput } from '../src/weights/init.js';
import type { InferenceSession } from '../backends/onnx/index.js';
import type { Roofline } from '../backends/runtime/roofline.js';
import { openFileOnRuntime, openSpecOnRuntime, ortLoadFailure, type BinaryRuntimeName, type RuntimeName } from './binary-runtime.js';
import { loadGraph, setFlagMap, UsageError, userFailure, withRecordedParams, type SpecFlags } from './common.js';
import { inferenceProvider, type DeviceChoice } from './engines.js';

/** Where a spec's weights come from: a run (`--weights DIR`, a checkpoint folder or file), else the seed. */
export interface WeightFlags {
  weights?: string;
  seed: number;
}

/** How the ONNX export stores binary layers. */
export interface VariantFlags {
  int?: boolean;
  pack: boolean;
  /** Binary layers as `ai.sofar` operators for SoFAr's runtime (build only; run/bench/eval use --runtime sofar). */
  binaryOps?: boolean;
}

/** The metadata entry `sofar.params`: the model parameters (`--set` values) a graph was built with. */
export const PARAMS_METADATA_KEY = 'sofar.params';

// ---------------------------------------------------------------- specs and their weights

/** A spec's graph, and the checkpoint of the run whose weights it takes (null: seeded weights). */
export interface LoadedSpec<T extends SpecFlags> {
  graph: Graph;
  /** The flags it was built with: the ones given, plus the --set values the run recorded. */
  flags: T;
  checkpoint: Checkpoint | null;
}

/**
 * The spec's graph, built with the --set values its --weights were trained with where the flags leave
 * them out (a contradiction is refused). The checkpoint is read here once; `specWeights` takes it from
 * the result.
 */
export function loadSpec<T extends SpecFlags & WeightFlags>(spec: string, flags: T): LoadedSpec<T> {
  const checkpoint = flags.weights ? readCheckpoint(flags.weights) : null;
  const merged = checkpoint ? withRecordedParams(flags, checkpoint.meta.modelParams, `the run in ${flags.weights}`) : flags;
  return { graph: loadGraph(spec, merged).graph, flags: merged, checkpoint };
}

export interface SpecWeights {
  weights: WeightMap;
  /** `seeded init, seed 0`, `runs/x/checkpoint.safetensors (epoch 3)` */
  source: string;
  /** The input normalisation the checkpoint records (null for seeded weights). */
  normalisation: InputNormalisation | null;
}

/** The spec's weights: its checkpoint's, checked against the graph, or the seeded initial ones. */
export function specWeights(spec: LoadedSpec<SpecFlags & WeightFlags>): SpecWeights {
  const { graph, checkpoint, flags } = spec;
  if (!checkpoint) return { weights: initWeights(graph, flags.seed), source: `seeded init, seed ${flags.seed}`, normalisation: null };
  checkCheckpointFits(checkpoint, graph);
  return { weights: checkpoint.weights, source: `${checkpoint.path} (epoch ${checkpoint.meta.epoch})`, normalisation: checkpoint.meta.normalisation ?? null };
}

// ---------------------------------------------------------------- the export variant

/**
 * Exports with the variant the flags ask for; the metadata says where the weights came from, the model
 * parameters it was built with (`sofar.params`) and, when known, how inputs are normalised
 * (`sofar.normalisation`).
 */
export async function exportModel(graph: Graph, weights: WeightMap, flags: VariantFlags, source: string, o: { normalisation?: InputNormalisation | null; set?: string[] } = {}): Promise<Uint8Array> {
  // Loaded on demand, so that commands which never export (check, summary) never load the runtimes.
  // export.js alone: exporting needs no onnxruntime-node (an optional dependency).
  const { exportOnnx } = await import('../backends/onnx/export.js');
  const metadata = {
    'sofar.weights': source,
    [PARAMS_METADATA_KEY]: JSON.stringify(setFlagMap(o.set)),
    ...(o.normalisation ? { [NORMALISATION_METADATA_KEY]: encodeInputNormalisation(o.normalisation) } : {}),
  };
  return exportOnnx(graph, weights, { packBits: flags.pack, integer: flags.int ?? false, binaryOps: flags.binaryOps ?? false, metadata });
}

/** How the exported model stores its binary layers; the flags mean nothing for a float-only model. */
export function describeVariant(flags: VariantFlags, graph: Graph): string {
  const binary = graph.nodes.some((n) => (n.op === 'conv' || n.op === 'dense') && n.attrs.kernelQuantizer !== null);
  if (!binary) return 'no binary layers';
  if (flags.binaryOps) return 'binary layers as ai.sofar operators';
  return `${flags.int ? 'ConvInteger' : 'float'} binary layers, ${flags.pack ? '1-bit packed' : 'unpacked'} kernels`;
}

// ---------------------------------------------------------------- models ready to run

/** A model ready to run: a spec exported in memory, an ONNX file, or a spec in TensorFlow.js. */
export interface OpenedModel {
  /** The spec's model name, or the ONNX file's base name. */
  name: string;
  /** What runs it and, for a spec, with which variant and weights: `onnxruntime-node (float binary layers, …; weights: …)`. */
  runtime: string;
  /** What runs it alone: `onnxruntime-node`, `SoFAr runtime, native (avx2), 4 threads`. */
  engine: string;
  /** The run whose checkpoint a spec's weights come from; absent for seeded weights and ONNX files. */
  trained?: { path: string; epoch: number };
  /** Per-sample input shape `[C, H, W]`. */
  input: number[];
  /** How the model's training inputs were normalised, when it records it (a checkpoint, ONNX metadata). */
  normalisation: InputNormalisation | null;
  /** SoFAr's runtime only: the threads it runs on (its description names them too). */
  threads?: number;
  /** Milliseconds spent creating the runtime session (ONNX only). */
  loadMs: number;
  session?: InferenceSession;
  run(x: Float32Array, n: number): Promise<Float32Array>;
  /** SoFAr's runtime only: the roofline profile of its plan (after a run). */
  roofline?(reps: number): Promise<Roofline>;
  /** SoFAr's runtime only: whether its first runs have made their choices (a batch's sample split); time runs after. */
  settled?(): boolean;
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

/** A spec or an `.onnx` file on the runtime the flags name, refusing the flags that do not go with it. */
export async function openModel(target: string, flags: OpenFlags): Promise<OpenedModel> {
  if (flags.runtime === 'sofar' || flags.runtime === 'wasm') return openOnSofar(target, { ...flags, runtime: flags.runtime });
  const onnx = await import('../backends/onnx/index.js');
  const { provider, label } = flags.backend === 'tfjs' ? { provider: 'cpu' as const, label: 'CPU' } : await inferenceProvider(flags.device);
  const sessionOptions = { ...(flags.threads ? { threads: flags.threads } : {}), provider };
  const engine = `onnxruntime-node${provider === 'webgpu' ? ` on ${label}` : ''}`;
  if (isOnnxFile(target)) {
    refuseSpecFlags(flags);
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
    return { name: basename(target), runtime: engine, engine, input, normalisation, loadMs: loaded.loadMs, session, run: (x, n) => onnx.runOnnx(session, x, n), release: () => session.release() };
  }
  const spec = loadSpec(target, flags);
  const { graph } = spec;
  const { weights, source, normalisation } = specWeights(spec);
  const trained = trainedRun(spec);
  if (flags.backend === 'tfjs') {
    if (flags.int || !flags.pack) throw new UsageError('--int and --no-pack are ONNX export variants; drop them with --runtime tfjs');
    const { run: runTfjs, device } = await loadTfjs(flags.device);
    const tfjsEngine = `TensorFlow.js on ${device}`;
    return { name: graph.name, runtime: `${tfjsEngine} (weights: ${source})`, engine: tfjsEngine, ...trained, input: graph.input, normalisation, loadMs: 0, run: (x, n) => runTfjs(graph, weights, x, n), release: async () => {} };
  }
  const loaded = await onnx.timedLoad(await exportModel(graph, weights, flags, source, { normalisation, set: spec.flags.set }), sessionOptions);
  const session = loaded.session;
  return {
    name: graph.name,
    runtime: `${engine} (${describeVariant(flags, graph)}; weights: ${source})`,
    engine,
    ...trained,
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
  if (isOnnxFile(target)) {
    refuseSpecFlags(flags);
    const rt = await openFileOnRuntime(target, o);
    const normalisation = await recordedInFile(target);
    return { name: basename(target), get runtime() { return rt.description; }, get engine() { return rt.description; }, threads: rt.threads, input: rt.input, normalisation, loadMs: rt.loadMs, run: async (x, n) => rt.run(x, n), roofline: (reps) => rt.roofline(reps), settled: () => rt.settled(), release: () => rt.release() };
  }
  const spec = loadSpec(target, flags);
  const { graph } = spec;
  const { weights, source, normalisation } = specWeights(spec);
  const rt = await openSpecOnRuntime(graph, weights, { ...o, source });
  return { name: graph.name, get runtime() { return `${rt.description} (weights: ${source})`; }, get engine() { return rt.description; }, threads: rt.threads, ...trainedRun(spec), input: graph.input, normalisation, loadMs: rt.loadMs, run: async (x, n) => rt.run(x, n), roofline: (reps) => rt.roofline(reps), settled: () => rt.settled(), release: () => rt.release() };
}

function isOnnxFile(target: string): boolean {
  return target.toLowerCase().endsWith('.onnx');
}

/** An ONNX file carries its weights and is built already: the flags that change a spec are refused. */
function refuseSpecFlags(flags: SpecFlags & Partial<WeightFlags>): void {
  if (flags.weights) throw new UsageError('--weights goes with a spec; an ONNX model carries its weights');
  if (flags.set?.length || flags.model) throw new UsageError('--set and --model go with a spec; an ONNX model is fixed', 'give the .sofar file to change its parameters');
}

/** `{ trained }` for a spec whose weights a run trained; nothing for seeded weights. */
function trainedRun(spec: LoadedSpec<SpecFlags>): Pick<OpenedModel, 'trained'> {
  return spec.checkpoint ? { trained: { path: spec.checkpoint.path, epoch: spec.checkpoint.meta.epoch } } : {};
}

/** The normalisation an ONNX file records in its metadata, or null. */
async function recordedInFile(path: string): Promise<InputNormalisation | null> {
  if (!existsSync(path)) return null;
  const { readModelMetadata } = await import('../backends/onnx/proto.js');
  return decodeInputNormalisation(readModelMetadata(new Uint8Array(readFileSync(path)))[NORMALISATION_METADATA_KEY]);
}

/**
 * The TensorFlow.js backend's inference on the best tfjs package installed (tfjs-node-gpu, tfjs-node,
 * then pure JS with a warning), loaded only when asked for so that ONNX-only use never loads tfjs.
 */
async function loadTfjs(device: DeviceChoice = 'auto'): Promise<{ run: (graph: Graph, weights: WeightMap, x: Float32Array, n: number) => Promise<Float32Array>; device: string }> {
  const { runTfjs, selectTfjs, selectionDevice } = await import('../backends/tfjs/index.js');
  // The tfjs runtime keeps its own default, the best package installed, unless --device says otherwise.
  const selection = await selectTfjs({ device });
  if (selection.warning) process.stderr.write(`warning: ${selection.warning}\n`);
  return { run: (graph, weights, x, n) => runTfjs(graph, weights, x, n, selection.tf), device: selectionDevice(selection) };
}

/** The seeded input of `n` samples (the same numbers `seededInput` gives for a graph of that input). */
export function seededBatch(input: readonly number[], n: number, seed: number): Float32Array {
  return seededInput({ input: [...input] }, n, seed);
}
