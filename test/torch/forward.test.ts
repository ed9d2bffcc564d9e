/**
 * The generated model.py computes what the ONNX export computes: for every zoo spec, the same busy
 * weights (test/helpers/values.ts) and a seeded input, eval-mode logits agree within 1e-4 of their
 * scale (max |diff| ≤ 1e-4 × max |output|). The ImageNet specs run a batch of 2 at 224×224; every
 * model runs in one Python process.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { seededInput } from '../../src/weights/init.js';
import { maxAbs, maxAbsDiff } from '../helpers/reference.js';
import { skipWithout } from '../helpers/requirements.js';
import { busyWeights } from '../helpers/values.js';
import { loadZoo, ZOO, type ZooName } from '../onnx/zoo.js';
import { project, readFloats, runJobs, torchMissing, writeFloats, type Job } from './helpers.js';

const N = 2;
const SEED = 5;
const skip = skipWithout(torchMissing());

describe.skipIf(skip)('model.py vs the ONNX export, eval mode', () => {
  const cases = (Object.keys(ZOO) as ZooName[]).map((name) => ({ name, graph: loadZoo(name) }));
  const outputs = new Map<string, { torch: Float32Array; onnx: Float32Array }>();

  beforeAll(async () => {
    const jobs: Job[] = [];
    const onnx = new Map<string, Float32Array>();
    for (const { name, graph } of cases) {
      const weights = busyWeights(graph, SEED);
      const x = seededInput(graph, N, SEED);
      const dir = project(graph, weights, name.replace(/\W/g, '-'));
      jobs.push({ kind: 'forward', dir, input: writeFloats(join(dir, 'x.bin'), x), n: N, output: join(dir, 'y.bin') });
      const session = await createSession(exportOnnx(graph, weights));
      onnx.set(name, await runOnnx(session, x, N));
      await session.release();
    }
    await runJobs(jobs);
    for (const [i, { name }] of cases.entries()) outputs.set(name, { torch: readFloats(jobs[i].output), onnx: onnx.get(name)! });
  }, 240_000);

  for (const { name, graph } of cases) {
    it(name, () => {
      const { torch, onnx } = outputs.get(name)!;
      expect(torch.length).toBe(N * graph.classes);
      const diff = maxAbsDiff(torch, onnx);
      expect(diff, `max |diff| ${diff}, max |output| ${maxAbs(onnx)}`).toBeLessThanOrEqual(1e-4 * maxAbs(onnx));
    });
  }
});
