/**
 * Training checkpoints: one safetensors file, `DIR/checkpoint.safetensors`, holding every parameter of
 * the graph under its name (`stage1/bconv/kernel`, moving statistics included) in the parameter's
 * shape, the optimizer slots as `<param>/m`, `<param>/v` (Adam) or `<param>/momentum` (SGD), and the
 * training position and provenance in `__metadata__`. Any safetensors reader (Python's `safetensors`,
 * `candle`, ...) opens it; `readCheckpoint` is also how `sofar build --weights DIR` gets trained weights.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { error, SofarError } from '../diagnostics.js';
import type { Graph, WeightMap } from '../graph/types.js';
import { decodeInputNormalisation, encodeInputNormalisation, type InputNormalisation } from '../data/normalise.js';
import { replaceFileAtomic } from '../io/atomic.js';
import { decodeSafetensors, encodeSafetensors, f32, SafetensorsError, toFloat32, type TensorEntry } from './safetensors.js';


export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const CHECKPOINT_FORMAT = 'sofar-checkpoint';
export const CHECKPOINT_VERSION = 1;
/** Optimizer slot names (docs/semantics.md): a slot tensor is named `<param>/<suffix>`. */
export const SLOT_SUFFIXES = ['m', 'v', 'momentum'] as const;

/**
 * Where a mid-epoch checkpoint (`--checkpoint-every`) stands in its epoch: the sums of the epoch's
 * metrics over the steps taken so far, so that the resumed epoch reports what the uninterrupted one
 * would. Stored as `partial_epoch`, JSON with snake_case keys (`loss_sum`, `correct`, `samples`,
 * `distillation_sum`, `flip_sum`, `flip_steps`); absent from epoch-boundary checkpoints.
 */
export interface PartialEpoch {
  /** Σ over the steps taken of the step's mean loss × its batch size. */
  lossSum: number;
  correct: number;
  /** Training samples the epoch has seen so far. */
  samples: number;
  /** Σ of the step's mean KL × its batch size (distillation). */
  distillationSum: number;
  /** Σ of the steps' flip ratios, and how many steps reported one. */
  flipSum: number;
  flipSteps: number;
}

export interface CheckpointMeta {
  /** The graph's (model's) name. */
  spec: string;
  /** `paramsHash(graph)` of the graph it was trained for; absent in files other tools wrote. */
  paramsHash?: string;
  seed: number;
  /** The engine that wrote it (`tfjs`, `ort`, ...). */
  engine: string;
  /** Completed epochs. */
  epoch: number;
  /** Optimizer steps taken (Adam's t); beyond `epoch` × steps an epoch in a mid-epoch checkpoint. */
  step: number;
  /** A mid-epoch checkpoint's position in its epoch. */
  partialEpoch?: PartialEpoch;
  /** The training configuration, so that a resumed run can check and reuse it. */
  config?: Record<string, unknown>;
  /** How the training inputs were normalised; exports and `sofar run --input` apply it to images. */
  normalisation?: InputNormalisation;
  /**
   * The model parameters the graph was built with (`--set` values as written, `{}` for the spec's
   * defaults); absent in checkpoints that predate the record.
   */
  modelParams?: Record<string, string>;
}

export interface Checkpoint {
  weights: WeightMap;
  slots: WeightMap;
  meta: CheckpointMeta;
  /** Shape of every tensor, weights and slots. */
  shapes: Map<string, number[]>;
  /** The file it was read from. */
  path: string;
}

export interface CheckpointInput {
  /** Gives each tensor its shape and the checkpoint its parameter hash. */
  graph: Graph;
  weights: WeightMap;
  slots: WeightMap;
  step: number;
  epoch: number;
  meta: { seed: number; engine: string; config?: Record<string, unknown>; normalisation?: InputNormalisation; modelParams?: Record<string, string>; partialEpoch?: PartialEpoch };
}

/** A short hash of the graph's parameter list (names, shapes, binary and trainable flags, in order). */
export function paramsHash(graph: Graph): string {
  const lines = graph.nodes.flatMap((n) => n.params.map((p) => `${p.name}\t${p.shape.join('x')}\t${p.binary ? 'bin' : 'f32'}\t${p.trainable ? 'train' : 'fixed'}`));
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16);
}

/** The file a checkpoint argument names: the file itself, or `checkpoint.safetensors` in a folder. */
export function checkpointPath(pathOrDir: string): string {
  return existsSync(pathOrDir) && statSync(pathOrDir).isDirectory() ? join(pathOrDir, CHECKPOINT_FILE) : pathOrDir;
}

