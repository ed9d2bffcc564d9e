/**
 * Issue 20, "Done when" (train one step, TensorFlow.js engine) on every new spec: ./train-step.ts.
 * No skip: a construct the tfjs backend cannot lower fails its spec here.
 */
import { describe, it } from 'vitest';
import { createTfjsEngine } from '../../backends/tfjs/index.js';
import { E2E_CASES, loadCase } from './cases.js';
import { expectOneStep } from './train-step.js';

/**
 * tfjs' pure-JS CPU backend on XNOR-Net at 224×224 (62 M parameters, the only size it builds at) took
 * 23 minutes on the loaded 2-core machine (docs/zoo.md); every other spec 3–5 minutes.
 */
const timeoutMs = (name: string) => (name === 'xnornet' ? 2_700_000 : 600_000);

describe('one tfjs-engine training step on every new spec', () => {
  for (const c of E2E_CASES) {
    it(`${c.name}: the float64 reference's loss, and the weights move`, () => expectOneStep(createTfjsEngine, loadCase(c)), timeoutMs(c.name));
  }
});
