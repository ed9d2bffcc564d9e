/**
 * Issue 20's constructs in the ORT engine beyond their gradients (gradients.test.ts): a Bop training
 * step on each reports the float64 reference's loss, its inference model (with batch norms folded into
 * float convs) equals the float64 reference for every construct;
 * and fixed, non-trainable kernels (QuickNet's blur pool) are touched by no optimizer — not SGD, Adam or
 * Bop, not weight decay, not kernel clipping — while every trainable kernel around them moves, and
 * inference after training still convolves with the fixed values.
 */
import { describe, expect, it } from 'vitest';
import { createOrtEngine } from '../../backends/ort-train/index.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/types.js';
import type { OptimizerConfig } from '../../src/train/engine.js';
import { maxDiff, referenceOutputs } from '../helpers/reference.js';
import { blurKernel, constructCases } from '../onnx/constructs.js';
import { busyWeights, labels, noNoise, normalValues } from './graphs.js';
import { referencePass, toFloat64 } from './reference.js';


const N = 4;

describe('ORT engine on issue 20 constructs', () => {
  for (const c of constructCases()) {
    it(`${c.name}: a Bop training step reports the float64 reference's loss and moves the weights`, async () => {
      const weights = busyWeights(c.graph, 43);
      const engine = await createOrtEngine({ graph: c.graph, weights, optimizer: { name: 'bop', momentum: 0.9, weightDecay: 0.01, bopThreshold: 0 }, batchSize: N, threads: 1 });
      try {
        const x = normalValues(N * c.graph.input.reduce((a, b) => a * b, 1), 44);
        const y = labels(N, 45);
        const { loss } = await engine.trainStep({ x, y, n: N }, 0.01, noNoise());
        const ref = referencePass(c.graph, toFloat64(weights), x, y, N, noNoise());
        expect(Math.abs(loss - ref.loss)).toBeLessThan(1e-5 * Math.max(1, ref.loss));
        const after = (await engine.getState()).weights;
        expect(c.graph.nodes.flatMap((nd) => nd.params).filter((p) => p.trainable).some((p) => after.get(p.name)!.some((v, i) => v !== weights.get(p.name)![i]))).toBe(true);
      } finally {
        await engine.dispose();
      }
    });

    it(`${c.name}: predict equals the float64 reference`, async () => {
      const weights = busyWeights(c.graph, 41);
      const engine = await createOrtEngine({ graph: c.graph, weights, optimizer: { name: 'adam', momentum: 0.9, weightDecay: 0 }, batchSize: N, threads: 1 });
      try {
        const x = normalValues(N * c.graph.input.reduce((a, b) => a * b, 1), 42);
        const { diff, scale } = maxDiff(await engine.predict(x, N), referenceOutputs(c.graph, weights, x, N));
        expect(scale).toBeGreaterThan(0);
        expect(diff).toBeLessThanOrEqual(1e-5 * scale);
      } finally {
        await engine.dispose();
      }
    });
  }
});

/** float stem → fixed depthwise blur (stride 2) → binary conv (clipped) → head. */
function blurGraph(): Graph {
  const b = new GraphBuilder({ name: 'blur', input: [2, 8, 8], classes: 3, binarize: { activations: 'ste_sign', weights: 'ste_sign' } });
  const stem = b.batchnorm(b.conv(b.input(), { name: 'stem', filters: 4, kernel: 3 }));
  const blurred = b.conv(stem, { name: 'blur', filters: 4, kernel: 3, stride: 2, groups: 4, fixedKernel: blurKernel(4) });
  const y = b.batchnorm(b.bconv(blurred, { filters: 4, kernel: 3, kernelClip: 0.05 }));
  const graph = b.finish(b.dense(b.globalAvgpool(y), { name: 'head', units: 3 }));
  expect(b.diagnostics).toEqual([]);
  return graph;
}

describe('fixed kernels in the ORT engine', () => {
  const optimizers: OptimizerConfig[] = [
    { name: 'sgd', momentum: 0.9, weightDecay: 0.5 },
    { name: 'adam', momentum: 0.9, weightDecay: 0.5 },
    { name: 'bop', momentum: 0.9, weightDecay: 0.5, bopThreshold: 0 },
  ];
  for (const optimizer of optimizers) {
    it(`${optimizer.name} with weight decay: the blur kernel keeps its values, the trainable kernels move`, async () => {
      const graph = blurGraph();
      const weights = busyWeights(graph, 3);
      const fixed = weights.get('blur/kernel')!.slice();
      expect(Array.from(fixed)).toEqual(blurKernel(4).map(Math.fround));
      const engine = await createOrtEngine({ graph, weights, optimizer, batchSize: N, threads: 1 });
      try {
        for (let step = 0; step < 3; step++) {
          await engine.trainStep({ x: normalValues(N * 128, 10 + step), y: labels(N, 20 + step), n: N }, 0.1, noNoise());
        }
        const state = await engine.getState();
        expect(Array.from(state.weights.get('blur/kernel')!)).toEqual(Array.from(fixed));
        // No optimizer slots for it: it is not a parameter any optimizer sees.
        expect([...state.slots.keys()].filter((k) => k.startsWith('blur/'))).toEqual([]);
        for (const name of ['stem/kernel', 'bconv/kernel', 'head/kernel']) {
          const before = weights.get(name)!;
          expect(state.weights.get(name)!.some((v, i) => v !== before[i]), `${name} moved`).toBe(true);
        }
        // Clipping bounds the binary kernel (after Bop too).
        expect(Math.max(...state.weights.get('bconv/kernel')!.map(Math.abs))).toBeLessThanOrEqual(Math.fround(0.05));

        const x = normalValues(N * 128, 99);
        const { diff, scale } = maxDiff(await engine.predict(x, N), referenceOutputs(graph, state.weights, x, N));
        expect(diff).toBeLessThanOrEqual(1e-5 * scale);
      } finally {
        await engine.dispose();
      }
    });
  }
});
