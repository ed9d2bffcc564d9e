/**
 * The binary runtime on the native kernels gives onnxruntime's logits — onnxruntime running the standard
 * export of the same weights — for every zoo spec, at 1 and 2 threads (1e-4 relative to the logits'
 * scale); and the same bits whatever the thread count, since binary accumulations are exact integers and
 * every output is computed by one thread in one order.
 *
 * The reference session runs the model exactly as written (no graph optimisations). A binary net turns a
 * rounding difference at a sign's threshold into a different activation: onnxruntime's own optimiser
 * does that on rf-c4d8-resnet37 with these weights (its optimised and unoptimised logits differ by 1.4 %),
 * and the runtime's folded batch norms can too, for an input that puts a pre-sign value within a rounding
 * error of 0 (binarydensenet45, input seed 2). Every spec here agrees to ~1e-6 otherwise.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { createRuntime, detectedNativeIsa, setNativeIsa } from '../../backends/runtime/index.js';
import { compileFile } from '../../src/compile.js';
import type { Graph } from '../../src/graph/types.js';
import { seededInput } from '../../src/weights/init.js';
import { busyWeights } from '../helpers/values.js';
import { ZOO } from '../onnx/zoo.js';
import { nativeKernels, skipNative } from './helpers.js';
import { maxRelativeError } from './util.js';

const SPECS: Record<string, string> = { ...ZOO, 'resnet18-float': 'specs/resnet18-float.sofar' };

async function ortLogits(graph: Graph, bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const session = await createSession(bytes, { threads: 2, optimization: 'disabled' });
  try {
    return await runOnnx(session, x, n);
  } finally {
    await session.release();
  }
}

describe.skipIf(skipNative())('the binary runtime on every zoo spec', () => {
  afterAll(() => {
    setNativeIsa('avx512');
  });

  for (const [name, path] of Object.entries(SPECS)) {
    it(`${name}: onnxruntime's logits at 1 and 2 threads`, async () => {
      const graph = compileFile(path).graph!;
      const weights = busyWeights(graph, 1);
      const n = graph.input[1] <= 32 ? 3 : 1;
      const x = seededInput(graph, n, 1);
      const reference = await ortLogits(graph, exportOnnx(graph, weights), x, n);
      const bytes = exportOnnx(graph, weights, { binaryOps: true });
      const results = [1, 2].map((threads) => {
        const runtime = createRuntime(bytes, { kernels: nativeKernels(), threads, batch: n });
        try {
          return runtime.run(x, n);
        } finally {
          runtime.release();
        }
      });
      expect(maxRelativeError(results[0], reference)).toBeLessThan(1e-4);
      expect(results[1]).toEqual(results[0]);
    });
  }

  it('every instruction set this CPU has gives onnxruntime\'s logits (bireal-small, rf-c3-small)', async () => {
    const detected = detectedNativeIsa()!;
    const isas = (['scalar', 'avx2', 'avx512'] as const).slice(0, ['scalar', 'avx2', 'avx512'].indexOf(detected) + 1);
    for (const spec of ['specs/fashion/bireal-small.sofar', 'specs/fashion/rf-c3-small.sofar']) {
      const graph = compileFile(spec).graph!;
      const weights = busyWeights(graph, 4);
      const x = seededInput(graph, 4, 5);
      const reference = await ortLogits(graph, exportOnnx(graph, weights), x, 4);
      const bytes = exportOnnx(graph, weights, { binaryOps: true });
      for (const isa of isas) {
        expect(setNativeIsa(isa)).toBe(isa);
        const runtime = createRuntime(bytes, { kernels: nativeKernels(), threads: 2, batch: 4 });
        expect(runtime.kernels).toBe(`native (${isa})`);
        expect(maxRelativeError(runtime.run(x, 4), reference), `${spec} on ${isa}`).toBeLessThan(1e-4);
        runtime.release();
      }
    }
  });

  it("runs DoReFa-Net at its own 224x224, whose first dense kernel unpacks to 37.7 M floats at load (more than the folder once held)", async () => {
    const graph = compileFile('specs/larq/dorefanet.sofar').graph!;
    const weights = busyWeights(graph, 1);
    const x = seededInput(graph, 1, 1);
    const reference = await ortLogits(graph, exportOnnx(graph, weights), x, 1);
    const runtime = createRuntime(exportOnnx(graph, weights, { binaryOps: true }), { kernels: nativeKernels(), threads: 2 });
    expect(maxRelativeError(runtime.run(x, 1), reference)).toBeLessThan(1e-4);
    runtime.release();
  }, 120_000);

  it('runs any batch size: smaller than planned, then larger (re-planned)', () => {
    const graph = compileFile('specs/fashion/bireal-small.sofar').graph!;
    const bytes = exportOnnx(graph, busyWeights(graph, 2), { binaryOps: true });
    const x = seededInput(graph, 5, 1);
    const runtime = createRuntime(bytes, { kernels: nativeKernels(), batch: 2 });
    const all = runtime.run(x, 5);
    expect(runtime.plan.batch).toBe(5);
    expect(runtime.run(x.subarray(0, 784), 1)).toEqual(all.subarray(0, 10));
    expect(() => runtime.run(x, 4)).toThrow(/need 3136 values/);
    runtime.release();
  });
});
