/**
 * Issue 20's constructs as the exporter writes them (test/onnx/constructs.ts: small GraphBuilder graphs,
 * one construct each): the runtime runs each graph's `--binary-ops` export, natively (1 and 2 threads)
 * and in WebAssembly, and gives onnxruntime's logits on the standard export of the same weights
 * (1e-4 of the logits' scale).
 */
import { describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { busyWeights } from '../helpers/values.js';
import { constructCases } from '../onnx/constructs.js';
import { bundledWasmForSuite, nativeKernels, runOnce, skipNative } from './helpers.js';
import { Rng } from './kernels-reference.js';
import { maxRelativeError } from './util.js';


const N = 3;


describe.skipIf(skipNative())('the runtime on the exported constructs of issue 20', () => {
  const wasm = bundledWasmForSuite();

  for (const c of constructCases()) {
    it(`${c.name}: onnxruntime's logits, native and WebAssembly`, async () => {
      const weights = busyWeights(c.graph, 5);
      const rng = new Rng(9);
      const x = Float32Array.from({ length: N * c.graph.input.reduce((a, b) => a * b, 1) }, () => rng.float() * 2);
      const session = await createSession(exportOnnx(c.graph, weights), { threads: 1, optimization: 'disabled' });
      const reference = await runOnnx(session, x, N);
      await session.release();
      const bytes = exportOnnx(c.graph, weights, { binaryOps: true });
      const native = [1, 2].map((threads) => runOnce(bytes, nativeKernels(), threads, x, N));
      expect(maxRelativeError(native[0], reference), 'native').toBeLessThan(1e-4);
      expect(native[1]).toEqual(native[0]);
      expect(maxRelativeError(runOnce(bytes, wasm(), 1, x, N), reference), 'wasm').toBeLessThan(1e-4);
    });
  }
});
