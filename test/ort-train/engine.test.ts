/**
 * The ORT training engine as a whole: one step's update against the optimizer formulas of
 * docs/semantics.md (computed here on the host from the step's gradients), moving statistics against
 * the float64 reference's batch statistics, exact resume through getState/setState, inference against
 * the ONNX inference backend, the loss curve against the tfjs engine, and flat memory over many steps.
 */
import { describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { createOrtEngine, ortLossAndGradients } from '../../backends/ort-train/index.js';
import { tfjsEngineFactory } from '../../backends/tfjs/engine.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import type { Batch, OptimizerConfig, StepNoise, TrainEngine } from '../../src/train/engine.js';
import { busyWeights, labels, noNoise, normalValues, relativeError, someNoise } from './graphs.js';
import { referencePass, toFloat64 } from './reference.js';

const N = 4;

/** Float and binary convs (weight decay, clipping), batch norm, a fractal with drop-path, dropout. */
function mixedGraph(): Graph {
  const b = new GraphBuilder({ name: 'mixed', input: [2, 6, 6], classes: 3, binarize: { activations: 'approx_sign', weights: 'magnitude_aware_sign' } });
  let x = b.batchnorm(b.conv(b.input(), { name: 'stem', filters: 4, kernel: 3 }));
  x = b.residual(x, (z) => b.batchnorm(b.bconv(z, { filters: 4, kernel: 3, kernelClip: 0.2 })));
  x = b.fractal(x, { columns: 2, join: 'mean', dropPath: 0.5 }, (z) => b.batchnorm(b.conv(z, { filters: 4, kernel: 3 })));
  x = b.dropout(b.relu(x), { rate: 0.25 });
  const out = b.dense(b.globalAvgpool(x), { units: 3 });
  return b.finish(out);
}

function batchOf(graph: Graph, seed: number, n = N): Batch {
  return { x: normalValues(n * graph.input.reduce((a, b) => a * b, 1), seed), y: labels(n, seed + 1), n };
}

const trainable = (graph: Graph) => graph.nodes.flatMap((n) => n.params).filter((p) => p.trainable);
const binaryKernels = (graph: Graph) => new Set(graph.nodes.flatMap((n) => n.params).filter((p) => p.binary).map((p) => p.name));

/**
 * The update of docs/semantics.md, in float64 on the host: weight decay on float kernels, the optimizer,
 * clipping of binary kernels. Mutates `weights` and `slots` and returns nothing.
 */
function hostUpdate(graph: Graph, optimizer: OptimizerConfig, lr: number, t: number, weights: Map<string, Float64Array>, slots: Map<string, Float64Array>, grads: WeightMap) {
  const binary = binaryKernels(graph);
  const clips = new Map<string, number>();
  for (const node of graph.nodes) if (node.op === 'conv' && node.attrs.kernelClip !== null) clips.set(node.params[0].name, node.attrs.kernelClip);
  for (const p of trainable(graph)) {
    const w = weights.get(p.name)!;
    const g = Float64Array.from(grads.get(p.name)!);
    if (p.role === 'kernel' && !binary.has(p.name)) g.forEach((v, i) => (g[i] = v + optimizer.weightDecay * w[i]));
    if (optimizer.name === 'sgd') {
      const v = slots.get(`${p.name}/momentum`)!;
      g.forEach((gi, i) => {
        v[i] = optimizer.momentum * v[i] + gi;
        w[i] -= lr * v[i];
      });
    } else {
      const m = slots.get(`${p.name}/m`)!;
      const v = slots.get(`${p.name}/v`)!;
      g.forEach((gi, i) => {
        m[i] = 0.9 * m[i] + 0.1 * gi;
        v[i] = 0.999 * v[i] + 0.001 * gi * gi;
        w[i] -= (lr * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
      });
    }
    const clip = clips.get(p.name);
    if (clip !== undefined) w.forEach((v, i) => (w[i] = Math.min(clip, Math.max(-clip, v))));
  }
}

async function engineFor(graph: Graph, weights: WeightMap, optimizer: OptimizerConfig): Promise<TrainEngine> {
  return createOrtEngine({ graph, weights, optimizer, batchSize: N, threads: 1 });
}

describe('ORT engine: one step against the formulas', () => {
  const optimizers: OptimizerConfig[] = [
    { name: 'sgd', momentum: 0.9, weightDecay: 0.05 },
    { name: 'adam', momentum: 0.9, weightDecay: 0.05 },
  ];
  for (const optimizer of optimizers) {
    it(`${optimizer.name}: parameters, slots, moving statistics, loss and hits over two steps`, async () => {
      const graph = mixedGraph();
      const weights = busyWeights(graph, 3);
      // Latent binary weights near the clip, so that the update pushes some of them past it.
      for (const name of binaryKernels(graph)) weights.get(name)!.forEach((v, i, a) => (a[i] = 0.1995 * Math.sign(v) + 0.001 * v));
      const engine = await engineFor(graph, weights, optimizer);
      const lr = optimizer.name === 'sgd' ? 0.2 : 0.01;
      const hostWeights = toFloat64(weights);
      const hostSlots = new Map(trainable(graph).flatMap((p) => (optimizer.name === 'sgd' ? ['momentum'] : ['m', 'v']).map((s) => [`${p.name}/${s}`, new Float64Array(p.shape.reduce((a, b) => a * b, 1))])));
      let clipped = 0;
      for (let t = 1; t <= 2; t++) {
        const batch = batchOf(graph, 40 + t);
        const noise = someNoise(graph, N, 50 + t);
        const before = await engine.getState();
        const { gradients } = await ortLossAndGradients(graph, before.weights, batch, noise, 1);
        const ref = referencePass(graph, toFloat64(before.weights), batch.x, batch.y, N, noise);
        const result = await engine.trainStep(batch, lr, noise);

        expect(result.loss).toBeCloseTo(ref.loss, 5);
        let hits = 0;
        for (let s = 0; s < N; s++) {
          const row = Array.from(ref.logits.subarray(s * 3, s * 3 + 3));
          if (row.indexOf(Math.max(...row)) === batch.y[s]) hits++;
        }
        expect(result.correct).toBe(hits);

        hostUpdate(graph, optimizer, lr, t, hostWeights, hostSlots, gradients);
        const after = await engine.getState();
        expect(after.step).toBe(t);
        for (const p of trainable(graph)) {
          expect(relativeError(after.weights.get(p.name)!, hostWeights.get(p.name)!), p.name).toBeLessThan(1e-5);
          if (binaryKernels(graph).has(p.name)) clipped += after.weights.get(p.name)!.filter((v) => Math.abs(v) === Math.fround(0.2)).length;
        }
        for (const [name, v] of hostSlots) expect(relativeError(after.slots.get(name)!, v), name).toBeLessThan(1e-5);
        expect([...after.slots.keys()].sort()).toEqual([...hostSlots.keys()].sort());

        // Moving statistics: Keras momentum 0.9 toward the batch mean and biased variance.
        for (const node of graph.nodes) {
          if (node.op !== 'batchnorm') continue;
          const stats = ref.batchStats.get(node.name)!;
          const [mean, variance] = [`${node.name}/moving_mean`, `${node.name}/moving_variance`];
          const expectMean = before.weights.get(mean)!.map((m, i) => 0.9 * m + 0.1 * stats.mean[i]);
          const expectVar = before.weights.get(variance)!.map((m, i) => 0.9 * m + 0.1 * stats.variance[i]);
          expect(relativeError(after.weights.get(mean)!, expectMean), mean).toBeLessThan(1e-5);
          expect(relativeError(after.weights.get(variance)!, expectVar), variance).toBeLessThan(1e-5);
        }
      }
      expect(clipped).toBeGreaterThan(0);
      await engine.dispose();
    });
  }
});

describe('ORT engine: state and inference', () => {
  it('resumes exactly from getState/setState, optimizer slots and step count included', async () => {
    const graph = mixedGraph();
    const optimizer: OptimizerConfig = { name: 'adam', momentum: 0.9, weightDecay: 1e-3 };
    const batches = [1, 2, 3].map((i) => batchOf(graph, 60 + i));
    const noises = [1, 2, 3].map((i) => someNoise(graph, N, 70 + i));
    const a = await engineFor(graph, busyWeights(graph, 4), optimizer);
    await a.trainStep(batches[0], 0.01, noises[0]);
    const saved = await a.getState();
    for (let i = 1; i < 3; i++) await a.trainStep(batches[i], 0.01, noises[i]);

    const b = await engineFor(graph, busyWeights(graph, 99), optimizer);
    await b.setState(saved);
    for (let i = 1; i < 3; i++) await b.trainStep(batches[i], 0.01, noises[i]);
    const [sa, sb] = [await a.getState(), await b.getState()];
    expect(sb.step).toBe(3);
    for (const [name, w] of sa.weights) expect(Array.from(sb.weights.get(name)!), name).toEqual(Array.from(w));
    for (const [name, s] of sa.slots) expect(Array.from(sb.slots.get(name)!), name).toEqual(Array.from(s));
    await a.dispose();
    await b.dispose();
  });

  it('predicts what the ONNX inference backend computes from the same weights (moving statistics, no masks)', async () => {
    const graph = mixedGraph();
    const engine = await engineFor(graph, busyWeights(graph, 5), { name: 'sgd', momentum: 0.9, weightDecay: 0 });
    await engine.trainStep(batchOf(graph, 80), 0.05, someNoise(graph, N, 81));
    const { weights } = await engine.getState();
    const x = normalValues(10 * 2 * 6 * 6, 82); // more samples than the batch size: predicted in chunks
    const logits = await engine.predict(x, 10);
    const session = await createSession(exportOnnx(graph, weights));
    const expected = await runOnnx(session, x, 10);
    expect(relativeError(logits, expected)).toBeLessThan(1e-5);
    await session.release();
    await engine.dispose();
  });

  it('refuses labels outside the classes and masks of the wrong size', async () => {
    const graph = mixedGraph();
    const engine = await engineFor(graph, busyWeights(graph, 6), { name: 'sgd', momentum: 0.9, weightDecay: 0 });
    const batch = batchOf(graph, 90);
    await expect(engine.trainStep({ ...batch, y: Int32Array.from([0, 1, 3, 0]) }, 0.1, someNoise(graph, N, 1))).rejects.toThrow(/label 3/);
    const noise = someNoise(graph, N, 1);
    noise.joinMasks.set([...noise.joinMasks.keys()][0], Float32Array.of(1, 1, 1));
    await expect(engine.trainStep(batch, 0.1, noise)).rejects.toThrow(/drop-path mask/);
    await engine.dispose();
  });

  it('a dropout without a mask is the identity, as in the tfjs engine', async () => {
    const graph = mixedGraph();
    const optimizer: OptimizerConfig = { name: 'sgd', momentum: 0.9, weightDecay: 0 };
    const batch = batchOf(graph, 91);
    const ones = noNoise();
    for (const node of graph.nodes) if (node.op === 'dropout') ones.dropoutMasks.set(node.name, new Float32Array(N * node.shape.reduce((a, b) => a * b, 1)).fill(1));
    expect(ones.dropoutMasks.size).toBeGreaterThan(0);
    const without = await engineFor(graph, busyWeights(graph, 6), optimizer);
    const withOnes = await engineFor(graph, busyWeights(graph, 6), optimizer);
    expect((await without.trainStep(batch, 0.1, noNoise())).loss).toBe((await withOnes.trainStep(batch, 0.1, ones)).loss);
    await without.dispose();
    await withOnes.dispose();
  });
});

describe('ORT engine against the tfjs engine', () => {
  it('same seed and batches give the same loss curve', async () => {
    const graph = mixedGraph();
    const weights = busyWeights(graph, 8);
    const optimizer: OptimizerConfig = { name: 'adam', momentum: 0.9, weightDecay: 1e-4 };
    const ort = await engineFor(graph, weights, optimizer);
    const tfjs = await tfjsEngineFactory({ device: 'cpu' })({ graph, weights, optimizer, batchSize: N });
    const curves: [number[], number[]] = [[], []];
    for (let step = 0; step < 8; step++) {
      const batch = batchOf(graph, 100 + step);
      const noise = someNoise(graph, N, 200 + step);
      curves[0].push((await ort.trainStep(batch, 0.005, noise)).loss);
      curves[1].push((await tfjs.trainStep(batch, 0.005, noise)).loss);
    }
    // The loss must move (the comparison would be empty otherwise) and both engines agree step by step.
    expect(Math.abs(curves[0][7] - curves[0][0])).toBeGreaterThan(1e-3);
    for (let i = 0; i < curves[0].length; i++) expect(Math.abs(curves[0][i] - curves[1][i]), `step ${i}`).toBeLessThan(1e-4 * Math.max(1, curves[1][i]));
    await ort.dispose();
    await tfjs.dispose();
  });
});

describe('ORT engine memory', () => {
  it('does not grow over many steps (full and partial batches)', async () => {
    const graph = mixedGraph();
    const engine = await createOrtEngine({ graph, weights: busyWeights(graph, 9), optimizer: { name: 'adam', momentum: 0.9, weightDecay: 0 }, batchSize: 32, threads: 1 });
    const full = batchOf(graph, 300, 32);
    const partial = batchOf(graph, 301, 20);
    const noises = [someNoise(graph, 32, 302), someNoise(graph, 20, 303)];
    const run = async (steps: number) => {
      for (let i = 0; i < steps; i++) {
        await engine.trainStep(i % 5 === 4 ? partial : full, 0.001, noises[i % 5 === 4 ? 1 : 0]);
        if (i % 10 === 0) await engine.predict(full.x, 32);
      }
    };
    await run(100); // warm-up: ORT's arena and memory patterns settle for both batch sizes
    global.gc?.();
    const before = process.memoryUsage().rss;
    await run(600);
    global.gc?.();
    const grown = (process.memoryUsage().rss - before) / 2 ** 20;
    expect(grown, `resident set grew by ${grown.toFixed(1)} MB`).toBeLessThan(15);
    await engine.dispose();
  });
});