/** Writes `dir/checkpoint.safetensors` atomically; returns its path. */
export function writeCheckpoint(dir: string, input: CheckpointInput): string {
  const path = join(dir, CHECKPOINT_FILE);
  replaceFileAtomic(path, encodeCheckpoint(input));
  return path;
}

/** The bytes of a checkpoint file (what writeCheckpoint writes). */
export function encodeCheckpoint(input: CheckpointInput): Uint8Array {
  const shapes = new Map(input.graph.nodes.flatMap((n) => n.params.map((p) => [p.name, p.shape] as const)));
  const tensors = new Map<string, TensorEntry>();
  const shapeOf = (name: string, values: Float32Array, of = name) => {
    const shape = shapes.get(of);
    return shape && shape.reduce((a, b) => a * b, 1) === values.length ? shape : [values.length];
  };
  for (const [name, values] of input.weights) tensors.set(name, f32(shapeOf(name, values), values));
  for (const [name, values] of input.slots) {
    if (tensors.has(name)) throw new Error(`internal: optimizer slot '${name}' has the name of a parameter`);
    tensors.set(name, f32(shapeOf(name, values, slotParam(name) ?? name), values));
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: String(CHECKPOINT_VERSION),
    spec: input.graph.name,
    params_hash: paramsHash(input.graph),
    seed: String(input.meta.seed),
    engine: input.meta.engine,
    epoch: String(input.epoch),
    step: String(input.step),
    ...(input.meta.config ? { config: JSON.stringify(input.meta.config) } : {}),
    ...(input.meta.normalisation ? { normalisation: encodeInputNormalisation(input.meta.normalisation) } : {}),
    ...(input.meta.modelParams ? { model_params: JSON.stringify(input.meta.modelParams) } : {}),
    ...(input.meta.partialEpoch ? { partial_epoch: encodePartialEpoch(input.meta.partialEpoch) } : {}),
  };
  return encodeSafetensors(tensors, metadata);
}

/** Reads a checkpoint file (or `checkpoint.safetensors` in a folder). */
export function readCheckpoint(pathOrDir: string): Checkpoint {
  const path = checkpointPath(pathOrDir);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw checkpointError(
      code === 'ENOENT' ? `no checkpoint at ${path}` : `cannot read ${path}: ${code ?? (e as Error).message}`,
      code === 'ENOENT' ? 'train first (sofar train SPEC --out DIR), or name the folder holding checkpoint.safetensors' : undefined,
    );
  }
  let file;
  try {
    file = decodeSafetensors(bytes);
  } catch (e) {
    if (e instanceof SafetensorsError) throw checkpointError(`${path} is not a valid safetensors file: ${e.message}`);
    throw e;
  }
  const names = new Set(file.tensors.keys());
  const weights: WeightMap = new Map();
  const slots: WeightMap = new Map();
  const shapes = new Map<string, number[]>();
  for (const [name, t] of file.tensors) {
    let values: Float32Array;
    try {
      values = toFloat32(name, t);
    } catch (e) {
      throw checkpointError(`${path}: ${(e as Error).message}`);
    }
    const param = slotParam(name);
    (param !== null && names.has(param) ? slots : weights).set(name, values);
    shapes.set(name, t.shape);
  }
  return { weights, slots, shapes, meta: readMeta(file.metadata, path), path };
}

/** Throws a clear error unless the checkpoint holds exactly the graph's parameters in their shapes. */
export function checkCheckpointFits(checkpoint: Checkpoint, graph: Graph): void {
  const expected = new Map(graph.nodes.flatMap((n) => n.params.map((p) => [p.name, p.shape] as const)));
  const missing = [...expected.keys()].filter((name) => !checkpoint.weights.has(name));
  const unknown = [...checkpoint.weights.keys()].filter((name) => !expected.has(name));
  const reshaped = [...expected]
    .filter(([name, shape]) => checkpoint.shapes.has(name) && checkpoint.shapes.get(name)!.join('x') !== shape.join('x'))
    .map(([name, shape]) => `${name} is ${checkpoint.shapes.get(name)!.join('×')}, the spec wants ${shape.join('×')}`);
  const hashDiffers = checkpoint.meta.paramsHash !== undefined && checkpoint.meta.paramsHash !== paramsHash(graph);
  if (!missing.length && !unknown.length && !reshaped.length && !hashDiffers) return;
  const list = (items: string[]) => items.slice(0, 3).join(', ') + (items.length > 3 ? `, … (${items.length} in all)` : '');
  const problems = [
    missing.length ? `${missing.length} parameter(s) missing (${list(missing)})` : '',
    unknown.length ? `${unknown.length} unknown (${list(unknown)})` : '',
    reshaped.length ? list(reshaped) : '',
    !missing.length && !unknown.length && !reshaped.length ? 'the parameters differ in which are binary or trainable' : '',
  ].filter(Boolean);
  throw checkpointError(
    checkpoint.meta.spec === graph.name
      ? `the checkpoint ${checkpoint.path} was trained for another version of model '${graph.name}': ${problems.join('; ')}`
      : `the checkpoint ${checkpoint.path} was trained for model '${checkpoint.meta.spec}' and does not fit '${graph.name}': ${problems.join('; ')}`,
    checkpoint.meta.modelParams
      ? `it was trained with ${describeModelParams(checkpoint.meta.modelParams)}: use the spec and the --set values it was trained with, or train this one into another folder (--out DIR)`
      : 'use the spec and the --set values it was trained with (a --set value is the likely cause), or train this one into another folder (--out DIR)',
  );
}

