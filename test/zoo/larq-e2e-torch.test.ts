/**
 * Issue 20, "Done when" (PyTorch) on every new spec: the generated model.py's eval-mode logits equal
 * onnxruntime's on the standard export (./reference-logits.ts) within 1e-4 of their scale. Every model
 * runs in one Python process (torch is imported once).
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbs, maxAbsDiff } from '../helpers/reference.js';
import { skipWithout } from '../helpers/requirements.js';
import { project, readFloats, runJobs, torchMissing, writeFloats, type Job } from '../torch/helpers.js';
import { E2E_CASES, loadCase } from './cases.js';
import { referenceLogits, type Reference } from './reference-logits.js';

describe.skipIf(skipWithout(torchMissing()))('model.py on every new spec', () => {
  const results = new Map<string, { torch: Float32Array; ref: Reference }>();

  beforeAll(async () => {
    const jobs: Job[] = [];
    const refs: Reference[] = [];
    for (const c of E2E_CASES) {
      const graph = loadCase(c);
      const ref = await referenceLogits(graph);
      const dir = project(graph, ref.weights, c.name.replace(/\W/g, '-'));
      jobs.push({ kind: 'forward', dir, input: writeFloats(join(dir, 'x.bin'), ref.x), n: ref.n, output: join(dir, 'y.bin') });
      refs.push(ref);
    }
    await runJobs(jobs, 1);
    E2E_CASES.forEach((c, i) => results.set(c.name, { torch: readFloats(jobs[i].output), ref: refs[i] }));
  }, 600_000);

  for (const c of E2E_CASES) {
    it(`${c.name}: model.py's logits equal onnxruntime's`, () => {
      const { torch, ref } = results.get(c.name)!;
      expect(torch.length).toBe(ref.logits.length);
      const diff = maxAbsDiff(torch, ref.logits);
      expect(diff, `max |diff| ${diff}, max |output| ${maxAbs(ref.logits)}`).toBeLessThanOrEqual(1e-4 * maxAbs(ref.logits));
    });
  }
});
