/**
 * The runtime on the WebAssembly kernels gives the same logits as on the native kernels for every zoo
 * spec (1e-4 relative to the logits' scale). onnxruntime's logits on the standard export of the same
 * weights and inputs are test/runtime/zoo.test.ts's reference for the native kernels, so they are not
 * computed a second time here (they were most of this file's time). One sample each (three for the 28×28 and 32×32 models); a fresh module per model,
 * since a module's memory only grows. Inputs as in test/runtime/zoo.test.ts: a pre-activation that lands
 * within rounding of 0 may take either sign in float code that sums in another order, and a binary net
 * amplifies that flip (with input seed 2, the native and the WebAssembly runtime both differ from
 * onnxruntime so on two specs, while agreeing with each other).
 */
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { createRuntime, createRuntimeWith, loadWasmKernels } from '../../backends/runtime/index.js';
import { compileFile } from '../../src/compile.js';
import { seededInput } from '../../src/weights/init.js';
import { skipWithout } from '../helpers/requirements.js';
import { busyWeights } from '../helpers/values.js';
import { ZOO } from '../onnx/zoo.js';
import { nativeKernels, skipNative } from '../runtime/helpers.js';
import { maxRelativeError } from '../runtime/util.js';
import { wasmBytes, wasmMissing } from './helpers.js';

const SPECS: Record<string, string> = { ...ZOO, 'resnet18-float': 'specs/resnet18-float.sofar' };

describe.skipIf(skipWithout(wasmMissing()) || skipNative())('the WebAssembly kernels on every zoo spec', () => {
  const wasm = wasmBytes();

  for (const [name, path] of Object.entries(SPECS)) {
    it(`${name}: the native runtime's logits`, async () => {
      const graph = compileFile(path).graph!;
      const weights = busyWeights(graph, 1);
      const n = graph.input[1] <= 32 ? 3 : 1;
      const x = seededInput(graph, n, 1);
      const bytes = exportOnnx(graph, weights, { binaryOps: true });
      const native = createRuntime(bytes, { kernels: nativeKernels(), threads: 2, batch: n });
      const nativeLogits = native.run(x, n);
      native.release();
      const runtime = createRuntimeWith(bytes, { kernels: await loadWasmKernels(wasm), batch: n });
      expect(runtime.kernels).toBe('wasm (simd128)');
      const logits = runtime.run(x, n);
      runtime.release();
      expect(maxRelativeError(logits, nativeLogits), 'against the native runtime').toBeLessThan(1e-4);
    });
  }
});
