/**
 * Drop-path statistics end to end: masks sampled by the training loop's sampler (src/train/droppath.ts)
 * for many steps, applied by the tfjs backend, observed through which parameters get a gradient. With
 * two 2-column fractals (local rate p, global share g), a column's parameters get no gradient exactly
 * when its join input is dropped:
 *   global batch (share g): one column c ∈ {1, 2} for the whole network, so both fractals drop the same one;
 *   local batch: each fractal drops its shallow column with p(1 − p) + p²/2 (both dropped: one is kept
 *   at random), likewise its deep column, independently of the other fractal.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { gradients } from '../../backends/tfjs/index.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { dropPathMasks, planDropPath } from '../../src/train/droppath.js';
import { initWeights } from '../../src/weights/init.js';
import { normalValues } from './graphs.js';

const P = 0.3;
const G = 0.5;
const STEPS = 400;

type Dropped = 'none' | 'shallow' | 'deep';

describe('drop-path through the tfjs backend', () => {
  it(`global batches drop one column network-wide, local ones per join (${STEPS} sampled steps)`, async () => {
    const b = new GraphBuilder({ name: 'two_fractals', input: [1, 3, 3], classes: 2 });
    const unit = (z: ReturnType<typeof b.input>) => b.conv(z, { filters: 1, kernel: 1 });
    let x = b.fractal(b.input(), { columns: 2, dropPath: P, globalDropPath: G, scope: 'a' }, unit);
    x = b.fractal(x, { columns: 2, dropPath: P, globalDropPath: G, scope: 'b' }, unit);
    const graph = b.finish(b.dense(b.globalAvgpool(x), { units: 2 }));
    const weights = initWeights(graph, 1);
    const batch = { x: normalValues(2 * 9, 3), y: Int32Array.from([0, 1]), n: 2 };
    const plan = planDropPath(graph);

    const dropped = (grads: Map<string, Float32Array>, fractal: string): Dropped => {
      // A column's parameters live under `<fractal>/col<k>`; all of them are zero or none are.
      const zero = (column: number) => {
        const params = [...grads].filter(([name]) => name.startsWith(`${fractal}/col${column}`));
        expect(params.length).toBe(column); // column k holds 2^(k−1) units of one conv each
        return params.every(([, g]) => g.every((v) => v === 0));
      };
      const shallow = zero(1);
      const deep = zero(2);
      expect(shallow && deep, 'a join always keeps an input').toBe(false);
      return shallow ? 'shallow' : deep ? 'deep' : 'none';
    };

    const counts = new Map<string, number>();
    for (let step = 0; step < STEPS; step++) {
      const noise = { joinMasks: dropPathMasks(plan, 7, step), dropoutMasks: new Map() };
      const grads = await gradients(graph, weights, batch, noise, tf);
      const key = `${dropped(grads, 'a')}/${dropped(grads, 'b')}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }

    const single = P * (1 - P) + (P * P) / 2; // a local join drops a given one of its two inputs
    const none = (1 - P) ** 2;
    const expected: Record<string, number> = {
      'shallow/shallow': G / 2 + (1 - G) * single * single,
      'deep/deep': G / 2 + (1 - G) * single * single,
      'shallow/deep': (1 - G) * single * single,
      'deep/shallow': (1 - G) * single * single,
      'none/none': (1 - G) * none * none,
      'none/shallow': (1 - G) * none * single,
      'none/deep': (1 - G) * none * single,
      'shallow/none': (1 - G) * single * none,
      'deep/none': (1 - G) * single * none,
    };
    expect(Object.values(expected).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 12);
    for (const [key, p] of Object.entries(expected)) {
      const observed = (counts.get(key) ?? 0) / STEPS;
      const sigma = Math.sqrt((p * (1 - p)) / STEPS);
      expect(Math.abs(observed - p), `${key}: observed ${observed}, expected ${p.toFixed(4)}`).toBeLessThanOrEqual(4 * sigma);
    }
  });
});
