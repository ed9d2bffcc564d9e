/**
 * Bop (Helwegen et al. 2019, "Latent weights do not exist", Algorithm 1) in both engines, against the
 * paper's rule written out here: for a binary weight w with gradient g,
 *   m ← (1 − γ)·m + γ·g;   w ← −sign(w) if |m| > τ and sign(m) = sign(w), else sign(w)
 * (sign(0) = +1), while float parameters take Adam's first step, w − lr·g/(|g| + ε). The flip ratio is
 * the share of binary weights whose sign the step changed.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createOrtEngine } from '../../backends/ort-train/engine.js';
import { ortGradients } from '../../backends/ort-train/gradients.js';
import { tfjsEngineFactory } from '../../backends/tfjs/engine.js';
import { compileFile } from '../../src/compile.js';
import { loadDataset } from '../../src/data/index.js';
import { dropPathMasks, planDropPath } from '../../src/train/droppath.js';
import { dropoutMasks, planDropout } from '../../src/train/dropout.js';
import type { EngineFactory, OptimizerConfig } from '../../src/train/engine.js';
import { initWeights } from '../../src/weights/init.js';

const graph = compileFile(join(import.meta.dirname, 'fixtures', 'tiny-params.sofar')).graph!;
const data = loadDataset('synthetic', graph).train;
const n = 16;
const batch = { x: data.x.slice(0, n * 64), y: data.y.slice(0, n), n };
const noise = { joinMasks: dropPathMasks(planDropPath(graph), 0, 0), dropoutMasks: dropoutMasks(planDropout(graph), 0, 0, n) };
const gamma = 0.5;
const threshold = 1e-3;
const lr = 0.01;
const optimizer: OptimizerConfig = { name: 'bop', momentum: 0.9, weightDecay: 0, bopGamma: gamma, bopThreshold: threshold };
const params = graph.nodes.flatMap((node) => node.params).filter((p) => p.trainable);

describe.each([
  ['ort', createOrtEngine],
  ['tfjs', tfjsEngineFactory({ device: 'cpu' })],
] as [string, EngineFactory][])('Bop in the %s engine', (_, factory) => {
  it("flips binary weights by the paper's rule, steps float ones by Adam, and reports the flip ratio", async () => {
    const weights = initWeights(graph, 1);
    const grads = await ortGradients(graph, weights, batch, noise);
    const engine = await factory({ graph, weights, optimizer, batchSize: n });
    const result = await engine.trainStep(batch, lr, noise);
    const state = await engine.getState();
    await engine.dispose();

    let flipped = 0;
    let binaryCount = 0;
    for (const p of params) {
      const w0 = weights.get(p.name)!;
      const g = grads.get(p.name)!;
      const w1 = state.weights.get(p.name)!;
      const m = state.slots.get(`${p.name}/m`)!;
      for (let i = 0; i < w0.length; i++) {
        if (p.binary) {
          const sign = w0[i] >= 0 ? 1 : -1;
          const mi = gamma * g[i];
          const flips = Math.abs(mi) > threshold && Math.sign(mi) === sign;
          expect(w1[i], `${p.name}[${i}]`).toBe(flips ? -sign : sign);
          expect(m[i]).toBeCloseTo(mi, 5);
          expect(state.slots.get(`${p.name}/v`)![i]).toBe(0);
          binaryCount++;
          if (flips) flipped++;
        } else if (Math.abs(g[i]) > 1e-5) {
          expect(w1[i], `${p.name}[${i}]`).toBeCloseTo(w0[i] - (lr * g[i]) / (Math.abs(g[i]) + 1e-8), 5);
        } else {
          expect(Math.abs(w1[i] - w0[i])).toBeLessThanOrEqual(lr * 1.0001);
        }
      }
    }
    expect(flipped).toBeGreaterThan(0);
    expect(flipped).toBeLessThan(binaryCount);
    expect(result.flipRatio).toBeCloseTo(flipped / binaryCount, 6);
  });
});
