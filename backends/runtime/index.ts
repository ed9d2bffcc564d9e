/**
 * SoFAr's binary runtime: runs `--binary-ops` ONNX models (docs/operators.md) on bit-packed C kernels,
 * native (a Node addon: AVX-512 VPOPCNTDQ, AVX2 or portable C, chosen at run time) or WebAssembly.
 *
 *   const rt = createRuntime(bytes, { threads: 2 });
 *   const logits = rt.run(x, n);   // x: n samples NCHW float32
 */
import { Execution } from './execute.js';
import { loadNativeKernels, type KernelSet, type KernelsOrReason } from './kernels.js';
import { readRuntimeModel, RuntimeModelError, type RuntimeModel } from './model.js';
import { planModel, type Plan } from './plan.js';

export { RuntimeModelError, readRuntimeModel, type RuntimeModel } from './model.js';
export { loadNativeKernels, setNativeIsa, detectedNativeIsa, type KernelSet, type Arena } from './kernels.js';
export { planModel, type Plan } from './plan.js';

export interface RuntimeOptions {
  /** A kernel set (default: the native addon). */
  kernels?: KernelSet;
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
  release(): void;
}

/** Thrown when no kernel set can be loaded; says why (no compiler at install time, ...). */
export class RuntimeUnavailableError extends Error {}

export function defaultKernels(): KernelSet {
  const loaded: KernelsOrReason = loadNativeKernels();
  if ('unavailable' in loaded) throw new RuntimeUnavailableError(loaded.unavailable);
  return loaded.kernels;
}

export function createRuntime(bytes: Uint8Array, options: RuntimeOptions = {}): BinaryRuntime {
  const model = readRuntimeModel(bytes);
  const kernels = options.kernels ?? defaultKernels();
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RuntimeModelError(`threads must be 1 to 256, not ${threads}`);
  let execution = new Execution(planModel(model, kernels, options.batch ?? 1), kernels);
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
        execution = new Execution(planModel(model, kernels, n), kernels);
      }
      return execution.run(x, n, threads);
    },
    release() {
      execution.release();
    },
  };
}
