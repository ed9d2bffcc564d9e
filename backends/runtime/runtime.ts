/**
 * The binary runtime's core, free of Node APIs (it also runs in browsers): a checked model, planned for
 * a kernel set, executed. `index.ts` adds the native addon as the default kernels; `web.ts` the
 * WebAssembly module.
 */
import { Execution } from './execute.js';
import type { KernelSet } from './kernels.js';
import { readRuntimeModel, RuntimeModelError, type RuntimeModel } from './model.js';
import { planModel, type Plan, type PlanOptions } from './plan.js';
import { sameCalls, sampleStepCandidates } from './split.js';

export interface RuntimeOptions {
  kernels: KernelSet;
  /** Threads for the kernels that parallelise (default 1, at most 256). */
  threads?: number;
  /** Samples the first plan is made for (default 1); a run of another size re-plans for that size. */
  batch?: number;
  /** The planner's choices, to compare plans (default: every one on). */
  plan?: PlanOptions;
  /**
   * At batch > 1, run the first steps sample by sample where the batch's maps would outgrow the cores'
   * caches (split.ts): true (default) lets the runtime choose how many — it times a few candidates in its
   * first runs at a batch size and keeps the fastest —, false runs every step over the whole batch, a number
   * runs that many. A model whose plan for one sample makes other calls than its batch plan (a fusion that
   * holds for one sample only) can run none or all of its steps so. Outputs are the same either way.
   */
  sampleSplit?: boolean | number;
}

/** How to get the --binary-ops form of a SoFAr standard export, weights kept (never seeded ones). */
export const CONVERT_HINT = 'convert it with sofar convert MODEL.onnx --binary-ops -o MODEL.binary-ops.onnx, or export the trained spec with sofar build SPEC --weights RUN --binary-ops (RUN: the sofar train --out folder)';

/** A bad option (`threads: 0`, `batch: -1`, ...): the caller's mistake, not the model's. */
export class RuntimeOptionError extends RangeError {
  override name = 'RuntimeOptionError';
}

/** `run` or `profile` on a runtime after its `release()`. */
export class RuntimeReleasedError extends Error {
  override name = 'RuntimeReleasedError';
  constructor(what: string) {
    super(`${what}: this runtime was released; create another one`);
  }
}

/** The model's bytes as the entry points take them: a Uint8Array, any other view, or an ArrayBuffer. */
export type ModelBytes = ArrayBuffer | ArrayBufferView;

export function modelBytes(data: ModelBytes): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || Object.prototype.toString.call(data) === '[object SharedArrayBuffer]') return new Uint8Array(data);
  throw new RuntimeOptionError(`the model must be bytes (a Uint8Array, another typed array or an ArrayBuffer), not ${data === null ? 'null' : typeof data}`);
}

/** Checks an integer option (`threads`, `batch`) of the runtime. */
export function checkIntOption(name: string, value: unknown, lo: number, hi: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
    throw new RuntimeOptionError(`option ${name} must be an integer from ${lo} to ${hi}, not ${typeof value === 'number' ? value : JSON.stringify(value)}`);
  }
  return value;
}

/** Most samples one run may ask for (the plan's arena bounds it well before). */
export const MAX_BATCH = 1 << 20;

export interface BinaryRuntime {
  readonly model: RuntimeModel;
  /** Per-sample input shape `[C, H, W]`. */
  readonly input: number[];
  /** Per-sample output shape (`[classes]` for a classifier). */
  readonly output: number[];
  /** `native (avx512)`, ... */
  readonly kernels: string;
  /**
   * Null for a `--binary-ops` model; for SoFAr's standard export (`sofar train`'s model.onnx), which the
   * runtime converts to that form on load (weights kept), a note saying so.
   */
  readonly converted: string | null;
  readonly plan: Plan;
  /** How many of the plan's first steps the next run runs one sample at a time (0 at batch 1). */
  readonly sampleSteps: number;
  /**
   * The candidates for sampleSteps and whether the choice among them is made: at a batch size's first
   * `(TRIAL_ROUNDS + 1) × candidates` runs the runtime tries each in turn, then keeps the fastest.
   */
  readonly sampleSplit: { steps: number; candidates: readonly number[]; settled: boolean };
  /**
   * Output for n samples (row-major `[n, ...output]`), synchronously. The runtime computes exactly n
   * samples: a run of another size than the last re-plans (a few milliseconds), so keep the size steady.
   */
  run(x: Float32Array, n: number): Float32Array;
  /**
   * The steps `profile` times: the plan's, or, where every step runs one sample at a time (sampleSteps is
   * the plan's step count), those of the plan for one sample, each run `samples` times a run.
   */
  readonly profiled: { plan: Plan; samples: number };
  /** Median milliseconds of each of `profiled`'s steps over `reps` runs (after a `run`), all its samples together. */
  profile(reps: number): number[];
  /** Gives the working memory back; using the runtime afterwards throws RuntimeReleasedError. */
  release(): void;
  /** True once `release()` was called. */
  readonly released: boolean;
}

