/** The native kernels for the runtime tests: skipped (with a warning) where the addon is not built, required in CI. */
import { afterAll, beforeAll, expect } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { createRuntime, loadBundledWasmKernels } from '../../backends/runtime/index.js';
import { compile } from '../../src/compile.js';
import { busyWeights } from '../helpers/values.js';
import { loadNativeKernels, type KernelSet } from '../../backends/runtime/kernels.js';
import { skipWithout } from '../helpers/requirements.js';

export function nativeMissing(): string | null {
  const loaded = loadNativeKernels();
  return 'unavailable' in loaded ? loaded.unavailable : null;
}

export const skipNative = (): boolean => skipWithout(nativeMissing());

export function nativeKernels(): KernelSet {
  const loaded = loadNativeKernels();
  if ('unavailable' in loaded) throw new Error(loaded.unavailable);
  return loaded.kernels;
}

/** The output of one run of `bytes` on `kernels` (a runtime made for it, then released). */
export function runOnce(bytes: Uint8Array, kernels: KernelSet, threads: number, x: Float32Array, n: number): Float32Array {
  const runtime = createRuntime(bytes, { kernels, threads, batch: n });
  try {
    return runtime.run(x, n);
  } finally {
    runtime.release();
  }
}

/** The bundled single-threaded WebAssembly kernels for a describe block: loaded before its tests, closed after. */
export function bundledWasmForSuite(): () => KernelSet {
  let wasm: KernelSet | undefined;
  beforeAll(async () => {
    wasm = await loadBundledWasmKernels();
  });
  afterAll(async () => {
    await wasm?.close?.();
  });
  return () => wasm!;
}

/** onnxruntime's logits for `bytes` (one thread, no graph optimisations: the model exactly as written). */
export async function ortLogits(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const { createSession, runOnnx } = await import('../../backends/onnx/index.js');
  const session = await createSession(bytes, { threads: 1, optimization: 'disabled' });
  try {
    return await runOnnx(session, x, n);
  } finally {
    await session.release();
  }
}

/**
 * A spec's standard and `--binary-ops` exports with the same busy seeded weights, and a batch of two inputs
 * (a sine of the index at the given frequency, amplitude 2).
 */
export function exportedPair(source: string, file: string, seed: number, frequency: number) {
  const { graph, diagnostics } = compile(source, file);
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const weights = busyWeights(graph!, seed);
  const x = Float32Array.from({ length: 2 * graph!.input.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * frequency) * 2);
  return { standard: exportOnnx(graph!, weights), runtime: exportOnnx(graph!, weights, { binaryOps: true }), x };
}