/** `stage1/conv/kernel/m` → `stage1/conv/kernel`; null when the name has no slot suffix. */
export function slotParam(name: string): string | null {
  const cut = name.lastIndexOf('/');
  if (cut <= 0) return null;
  return (SLOT_SUFFIXES as readonly string[]).includes(name.slice(cut + 1)) ? name.slice(0, cut) : null;
}

function readMeta(m: Record<string, string>, path: string): CheckpointMeta {
  if (m.format === CHECKPOINT_FORMAT && Number(m.version) > CHECKPOINT_VERSION) {
    throw checkpointError(`${path} is a version ${m.version} checkpoint; this SoFAr reads version ${CHECKPOINT_VERSION}`, 'upgrade SoFAr');
  }
  const count = (key: string) => {
    const n = Number(m[key] ?? 0);
    return Number.isSafeInteger(n) && n >= 0 ? n : 0;
  };
  let config: Record<string, unknown> | undefined;
  if (m.config !== undefined) {
    try {
      config = JSON.parse(m.config) as Record<string, unknown>;
    } catch {
      throw checkpointError(`${path}: its training configuration is not valid JSON`);
    }
  }
  const normalisation = decodeInputNormalisation(m.normalisation);
  let modelParams: Record<string, string> | undefined;
  if (m.model_params !== undefined) {
    try {
      const parsed = JSON.parse(m.model_params) as unknown;
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) throw new Error('not an object of strings');
      modelParams = parsed as Record<string, string>;
    } catch {
      throw checkpointError(`${path}: its record of the model parameters (--set values) is not valid`);
    }
  }
  const partialEpoch = m.partial_epoch !== undefined ? decodePartialEpoch(m.partial_epoch, path) : undefined;
  return {
    spec: m.spec ?? '(unknown)',
    ...(m.params_hash ? { paramsHash: m.params_hash } : {}),
    seed: count('seed'),
    engine: m.engine ?? '(unknown)',
    epoch: count('epoch'),
    step: count('step'),
    ...(partialEpoch ? { partialEpoch } : {}),
    ...(config ? { config } : {}),
    ...(normalisation ? { normalisation } : {}),
    ...(modelParams ? { modelParams } : {}),
  };
}

const PARTIAL_EPOCH_KEYS = { lossSum: 'loss_sum', correct: 'correct', samples: 'samples', distillationSum: 'distillation_sum', flipSum: 'flip_sum', flipSteps: 'flip_steps' } as const;

function encodePartialEpoch(p: PartialEpoch): string {
  return JSON.stringify(Object.fromEntries(Object.entries(PARTIAL_EPOCH_KEYS).map(([key, stored]) => [stored, p[key as keyof PartialEpoch]])));
}

/** A writer may leave out the sums it does not keep (they count as 0). */
function decodePartialEpoch(text: string, path: string): PartialEpoch {
  let stored: Record<string, unknown>;
  try {
    stored = JSON.parse(text) as Record<string, unknown>;
    if (!stored || typeof stored !== 'object' || Object.values(stored).some((v) => typeof v !== 'number')) throw new Error('not an object of numbers');
  } catch {
    throw checkpointError(`${path}: its record of the position within the epoch (partial_epoch) is not valid`);
  }
  return Object.fromEntries(Object.entries(PARTIAL_EPOCH_KEYS).map(([key, name]) => [key, (stored[name] as number | undefined) ?? 0])) as unknown as PartialEpoch;
}

/** `--set columns=3 --set join=sum`, or `the spec's defaults` for an empty record. */
export function describeModelParams(params: Record<string, string>): string {
  const entries = Object.entries(params);
  return entries.length ? entries.map(([k, v]) => `--set ${k}=${v}`).join(' ') : "the spec's default parameters (no --set)";
}

function checkpointError(message: string, hint?: string): SofarError {
  return new SofarError([error('checkpoint', message, undefined, hint)]);
}
