/**
 * SoFAr's binary runtime: runs `--binary-ops` ONNX models (docs/operators.md in the package) on
 * bit-packed C kernels, native (a Node addon: AVX-512 VPOPCNTDQ, AVX2 or portable C, chosen at run time;
 * prebuilt in the package) or WebAssembly (where no addon loads, with a warning).
 *
 *   const rt = createRuntime(bytes, { threads: 2 });
 *   const logits = rt.run(x, n);                         // x: n samples NCHW float32, synchronously
 *   const top = topClassesOfRows(logits, modelInfo(rt.model).classNames, 3);
 *   const worker = await createRuntimeInWorker(bytes);   // the same, off the event loop
 *   await worker.run(x, n);
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadNativeKernels, packageRoot, type KernelSet } from './kernels.js';
import { createRuntimeWith, type BinaryRuntime, type ModelBytes, type RuntimeOptions } from './runtime.js';
import { wasmKernelSet } from './wasm.js';

export { RuntimeModelError, readRuntimeModel, type RuntimeModel } from './model.js';
export { loadNativeKernels, loadBundledWasmKernels, setNativeIsa, detectedNativeIsa, type KernelSet, type Arena } from './kernels.js';
export { planModel, type Plan, type PlanOptions } from './plan.js';
export { CONVERT_HINT, createRuntimeWith, MAX_ARENA_BYTES, RuntimeOptionError, RuntimeReleasedError, type BinaryRuntime, type ModelBytes, type RuntimeOptions } from './runtime.js';
export { loadWasmKernelsInNode as loadWasmKernels, spawnNodeWorker } from './kernels.js';
export type { WasmKernelOptions, WasmKernelSet } from './wasm.js';
export { DATASET_CLASSES, datasetClassNames, FASHION_MNIST_CLASSES, imageToInput, modelInfo, topClasses, topClassesOfRows, type ClassScore, type ModelInfo } from './classes.js';
export { createRuntimeInWorker, type AsyncRuntime, type WorkerRuntimeOptions } from './worker-client.js';

/** Thrown when no kernel set can be loaded; says why. */
export class RuntimeUnavailableError extends Error {}

// The WebAssembly JS API's synchronous constructors (Node compiles modules of any size synchronously).
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

let wasmModule: object | undefined;
let warned = false;

/**
 * The native addon's kernels; where none loads (no prebuilt addon for this platform, none built from
 * source), a new instance of the single-threaded WebAssembly kernels, with a one-time process warning.
 */
export function defaultKernels(): KernelSet {
  const loaded = loadNativeKernels();
  if ('kernels' in loaded) return loaded.kernels;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(join(packageRoot(), 'native', 'wasm', 'sofar_kernels.wasm'));
  } catch (e) {
    throw new RuntimeUnavailableError(`${loaded.unavailable}; the WebAssembly kernels are missing too (${(e as Error).message})`);
  }
  wasmModule ??= new WebAssembly.Module(bytes);
  if (!warned) {
    warned = true;
    process.emitWarning(`${loaded.unavailable}. Running the WebAssembly kernels instead (the same results, slower).`, { code: 'SOFAR_WASM_FALLBACK' });
  }
  return wasmKernelSet(new WebAssembly.Instance(wasmModule, {}).exports as Parameters<typeof wasmKernelSet>[0]);
}

/** A runtime on the given kernels, else the native addon's (else the WebAssembly kernels'). */
export function createRuntime(bytes: ModelBytes, options: Partial<RuntimeOptions> = {}): BinaryRuntime {
  return createRuntimeWith(bytes, { ...options, kernels: options.kernels ?? defaultKernels() });
}
// Types the API above names in its signatures.
export type { Step, KernelName } from './plan.js';
export type { RuntimeNode, RuntimeOp, Shape, Window } from './model.js';
export type { SpawnWorker, WorkerHandle } from './wasm.js';
export type { KernelsOrReason } from './kernels.js';
