/**
 * The tfjs backend on a real WebGPU adapter (Mesa's llvmpipe in CI, whatever Dawn finds elsewhere;
 * skipped with a warning where there is none): every construct of issue 20 against the float64
 * reference, its gradients against the ONNX Runtime engine on the CPU, and DoReFa's exact ties, whose
 * error-free product must survive the GPU's float32 arithmetic.
 */
import { describe, expect, it } from 'vitest';
import { ortGradients } from '../../backends/ort-train/index.js';
import { selectTfjs } from '../../backends/tfjs/device.js';
import { gradients, runTfjs } from '../../backends/tfjs/index.js';
import { quantize } from '../../backends/tfjs/quantizers.js';
import { probeWebGpuAdapter } from '../../backends/webgpu/adapter.js';
import { skipWithout } from '../helpers/requirements.js';
import { maxAbs, maxAbsDiff, referenceForward } from '../helpers/reference.js';
import { constructCases } from '../onnx/constructs.js';
import { busyWeights, noNoise, normalValues } from './graphs.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const probe = await probeWebGpuAdapter();
const skip = skipWithout(probe.adapter ? null : `no WebGPU adapter (${probe.failure}); install Mesa ≥ 25's Vulkan driver as .ci/run does`);

describe.skipIf(skip)(`tfjs on WebGPU (${probe.adapter?.description ?? 'no adapter'})`, () => {
  // Selected on first use: a skipped describe body still runs while vitest collects, and must not touch the GPU.
  let selection: ReturnType<typeof selectTfjs> | undefined;
  const onGpu = () => (selection ??= selectTfjs({ device: 'webgpu' }));

  it('runs on the webgpu backend', async () => {
    expect((await onGpu()).tf.getBackend()).toBe('webgpu');
  });

  for (const c of constructCases()) {
    it(`${c.name}: logits equal the reference, gradients the ONNX Runtime engine's`, async () => {
      const { tf } = await onGpu();
      const weights = busyWeights(c.graph, 31);
      const x = normalValues(3 * 3 * 8 * 8, 32);
      const out = await runTfjs(c.graph, weights, x, 3, tf);
      const expected = referenceForward(c.graph, weights, x, 3).output.data;
      expect(maxAbsDiff(out, expected)).toBeLessThanOrEqual(1e-4 * maxAbs(expected));
      const batch = { x, y: Int32Array.from([0, 3, 1]), n: 3 };
      const ours = await gradients(c.graph, weights, batch, noNoise(), tf);
      const theirs = await ortGradients(c.graph, weights, batch, noNoise());
      for (const [name, g] of theirs) expect(maxAbsDiff(ours.get(name)!, g), name).toBeLessThanOrEqual(1e-6 + 1e-4 * maxAbs(g));
    });
  }

  it('dorefa rounds the exact product at float32 ties', async () => {
    const { tf } = await onGpu();
    // fl(x·n) is exactly m + ½ for each, while x·n lies above (first and third) or below it.
    const cases = [
      { x: 0.1666666716337204, k: 2, level: 1 },
      { x: 0.7857142686843872, k: 3, level: 5 },
      { x: 0.0714285746216774, k: 3, level: 1 },
      { x: 0.9285714030265808, k: 3, level: 6 },
    ];
    for (const { x, k, level } of cases) {
      const n = 2 ** k - 1;
      expect(Math.fround(x * n) % 1).toBe(0.5);
      const t = tf.tensor([x]);
      const q = quantize(tf, t, { name: 'dorefa', args: { k_bit: k } });
      expect((await q.data())[0], `x = ${x}`).toBe(Math.fround(level / n));
      tf.dispose([t, q]);
    }
  });
});