/** What `converted` says of a model: how it was converted on load, or null. */
export function convertedNote(model: RuntimeModel): string | null {
  return model.converted ? `converted on load from SoFAr's '${model.converted.from}' standard export to the --binary-ops form (weights kept)` : null;
}

/** Weights, activations and scratch of one runtime together (ArrayBuffer and WebAssembly limits). */
export const MAX_ARENA_BYTES = 2 ** 31;

export function createRuntimeWith(data: ModelBytes, options: RuntimeOptions): BinaryRuntime {
  const bytes = modelBytes(data);
  const kernels = options.kernels;
  const threads = checkIntOption('threads', options.threads ?? 1, 1, 256);
  const firstBatch = checkIntOption('batch', options.batch ?? 1, 1, MAX_BATCH);
  const split = options.sampleSplit ?? true;
  if (typeof split !== 'boolean') checkIntOption('sampleSplit', split, 0, Number.MAX_SAFE_INTEGER);
  const model = readRuntimeModel(bytes);
  const plan = (batch: number) => {
    const p = planModel(model, kernels, batch, options.plan);
    if (p.arenaBytes > MAX_ARENA_BYTES) throw new RuntimeModelError(`the model needs ${(p.arenaBytes / 2 ** 30).toFixed(1)} GiB of working memory at batch ${batch}; the runtime's limit is ${MAX_ARENA_BYTES / 2 ** 30} GiB`);
    return p;
  };
  // A batch's first steps run sample by sample where that keeps their maps in cache (split.ts).
  const execute = (batchPlan: Plan): Execution => {
    if (batchPlan.batch === 1 || split === false || split === 0) return new Execution(batchPlan, kernels);
    const one = plan(1);
    const steps = batchPlan.steps.length;
    const candidates = split === true ? sampleStepCandidates(one, batchPlan, threads) : [Math.min(split, steps)];
    if (split !== true && candidates[0] < steps && !sameCalls(one, batchPlan)) {
      throw new RuntimeOptionError(`option sampleSplit: this model's plans for one sample and for ${batchPlan.batch} make different calls, so only all of its ${steps} steps can run sample by sample, not its first ${split}`);
    }
    return new Execution(batchPlan, kernels, candidates.some((k) => k > 0) ? { plan: one, candidates } : undefined);
  };
  let execution: Execution | null = execute(plan(firstBatch));
  const per = model.input.shape.reduce((a, b) => a * b, 1);
  const live = (what: string): Execution => {
    if (!execution) throw new RuntimeReleasedError(what);
    return execution;
  };
  return {
    model,
    input: model.input.shape,
    output: model.output.shape,
    get kernels() {
      return kernels.description;
    },
    converted: convertedNote(model),
    get plan() {
      return live('plan').plan;
    },
    get sampleSteps() {
      return live('sampleSteps').sampleSteps;
    },
    get sampleSplit() {
      return live('sampleSplit').sampleSplit;
    },
    get profiled() {
      return live('profiled').profiled;
    },
    get released() {
      return execution === null;
    },
    run(x: Float32Array, n: number): Float32Array {
      let current = live('run');
      if (!Number.isInteger(n) || n < 1 || n > MAX_BATCH) throw new RangeError(`run: n must be an integer from 1 to ${MAX_BATCH}, not ${n}`);
      if (!(x instanceof Float32Array)) throw new TypeError(`run: x must be a Float32Array, not ${x === null ? 'null' : typeof x}`);
      if (x.length !== n * per) throw new RangeError(`run: ${n} samples of [${model.input.shape.join(', ')}] need ${n * per} values, got ${x.length}`);
      // The kernels compute the plan's whole batch: a plan of another size would compute rows nobody
      // asked for (a small run after a large one) or not fit (a larger one), so the plan follows n.
      if (n !== current.plan.batch) {
        const next = plan(n);
        current.release();
        try {
          current = execution = execute(next);
        } catch (e) {
          execution = execute(current.plan); // out of memory: keep the last plan
          throw e;
        }
      }
      return current.run(x, n, threads);
    },
    profile(reps: number): number[] {
      return live('profile').profile(threads, reps);
    },
    release() {
      execution?.release();
      execution = null;
    },
  };
}
