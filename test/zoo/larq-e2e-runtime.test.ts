/**
 * Issue 20, "Done when" (run on the binary runtime) on every new spec: the `--binary-ops` export on
 * SoFAr's runtime, native kernels and WebAssembly, gives onnxruntime's logits on the standard export
 * (./reference-logits.ts) within 1e-4 of their scale. No skip: a construct the runtime cannot plan
 * fails its spec here, and so would a fallback to onnxruntime (the runtime has none).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { createRuntimeWith, loadBundledWasmKernels, loadNativeKernels, type KernelSet, type WasmKernelSet } from '../../backends/runtime/index.js';
import { maxRelativeError } from '../runtime/util.js';
import { E2E_CASES, loadCase } from './cases.js';
import { referenceLogits } from './reference-logits.js';

describe('the binary runtime, native and WebAssembly, on every new spec', () => {
  let wasm: WasmKernelSet;
  beforeAll(async () => {
    wasm = await loadBundledWasmKernels(1);
  });
  afterAll(async () => {
    await wasm?.close();
  });

  function native(): KernelSet {
    const loaded = loadNativeKernels();
    if ('unavailable' in loaded) throw new Error(loaded.unavailable);
    return loaded.kernels;
  }

  for (const c of E2E_CASES) {
    it(`${c.name}: native and WebAssembly logits equal onnxruntime's`, async () => {
      const graph = loadCase(c);
      const ref = await referenceLogits(graph);
      const bytes = exportOnnx(graph, ref.weights, { binaryOps: true });
      for (const [label, kernels] of [['native', native()], ['wasm', wasm]] as const) {
        const runtime = createRuntimeWith(bytes, { kernels, threads: 1, batch: ref.n });
        try {
          const y = runtime.run(ref.x, ref.n);
          expect(maxRelativeError(y, ref.logits), `${c.name} on ${label}`).toBeLessThan(1e-4);
        } finally {
          runtime.release();
        }
      }
    }, 300_000);
  }
});
