/**
 * One training step of an engine on a spec at its end-to-end size (./cases.ts): the loss it reports is
 * the float64 reference's (test/ort-train/reference.ts) on the same seeded weights and batch, and the
 * trainable weights move.
 */
import { expect } from 'vitest';
import type { Graph } from '../../src/graph/types.js';
import type { EngineFactory } from '../../src/train/engine.js';
import { labels } from '../ort-train/graphs.js';
import { referencePass, toFloat64 } from '../ort-train/reference.js';
import { busyWeights, noNoise } from '../helpers/values.js';
import { seededInput } from '../../src/weights/init.js';
import { batchOf } from './cases.js';

export async function expectOneStep(create: EngineFactory, graph: Graph): Promise<void> {
  const n = batchOf(graph);
  const weights = busyWeights(graph, 7);
  const x = seededInput(graph, n, 8);
  const y = labels(n, 9).map((v) => v % graph.classes);
  const engine = await create({ graph, weights, optimizer: { name: 'adam', momentum: 0.9, weightDecay: 0 }, batchSize: n, threads: 1 });
  try {
    const { loss } = await engine.trainStep({ x, y, n }, 1e-3, noNoise());
    const ref = referencePass(graph, toFloat64(weights), x, y, n, noNoise());
    expect(Number.isFinite(loss)).toBe(true);
    expect(Math.abs(loss - ref.loss), `loss ${loss}, float64 reference ${ref.loss}`).toBeLessThanOrEqual(1e-4 * Math.max(1, ref.loss));
    const after = (await engine.getState()).weights;
    const moved = graph.nodes.flatMap((nd) => nd.params).filter((p) => p.trainable && after.get(p.name)!.some((v, i) => v !== weights.get(p.name)![i]));
    expect(moved.length, 'trainable parameters the step moved').toBeGreaterThan(0);
  } finally {
    await engine.dispose();
  }
}
