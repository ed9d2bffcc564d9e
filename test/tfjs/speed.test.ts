/**
 * The engine learns, and how fast: a tiny binary net trained on a separable task must lower its
 * held-out loss; the throughput (samples/s) is printed for backends/tfjs/README.md. Set
 * SOFAR_TFJS_SPEED_SPEC=specs/fashion/bireal-small.sofar to also time a few steps of a zoo model.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { TfjsEngine } from '../../backends/tfjs/index.js';
import { compileFile } from '../../src/compile.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/types.js';
import { Random } from '../../src/random.js';
import { initWeights } from '../../src/weights/init.js';
import { noNoise } from './graphs.js';

const SELECTION = { backendName: 'cpu', device: 'cpu', package: '@tensorflow/tfjs' } as const;

/** Class 0: a bright top-left quadrant; class 1: bottom-right; plus unit noise. */
function task(graph: Graph, n: number, rng: Random) {
  const [c, h, w] = graph.input;
  const x = new Float32Array(n * c * h * w);
  const y = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    y[s] = rng.int(2);
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) {
          const lit = y[s] === 0 ? i < h / 2 && j < w / 2 : i >= h / 2 && j >= w / 2;
          x[((s * c + ch) * h + i) * w + j] = (lit ? 1.5 : 0) + rng.normal();
        }
  }
  return { x, y, n };
}

function crossEntropy(logits: Float32Array, y: Int32Array, classes: number): number {
  let total = 0;
  for (let s = 0; s < y.length; s++) {
    const row = Array.from(logits.subarray(s * classes, (s + 1) * classes));
    const max = Math.max(...row);
    total += Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) + max - row[y[s]];
  }
  return total / y.length;
}

async function timeSteps(engine: TfjsEngine, graph: Graph, steps: number, batch: number, lr: number, rng: Random) {
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    const result = await engine.trainStep(task(graph, batch, rng), lr, noNoise());
    expect(Number.isFinite(result.loss)).toBe(true);
  }
  return (steps * batch) / ((performance.now() - t0) / 1000);
}

describe('tfjs engine throughput', () => {
  it('a tiny Bi-Real net learns a separable task (held-out loss falls); prints samples/s', async () => {
    const b = new GraphBuilder({ name: 'tiny', input: [1, 8, 8], classes: 2, binarize: { activations: 'approx_sign', weights: 'magnitude_aware_sign' } });
    let x = b.batchnorm(b.conv(b.input(), { filters: 4, kernel: 3 }));
    x = b.residual(x, (z) => b.batchnorm(b.bconv(z, { filters: 4, kernel: 3 })));
    const graph = b.finish(b.dense(b.flatten(b.maxpool(x, { kernel: 2 })), { units: 2 }));
    const engine = new TfjsEngine(tf, graph, initWeights(graph, 1), { name: 'adam', momentum: 0.9, weightDecay: 0 }, SELECTION);
    try {
      const rng = new Random(5, 'speed');
      const heldOut = task(graph, 64, new Random(6, 'held-out'));
      const before = crossEntropy(await engine.predict(heldOut.x, heldOut.n), heldOut.y, 2);
      const rate = await timeSteps(engine, graph, 30, 16, 0.01, rng);
      const after = crossEntropy(await engine.predict(heldOut.x, heldOut.n), heldOut.y, 2);
      console.log(`tfjs pure-JS CPU, 1×8×8 net with 4-channel convs, batch 16: ${rate.toFixed(0)} samples/s; held-out loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
      expect(after).toBeLessThan(0.7 * before);
    } finally {
      await engine.dispose();
    }
  });

  const spec = process.env.SOFAR_TFJS_SPEED_SPEC;
  it.runIf(spec)(`times training on ${spec ?? 'a zoo spec'}`, async () => {
    const graph = compileFile(spec!).graph!;
    const engine = new TfjsEngine(tf, graph, initWeights(graph, 1), { name: 'adam', momentum: 0.9, weightDecay: 0 }, SELECTION);
    try {
      const rng = new Random(5, 'speed');
      await timeSteps(engine, graph, 1, 8, 1e-3, rng); // warm-up
      const rate = await timeSteps(engine, graph, 3, 8, 1e-3, rng);
      console.log(`tfjs pure-JS CPU, ${spec}, batch 8: ${rate.toFixed(2)} samples/s (training)`);
    } finally {
      await engine.dispose();
    }
  });
});
