import { describe, expect, it } from 'vitest';
import { learningRate } from '../../src/train/schedule.js';

describe('learning-rate schedules', () => {
  const T = 100;
  it('constant keeps the base rate', () => {
    expect([0, 50, 99].map((t) => learningRate('constant', 0.1, t, T))).toEqual([0.1, 0.1, 0.1]);
  });
  it('linear falls to 0 over all steps', () => {
    expect(learningRate('linear', 0.1, 0, T)).toBe(0.1);
    expect(learningRate('linear', 0.1, 25, T)).toBeCloseTo(0.075, 12);
    expect(learningRate('linear', 0.1, 99, T)).toBeCloseTo(0.001, 12);
    expect(learningRate('linear', 0.1, T, T)).toBe(0);
  });
  it('cosine follows ½(1 + cos πt/T): 1, ½ at the middle, 0 at the end', () => {
    expect(learningRate('cosine', 0.2, 0, T)).toBeCloseTo(0.2, 12);
    expect(learningRate('cosine', 0.2, 50, T)).toBeCloseTo(0.1, 12);
    // cos(π/4) = √2/2
    expect(learningRate('cosine', 0.2, 25, T)).toBeCloseTo(0.1 * (1 + Math.SQRT1_2), 12);
    expect(learningRate('cosine', 0.2, T, T)).toBeCloseTo(0, 12);
  });
  it('step multiplies by 0.1 at 50 % and 75 % of the steps', () => {
    expect(learningRate('step', 1, 49, T)).toBe(1);
    expect(learningRate('step', 1, 50, T)).toBeCloseTo(0.1, 12);
    expect(learningRate('step', 1, 74, T)).toBeCloseTo(0.1, 12);
    expect(learningRate('step', 1, 75, T)).toBeCloseTo(0.01, 12);
  });
});
