/**
 * End to end with the real engines (ONNX Runtime, and TensorFlow.js on its pure-JS backend, which is
 * slow: its runs here are a few hundred 1×8×8 samples) on test/train/fixtures/tiny.sofar — a fractal
 * with drop-path and a dropout, so every kind of host-drawn mask reaches both engines.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { createOrtEngine } from '../../backends/ort-train/engine.js';
import { tfjsEngineFactory } from '../../backends/tfjs/engine.js';
import { readCheckpoint } from '../../src/checkpoint/index.js';
import { compileFile } from '../../src/compile.js';
import { loadDataset } from '../../src/data/index.js';
import { hasErrors } from '../../src/diagnostics.js';
import type { Graph } from '../../src/graph/types.js';
import { BatchGatherer, epochOrder } from '../../src/train/batches.js';
import { dropPathMasks, planDropPath } from '../../src/train/droppath.js';
import { dropoutMasks, planDropout } from '../../src/train/dropout.js';
import type { EngineFactory, TrainState } from '../../src/train/engine.js';
import { evaluate } from '../../src/train/evaluate.js';
import { train, type TrainConfig } from '../../src/train/loop.js';
import { initWeights } from '../../src/weights/init.js';
import { tempDirs } from '../helpers/temp.js';
import { trainConfig } from './config.js';

const tempDir = tempDirs('sofar-engines-');

function tinyGraph(): Graph {
  const result = compileFile(join(import.meta.dirname, 'fixtures', 'tiny.sofar'));
  expect(hasErrors(result.diagnostics)).toBe(false);
  return result.graph!;
}

const tfjs = tfjsEngineFactory({ device: 'cpu' });
const config = (over: Partial<TrainConfig> = {}): TrainConfig => trainConfig({ lr: 0.01, seed: 3 }, over);

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('ONNX Runtime engine', () => {
  it('drives the loss down and exceeds 95 % test accuracy on the separable synthetic task', async () => {
    const graph = tinyGraph();
    const dataset = loadDataset('synthetic', graph);
    const result = await train({ graph, dataset, engineFactory: createOrtEngine, config: config({ epochs: 5 }), outDir: tempDir() });
    const losses = result.history.map((m) => m.trainLoss);
    expect(losses[4]).toBeLessThan(losses[0] * 0.7);
    expect(result.summary.testAccuracy).toBeGreaterThan(0.95);
    // Memory does not grow across epochs (resident set within 30 MB of the first epoch's).
    const rss = result.history.map((m) => m.rssMB);
    expect(Math.max(...rss) - rss[0]).toBeLessThan(30);
  });

  it('2 epochs in one run = 1 epoch + resume 1 epoch, bit for bit', async () => {
    const graph = tinyGraph();
    const dataset = loadDataset('synthetic', graph, { limit: 256 });
    const c = config({ schedule: 'constant' });
    const whole = await train({ graph, dataset, engineFactory: createOrtEngine, config: c, outDir: tempDir() });
    const dir = tempDir();
    await train({ graph, dataset, engineFactory: createOrtEngine, config: { ...c, epochs: 1 }, outDir: dir });
    const resumed = await train({ graph, dataset, engineFactory: createOrtEngine, config: c, outDir: dir, resume: true });
    for (const [name, w] of whole.weights) expect(Buffer.from(resumed.weights.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    const a = readCheckpoint(whole.checkpointPath);
    const b = readCheckpoint(dir);
    for (const [name, s] of a.slots) expect(Buffer.from(b.slots.get(name)!.buffer).equals(Buffer.from(s.buffer)), name).toBe(true);
  });
});

describe('TensorFlow.js engine and cross-engine agreement', () => {
  /** One step of each engine from the same state, batch and masks. */
  async function stepBoth(graph: Graph, state: TrainState) {
    const dataset = loadDataset('synthetic', graph, { limit: 64 });
    const batch = new BatchGatherer(dataset.train, 32).gather(epochOrder(64, 1, 1), 0);
    const noise = { joinMasks: dropPathMasks(planDropPath(graph), 1, 5), dropoutMasks: dropoutMasks(planDropout(graph), 1, 5, batch.n) };
    const out = [];
    for (const factory of [tfjs, createOrtEngine] as EngineFactory[]) {
      const engine = await factory({ graph, weights: state.weights, optimizer: config().optimizer, batchSize: 32 });
      await engine.setState(state);
      const result = await engine.trainStep(batch, 0.01, noise);
      out.push({ result, state: await engine.getState() });
      await engine.dispose();
    }
    return out;
  }

  it('a checkpoint written by one engine continues in the other: the same next step', async () => {
    const graph = tinyGraph();
    const dataset = loadDataset('synthetic', graph, { limit: 128 });
    const dir = tempDir();
    await train({ graph, dataset, engineFactory: tfjs, config: config({ epochs: 1 }), outDir: dir });
    const ckpt = readCheckpoint(dir);
    expect(ckpt.meta.engine).toBe('tfjs');
    const [t, o] = await stepBoth(graph, { weights: ckpt.weights, slots: ckpt.slots, step: ckpt.meta.step });
    expect(o.result.loss).toBeCloseTo(t.result.loss, 4);
    expect(o.result.correct).toBe(t.result.correct);
    expect(o.state.step).toBe(ckpt.meta.step + 1);
    expect(t.state.step).toBe(ckpt.meta.step + 1);
    for (const [name, w] of t.state.weights) expect(maxAbsDiff(o.state.weights.get(name)!, w), name).toBeLessThan(1e-4);
    // And the loop resumes the tfjs run with ONNX Runtime, then the other way round.
    const resumed = await train({ graph, dataset, engineFactory: createOrtEngine, config: config({ epochs: 2 }), outDir: dir, resume: true });
    expect(resumed.history.map((m) => m.epoch)).toEqual([1, 2]);
    expect(readCheckpoint(dir).meta).toMatchObject({ engine: 'ort', epoch: 2, step: 8 });
    const back = await train({ graph, dataset, engineFactory: tfjs, config: config({ epochs: 3 }), outDir: dir, resume: true });
    expect(back.history.map((m) => m.epoch)).toEqual([1, 2, 3]);
    expect(readCheckpoint(dir).meta).toMatchObject({ engine: 'tfjs', epoch: 3, step: 12 });
  });

  it('the exported ONNX model of a trained model predicts what the tfjs model predicts', async () => {
    const graph = tinyGraph();
    const dataset = loadDataset('synthetic', graph, { limit: 256 });
    const result = await train({ graph, dataset, engineFactory: tfjs, config: config({ epochs: 1 }), outDir: tempDir() });
    const engine = await tfjs({ graph, weights: initWeights(graph, 0), optimizer: config().optimizer, batchSize: 64 });
    await engine.setState({ weights: result.weights, slots: new Map(), step: 0 });
    const fromTfjs = await engine.predict(dataset.test.x, dataset.test.n);
    await engine.dispose();
    const session = await createSession(exportOnnx(graph, result.weights));
    const fromOnnx = await runOnnx(session, dataset.test.x, dataset.test.n);
    expect(maxAbsDiff(fromOnnx, fromTfjs)).toBeLessThan(1e-3);
    const argmax = (l: Float32Array, i: number) => {
      const row = Array.from(l.subarray(i * 4, i * 4 + 4));
      return row.indexOf(Math.max(...row));
    };
    for (let i = 0; i < dataset.test.n; i++) expect(argmax(fromOnnx, i)).toBe(argmax(fromTfjs, i));
    // The loop's own validation (engine.predict) and ONNX Runtime give the same accuracy.
    const onnxEval = await evaluate((x, n) => runOnnx(session, x, n), dataset.test, 4, 50);
    await session.release();
    expect(onnxEval.accuracy).toBe(result.summary.testAccuracy);
  });
});
