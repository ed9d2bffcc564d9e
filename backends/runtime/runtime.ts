/**
 * The binary runtime's core, free of Node APIs (it also runs in browsers): a checked model, planned for
 * a kernel set, executed. `index.ts` adds the native addon as the default kernels; `web.ts` the
 * WebAssembly module.
 */
import { Execution } from './execute.js';
import type { KernelSet } from './kernels.js';
import { readRuntimeModel, RuntimeModelError, type RuntimeModel } from './model.js';
import { planModel, type Plan } from './plan.js';

export interface RuntimeOptions {
  kernels: KernelSet;
  /** Threads for the kernels that parallelise (default 1). */
  threads?: number;
  /** Samples per run the arena is first sized for (default 1); larger runs re-plan. */
  batch?: number;
}

export interface BinaryRuntime {
  readonly model: RuntimeModel;
  /** Per-sample input shape `[C, H, W]`. */
  readonly input: number[];
  /** Per-sample output shape (`[classes]` for a classifier). */
  readonly output: number[];
  /** `native (avx512)`, ... */
  readonly kernels: string;
  readonly plan: Plan;
  /** Output for n samples (row-major `[n, ...output]`), synchronously. */
  run(x: Float32Array, n: number): Float32Array;
  /** Median milliseconds of each of the plan's steps over `reps` runs (after a `run`). */
  profile(reps: number): number[];
  release(): void;
}

/** Weights, activations and scratch of one runtime together (ArrayBuffer and WebAssembly limits). */
export const MAX_ARENA_BYTES = 2 ** 31;

export function createRuntimeWith(bytes: Uint8Array, options: RuntimeOptions): BinaryRuntime {
  const model = readRuntimeModel(bytes);
  const kernels = options.kernels;
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RuntimeModelError(`threads must be 1 to 256, not ${threads}`);
  const plan = (batch: number) => {
    const p = planModel(model, kernels, batch);
    if (p.arenaBytes > MAX_ARENA_BYTES) throw new RuntimeModelError(`the model needs ${(p.arenaBytes / 2 ** 30).toFixed(1)} GiB of working memory at batch ${batch}; the runtime's limit is ${MAX_ARENA_BYTES / 2 ** 30} GiB`);
    return p;
  };
  let execution = new Execution(plan(options.batch ?? 1), kernels);
  const per = model.input.shape.reduce((a, b) => a * b, 1);
  return {
    model,
    input: model.input.shape,
    output: model.output.shape,
    get kernels() {
      return kernels.description;
    },
    get plan() {
      return execution.plan;
    },
    run(x: Float32Array, n: number): Float32Array {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`run: n must be a positive integer, not ${n}`);
      if (x.length !== n * per) throw new RangeError(`run: ${n} samples of [${model.input.shape.join(', ')}] need ${n * per} values, got ${x.length}`);
      if (n > execution.plan.batch) {
        execution.release();
        execution = new Execution(plan(n), kernels);
      }
      return execution.run(x, n, threads);
    },
    profile(reps: number): number[] {
      return execution.profile(threads, reps);
    },
    release() {
      execution.release();
    },
  };
}
