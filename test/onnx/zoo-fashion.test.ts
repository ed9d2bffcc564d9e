/**
 * The Fashion-MNIST zoo models, small enough for every check: the official checker in all variants,
 * the naive reference interpreter, packed = unpacked, integer = float, and the TensorFlow.js backend
 * through `sofar run`'s own path (onnxruntime with every optimisation on).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { runTfjs } from '../../backends/tfjs/index.js';
import { initWeights, seededInput } from '../../src/weights/init.js';
import { maxDiff, referenceOutputs } from '../helpers/reference.js';
import { runExported } from './util.js';
import { expectCheckerPasses, expectRuns, loadZoo } from './zoo.js';

const SEED = 42;
const N = 2;

describe('zoo: Fashion-MNIST models', () => {
  for (const name of ['fashion/bireal-small', 'fashion/rf-c3-small', 'fashion/drf-c2-small'] as const) {
    it(`${name}: valid in every variant, exact against the reference and the other variants, equal to tfjs`, async () => {
      const graph = loadZoo(name);
      const weights = initWeights(graph, SEED);
      const variants = [{}, { packBits: false }, { integer: true }, { integer: true, packBits: false }].map((o) => exportOnnx(graph, weights, o));
      expectCheckerPasses(variants);
      await expectRuns({ graph, weights, bytes: variants[0] });

      const x = seededInput(graph, N, SEED);
      const outputs = [];
      for (const bytes of variants) {
        const session = await createSession(bytes);
        outputs.push(await runOnnx(session, x, N));
        await session.release();
      }
      const [packed, unpacked, integer, integerUnpacked] = outputs;
      expect(Array.from(unpacked)).toEqual(Array.from(packed));
      expect(Array.from(integerUnpacked)).toEqual(Array.from(integer));
      const tolerance = 1e-4 * maxDiff(packed, packed).scale;
      expect(maxDiff(integer, packed).diff).toBeLessThanOrEqual(tolerance);
      // The naive float64 reference is slow: one sample of the two.
      const perSample = packed.length / N;
      expect(maxDiff(packed.subarray(0, perSample), referenceOutputs(graph, weights, x, 1)).diff).toBeLessThanOrEqual(tolerance);
      // As written (no runtime optimisation) the integer variant is bit-identical to the float one.
      expect(Array.from(await runExported(graph, weights, x, N, { integer: true }, { optimization: 'disabled' }))).toEqual(
        Array.from(await runExported(graph, weights, x, N, {}, { optimization: 'disabled' })),
      );
      const viaTfjs = await runTfjs(graph, weights, x, N, tf);
      expect(maxDiff(viaTfjs, packed).diff).toBeLessThanOrEqual(tolerance);
    });
  }
});
