/**
 * Gradients of the generated model.py (training mode: batch statistics, the straight-through
 * quantizers, the same drop-path and dropout masks) equal the ORT engine's, parameter by parameter,
 * within 1e-4 of each tensor's scale: for the three Fashion-MNIST nets, and for the small graphs the
 * ORT tests use for every node kind (test/ort-train/graphs.ts). One Python process runs them all.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ortLossAndGradients, type LossAndGradients } from '../../backends/ort-train/index.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { binaryCases, busyWeights, floatCases, labels, normalValues, relativeError, someNoise } from '../ort-train/graphs.js';
import { skipWithout } from '../helpers/requirements.js';
import { loadZoo } from '../onnx/zoo.js';
import { batchJob, project, readTensors, runJobs, torchMissing, type Job } from './helpers.js';

const N = 4;
const TOLERANCE = 1e-4;
const skip = skipWithout(torchMissing());

describe.skipIf(skip)('model.py gradients vs the ORT engine', () => {
  const cases: { name: string; graph: Graph }[] = [
    ...(['fashion/bireal-small', 'fashion/rf-c3-small', 'fashion/drf-c2-small'] as const).map((name) => ({ name, graph: loadZoo(name) })),
    ...floatCases(),
    ...binaryCases(),
  ];
  const results = new Map<string, { ort: LossAndGradients; torch: WeightMap; loss: number }>();

  beforeAll(async () => {
    const jobs: Job[] = [];
    const ort: LossAndGradients[] = [];
    for (const [i, { name, graph }] of cases.entries()) {
      const seed = 31 + i;
      const weights = busyWeights(graph, seed);
      const x = normalValues(N * graph.input.reduce((a, b) => a * b, 1), seed + 1);
      const y = labels(N, seed + 2);
      // The Fashion nets have 10 classes; the small graphs 3.
      for (let k = 0; k < N; k++) y[k] %= graph.classes;
      const noise = someNoise(graph, N, seed + 3);
      const dir = project(graph, weights, `grad-${name.replace(/\W+/g, '-')}`);
      jobs.push({ kind: 'gradients', dir, output: join(dir, 'grads.safetensors'), ...batchJob(dir, x, y, noise) });
      ort.push(await ortLossAndGradients(graph, weights, { x, y, n: N }, noise, 1));
    }
    const answers = await runJobs(jobs);
    cases.forEach(({ name }, i) => results.set(name, { ort: ort[i], torch: readTensors(jobs[i].output), loss: answers[i].loss! }));
  }, 240_000);

  for (const { name, graph } of cases) {
    it(name, () => {
      const { ort, torch, loss } = results.get(name)!;
      expect(Math.abs(loss - ort.loss)).toBeLessThan(1e-5 * Math.max(1, ort.loss));
      expect([...torch.keys()].sort()).toEqual([...ort.gradients.keys()].sort());
      for (const [param, want] of ort.gradients) {
        const err = relativeError(torch.get(param)!, want);
        expect(err, `${param}: relative error ${err}`).toBeLessThanOrEqual(TOLERANCE);
      }
      // Straight-through gradients reach binary kernels (those off a dropped path get 0): not vacuous.
      const binary = graph.nodes.flatMap((n) => n.params).filter((p) => p.binary);
      const reached = binary.filter((p) => torch.get(p.name)!.some((g) => g !== 0));
      if (binary.length) expect(reached.length).toBeGreaterThan(0);
    });
  }
});
