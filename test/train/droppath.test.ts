import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/graph/builder.js';
import { Random } from '../../src/random.js';
import { dropPathMasks, planDropPath, sampleJoinMasks, type DropPathPlan } from '../../src/train/droppath.js';
import { dropoutMasks, planDropout } from '../../src/train/dropout.js';

/** Two fractals in sequence, with 3 and 2 columns: C_max = 3. */
function twoFractals(local: number, global: number) {
  const b = new GraphBuilder({ name: 'f', input: [2, 4, 4], classes: 2 });
  const unit = (z: ReturnType<typeof b.input>) => b.relu(z);
  const a = b.scope('a', () => b.fractal(b.input(), { columns: 3, dropPath: local, globalDropPath: global }, unit));
  const c = b.scope('b', () => b.fractal(a, { columns: 2, dropPath: local, globalDropPath: global }, unit));
  return b.finish(b.dense(b.flatten(c), { units: 2 }));
}

describe('drop-path plan', () => {
  it('finds every join with its columns, its fractal’s column count, C_max and the global rate', () => {
    const plan = planDropPath(twoFractals(0.15, 0.25));
    // FractalNet with C columns joins at depths 2, 4, …, 2^(C−1): 2 joins for C = 3, 1 for C = 2.
    expect(plan.joins.map((j) => j.fractalColumns)).toEqual([3, 3, 2]);
    expect(plan.joins.map((j) => j.columns)).toEqual([[3, 2], [3, 2, 1], [2, 1]]);
    expect(plan.maxColumns).toBe(3);
    expect(plan.globalRate).toBe(0.25);
    expect(plan.joins.every((j) => j.local === 0.15)).toBe(true);
  });
});

describe('drop-path sampling (docs/semantics.md)', () => {
  const plan = planDropPath(twoFractals(0.4, 0.3));

  it('follows the documented draw order', () => {
    // Independent replay of the definition with the same stream.
    for (let step = 0; step < 50; step++) {
      const rng = new Random(9, `droppath/${step}`);
      const expected = new Map<string, number[]>();
      if (rng.uniform() < 0.3) {
        const c = 1 + rng.int(3);
        for (const j of plan.joins) {
          const target = Math.min(c, j.fractalColumns);
          const m = j.columns.map((col) => (col === target ? 1 : 0));
          expected.set(j.name, m.includes(1) ? m : m.map(() => 1));
        }
      } else {
        for (const j of plan.joins) {
          const m = j.columns.map(() => (rng.uniform() < 0.4 ? 0 : 1));
          if (!m.includes(1)) m[rng.int(m.length)] = 1;
          expected.set(j.name, m);
        }
      }
      const got = dropPathMasks(plan, 9, step);
      expect(new Map([...got].map(([k, v]) => [k, [...v]]))).toEqual(expected);
    }
  });

  it('global batches keep one column everywhere, in the share of batches the rate says', () => {
    /** The masks a global batch with column c must have. */
    const globalPattern = (c: number) =>
      JSON.stringify(
        plan.joins.map((j) => {
          const m = j.columns.map((col) => (col === Math.min(c, j.fractalColumns) ? 1 : 0));
          return m.includes(1) ? m : m.map(() => 1);
        }),
      );
    const patterns = [1, 2, 3].map(globalPattern);
    const steps = 4000;
    const counts = [0, 0, 0];
    for (let step = 0; step < steps; step++) {
      const masks = JSON.stringify([...dropPathMasks(plan, 1, step).values()].map((m) => [...m]));
      const c = patterns.indexOf(masks);
      if (c >= 0) counts[c]++;
    }
    const global = counts.reduce((a, b) => a + b, 0);
    // 30 % are global; a local batch matches a global pattern by chance with P < 1 %.
    expect(global / steps).toBeGreaterThan(0.27);
    expect(global / steps).toBeLessThan(0.34);
    // Columns are uniform over 1..C_max.
    for (const n of counts) expect(n / global).toBeGreaterThan(0.27);
  });

  it('a join off the selected path keeps all its inputs; column 1 drops the inner joins', () => {
    // Force global batches; when c = 1 the 2-input joins of fractal a (columns 3, 2) hold no column 1.
    const forced: DropPathPlan = { ...plan, globalRate: 1 };
    let sawColumnOne = false;
    for (let step = 0; step < 60; step++) {
      const masks = sampleJoinMasks(forced, new Random(3, `droppath/${step}`));
      const last = [...masks.get(plan.joins[1].name)!];
      if (last[2] === 1 && last[0] === 0) {
        sawColumnOne = true;
        expect([...masks.get(plan.joins[0].name)!]).toEqual([1, 1]);
        expect([...masks.get(plan.joins[2].name)!]).toEqual([0, 1]);
      }
    }
    expect(sawColumnOne).toBe(true);
  });

  it('local batches keep each input with probability 1 − local and never drop a whole join', () => {
    const local: DropPathPlan = { ...plan, globalRate: 0 };
    let kept = 0;
    let inputs = 0;
    for (let step = 0; step < 3000; step++) {
      const masks = sampleJoinMasks(local, new Random(5, `droppath/${step}`));
      for (const m of masks.values()) {
        expect(m.some((b) => b === 1)).toBe(true);
        kept += m.reduce((a, b) => a + b, 0);
        inputs += m.length;
      }
    }
    // Each input is kept with P = 0.6, plus one rescued input when a join dropped all of them
    // (P = 0.4² for the two 2-input joins, 0.4³ for the 3-input join).
    const expectedKept = 2 * (2 * 0.6 + 0.4 ** 2) + (3 * 0.6 + 0.4 ** 3);
    const expectedInputs = 2 * 2 + 3;
    expect(Math.abs(kept / inputs - expectedKept / expectedInputs)).toBeLessThan(0.01);
  });

  it('is the same for the same seed and step, and differs across steps', () => {
    const a = dropPathMasks(plan, 4, 17);
    const b = dropPathMasks(plan, 4, 17);
    expect(a).toEqual(b);
    const differs = Array.from({ length: 20 }, (_, s) => JSON.stringify([...dropPathMasks(plan, 4, s).values()].map((m) => [...m])));
    expect(new Set(differs).size).toBeGreaterThan(5);
  });

  it('a graph without joins gets no masks', () => {
    const b = new GraphBuilder({ name: 'plain', input: [1, 2, 2], classes: 2 });
    const g = b.finish(b.dense(b.flatten(b.input()), { units: 2 }));
    expect(dropPathMasks(planDropPath(g), 1, 0).size).toBe(0);
  });
});

describe('dropout masks', () => {
  it('are 0 or 1/(1 − p), n × shape per node, with the drop rate p', () => {
    const b = new GraphBuilder({ name: 'd', input: [2, 3, 3], classes: 2 });
    const d = b.dropout(b.input(), { rate: 0.2, name: 'drop' });
    const g = b.finish(b.dense(b.flatten(d), { units: 2 }));
    const masks = dropoutMasks(planDropout(g), 7, 3, 500);
    const m = masks.get('drop')!;
    expect(m.length).toBe(500 * 18);
    const kept = Math.fround(1 / 0.8);
    expect(m.every((v) => v === 0 || v === kept)).toBe(true);
    const dropped = m.filter((v) => v === 0).length / m.length;
    expect(dropped).toBeGreaterThan(0.19);
    expect(dropped).toBeLessThan(0.21);
    expect(dropoutMasks(planDropout(g), 7, 3, 500).get('drop')).toEqual(m);
    expect(dropoutMasks(planDropout(g), 7, 4, 500).get('drop')).not.toEqual(m);
  });
});
