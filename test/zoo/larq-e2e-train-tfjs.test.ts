/**
 * Issue 20, "Done when" (train one step, TensorFlow.js engine) on every new spec: ./train-step.ts.
 * No skip: a construct the tfjs backend cannot lower fails its spec here.
 */
import { describe, it } from 'vitest';
import { createTfjsEngine } from '../../backends/tfjs/index.js';
import { E2E_CASES, loadCase } from './cases.js';
import { expectOneStep } from './train-step.js';

describe('one tfjs-engine training step on every new spec', () => {
  for (const c of E2E_CASES) {
    it(`${c.name}: the float64 reference's loss, and the weights move`, () => expectOneStep(createTfjsEngine, loadCase(c)), 600_000);
  }
});
