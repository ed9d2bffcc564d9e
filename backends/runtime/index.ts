/**
 * SoFAr's binary runtime: runs `--binary-ops` ONNX models (docs/operators.md) on bit-packed C kernels,
 * native (a Node addon: AVX-512 VPOPCNTDQ, AVX2 or portable C, chosen at run time) or WebAssembly.
 *
 *   const rt = createRuntime(bytes, { threads: 2 });
 *   const logits = rt.run(x, n);   // x: n samples NCHW float32
 */
import { loadNativeKernels, type KernelSet } from './kernels.js';
import { createRuntimeWith, type BinaryRuntime, type RuntimeOptions } from './runtime.js';

export { RuntimeModelError, readRuntimeModel, type RuntimeModel } from './model.js';
export { loadNativeKernels, loadBundledWasmKernels, setNativeIsa, detectedNativeIsa, type KernelSet, type Arena } from './kernels.js';
export { planModel, type Plan } from './plan.js';
export { createRuntimeWith, MAX_ARENA_BYTES, type BinaryRuntime, type RuntimeOptions } from './runtime.js';
export { loadWasmKernelsInNode as loadWasmKernels, spawnNodeWorker } from './kernels.js';
export type { WasmKernelOptions, WasmKernelSet } from './wasm.js';

/** Thrown when no kernel set can be loaded; says why (no compiler at install time, ...). */
export class RuntimeUnavailableError extends Error {}

export function defaultKernels(): KernelSet {
  const loaded = loadNativeKernels();
  if ('unavailable' in loaded) throw new RuntimeUnavailableError(loaded.unavailable);
  return loaded.kernels;
}

/** A runtime on the given kernels, or the native addon's. */
export function createRuntime(bytes: Uint8Array, options: Partial<RuntimeOptions> = {}): BinaryRuntime {
  return createRuntimeWith(bytes, { ...options, kernels: options.kernels ?? defaultKernels() });
}
// Types the API above names in its signatures.
export type { Step, KernelName } from './plan.js';
export type { RuntimeNode, RuntimeOp, Shape, Window } from './model.js';
export type { SpawnWorker, WorkerHandle } from './wasm.js';
export type { KernelsOrReason } from './kernels.js';
