/**
 * The runtime's loader, fusions and planner on the TypeScript reference kernels (test/helpers/js-kernels.ts),
 * against onnxruntime running the standard export of the same weights: independent of the C kernels.
 */
import { describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { createRuntime } from '../../backends/runtime/index.js';
import { compile } from '../../src/compile.js';
import { initWeights } from '../../src/weights/init.js';
import { jsKernels } from '../helpers/js-kernels.js';
import { busyWeights } from '../helpers/values.js';
import { maxRelativeError } from './util.js';

const TINY = `
model tiny {
  input 3x12x12
  classes 7
  binarize activations = approx_sign, weights = magnitude_aware_sign
  block unit(ch, stride = 1) = residual(shortcut = project(ch, stride) if stride > 1 or channels != ch) {
    bconv 3x3 ch /stride
    bn
  }
  block project(ch, stride) { avgpool 2x2 /stride padding=same; conv 1x1 ch; bn }
  block dense_unit(g) = concat { bn; bconv 3x3 g; bn }
  conv 3x3 24 padding=1 bias=true; bn; relu; maxpool 2x2 /1 padding=same
  unit(24); unit(40, stride = 2)
  fractal(columns = 3) { unit(40) }
  dense_unit(13); dense_unit(13)
  bn; prelu; hardtanh min=-2 max=3
  global_avgpool
  bdense 32 bias=true
  bn
  dense 7
}`;

async function orLogits(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const session = await createSession(bytes);
  try {
    return await runOnnx(session, x, n);
  } finally {
    await session.release();
  }
}

describe('the runtime planner on reference kernels', () => {
  it('gives onnxruntime\'s logits on a net with every fusion (residual, concat slices, packed signs, folded BN)', async () => {
    const { graph, diagnostics } = compile(TINY, 'tiny.sofar');
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const weights = busyWeights(graph!, 3);
    const n = 3;
    const x = Float32Array.from({ length: n * 3 * 12 * 12 }, (_, i) => Math.sin(i * 0.37) * 2);
    const reference = await orLogits(exportOnnx(graph!, weights), x, n);
    const runtime = createRuntime(exportOnnx(graph!, weights, { binaryOps: true }), { kernels: jsKernels(), batch: n });
    const logits = runtime.run(x, n);
    expect(maxRelativeError(logits, reference)).toBeLessThan(1e-4);
    const s = runtime.plan.stats;
    expect(s.fusedPacks).toBeGreaterThan(0);
    expect(s.fusedAffinePacks).toBeGreaterThan(0);
    expect(s.fusedResiduals).toBeGreaterThan(0);
    expect(s.sliceWrites).toBeGreaterThan(0);
  });
});
