/** Issue 20, "Done when" (train one step, ORT engine) on every new spec: ./train-step.ts. */
import { describe, it } from 'vitest';
import { createOrtEngine } from '../../backends/ort-train/index.js';
import { E2E_CASES, loadCase } from './cases.js';
import { expectOneStep } from './train-step.js';

describe('one ORT-engine training step on every new spec', () => {
  for (const c of E2E_CASES) {
    it(`${c.name}: the float64 reference's loss, and the weights move`, () => expectOneStep(createOrtEngine, loadCase(c)), 600_000);
  }
});
