/**
 * The Fashion-MNIST zoo specs: the tfjs Keras model and the ONNX backend agree for the same seed
 * (weights from the seeded initialisation, input from the seed), max |diff| ≤ 1e-4 × max |output|.
 *
 * The ONNX session is the one `sofar run` uses (every onnxruntime optimisation on). Binary layers make
 * this strict: a fused op that turns an exact 0 into ±1e-7 before a sign flips sign(0) = +1 and moves
 * the logits by whole units (drf-c2-small did, before the ONNX backend kept binary convs exact).
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { runTfjs } from '../../backends/tfjs/index.js';
import { compileFile } from '../../src/compile.js';
import { hasErrors } from '../../src/diagnostics.js';
import { initWeights, seededInput } from '../../src/weights/init.js';
import { maxAbs, maxAbsDiff } from '../helpers/reference.js';

const SPECS = [
  'specs/fashion/bireal-small.sofar',
  'specs/fashion/rf-c3-small.sofar',
  'specs/fashion/drf-c2-small.sofar',
  // Issue 20: QuickNet's fixed blur-pool depthwise convs and one-padding; ReActNet's biases, RPReLUs and parallel branches.
  'specs/fashion/quicknet-small.sofar',
  'specs/fashion/reactnet-small.sofar',
];
const SEED = 42;
const N = 2;

describe('tfjs vs ONNX on the Fashion-MNIST zoo', () => {
  for (const spec of SPECS) {
    it(spec, async () => {
      const { graph, diagnostics } = compileFile(spec);
      expect(hasErrors(diagnostics), diagnostics.map((d) => d.message).join('\n')).toBe(false);
      const weights = initWeights(graph!, SEED);
      const x = seededInput(graph!, N, SEED);
      const t0 = performance.now();
      const tfjsOut = await runTfjs(graph!, weights, x, N, tf);
      const tfjsMs = performance.now() - t0;
      const session = await createSession(exportOnnx(graph!, weights));
      try {
        const onnxOut = await runOnnx(session, x, N);
        expect(tfjsOut.length).toBe(N * graph!.classes);
        const diff = maxAbsDiff(tfjsOut, onnxOut);
        console.log(`${spec}: ${graph!.nodes.length} nodes, tfjs ${tfjsMs.toFixed(0)} ms for ${N} samples, max |diff| ${diff.toExponential(2)}, max |output| ${maxAbs(onnxOut).toFixed(3)}`);
        expect(diff).toBeLessThanOrEqual(1e-4 * maxAbs(onnxOut));
      } finally {
        await session.release();
      }
    });
  }
});
