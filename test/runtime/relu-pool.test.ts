/**
 * A relu read only by a max pool (QuickNet's transition: relu → maxpool 2x2 /1) is not stored: the pool takes the
 * max of the relu of its input (maxpoolReluF32), with onnxruntime's logits on the standard export and bit-identical
 * to the plan that runs the relu and the pool as two steps; a relu that something else also reads stays a step.
 * Native at 1 and 2 threads, WebAssembly.
 */
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../../backends/runtime/index.js';
import { bundledWasmForSuite, exportedPair, nativeKernels, ortLogits, runOnce, skipNative } from './helpers.js';
import { maxRelativeError } from './util.js';

const model = (transition: string) => `
model relu_pool {
  input 3x21x18
  classes 5
  binarize activations = approx_sign, weights = magnitude_aware_sign
  conv 3x3 40 padding=same
  bn
  # QuickNet's block: the relu before the batch norm, the shortcut after it (no relu on the sum)
  residual(shortcut = none) { bconv 3x3 40 padding=same; relu; bn }
  ${transition}
  global_avgpool
  dense 5
}`;

/** QuickNet's transition (the relu read by the pool alone), then its blur-pool-like strided conv. */
const FUSED = model('relu; maxpool 2x2 /1; conv 3x3 24 /2 padding=same; bn');
/** The relu also read by a residual add: it must be stored. */
const SHARED = model('relu; residual(shortcut = none) { maxpool 3x3 /1 padding=same }; conv 1x1 24; bn');

const exported = (source: string, seed: number) => exportedPair(source, 'relu-pool.sofar', seed, 0.41);

const kernelsOf = (bytes: Uint8Array, kernels: ReturnType<typeof nativeKernels>) => {
  const plan = createRuntime(bytes, { kernels, batch: 2 });
  const names = plan.plan.steps.map((s) => s.kernel);
  plan.release();
  return names;
};

describe.skipIf(skipNative())('relu → max pool on the runtime', () => {
  const wasm = bundledWasmForSuite();
  const split = () => ({ ...nativeKernels(), maxpoolReluF32: undefined });

  it('a relu read only by a max pool runs inside the pool, exact', async () => {
    const { standard, runtime: bytes, x } = exported(FUSED, 21);
    const reference = await ortLogits(standard, x, 2);
    const fused = kernelsOf(bytes, nativeKernels());
    expect(fused).toContain('maxpoolReluF32');
    expect(fused).not.toContain('reluF32');
    expect(fused).not.toContain('maxpoolF32');
    expect(kernelsOf(bytes, split())).toEqual(expect.arrayContaining(['reluF32', 'maxpoolF32']));
    for (const threads of [1, 2]) {
      const y = runOnce(bytes, nativeKernels(), threads, x, 2);
      expect(maxRelativeError(y, reference), `native, ${threads} threads`).toBeLessThan(1e-4);
      expect(y).toEqual(runOnce(bytes, split(), threads, x, 2));
    }
    expect(maxRelativeError(runOnce(bytes, wasm(), 1, x, 2), reference), 'wasm').toBeLessThan(1e-4);
  });

  it('a relu that a residual also reads is stored', async () => {
    const { standard, runtime: bytes, x } = exported(SHARED, 22);
    const kernels = kernelsOf(bytes, nativeKernels());
    expect(kernels).toContain('reluF32');
    expect(kernels).not.toContain('maxpoolReluF32');
    expect(maxRelativeError(runOnce(bytes, nativeKernels(), 2, x, 2), await ortLogits(standard, x, 2))).toBeLessThan(1e-4);
  });
});
