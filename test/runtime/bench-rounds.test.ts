/** bench/runtime's per-round speed-ups: each round's medians compared, then summarized over the rounds. */
import { describe, expect, it } from 'vitest';
import { roundSpeedups } from '../../bench/runtime.js';

describe('bench/runtime round speed-ups', () => {
  it("compares each round's medians, not the pooled runs, and names each contender", () => {
    // 3 rounds of 3 runs: SoFAr 1 ms, then 2 ms (the machine slowed), then 1 ms; onnxruntime 10 ms throughout
    const sofar = { label: 'sofar', times: [1, 1.1, 0.9, 2, 2.1, 1.9, 1, 1, 1] };
    const ort = { label: 'ort-standard', times: [10, 10, 10, 10, 10, 10, 10, 10, 10] };
    const floatNet = { label: 'ort-float', times: [9, 9, 9, 20, 20, 20, 8, 8, 8] };
    expect(roundSpeedups([sofar, ort, floatNet], 3, 3)).toEqual({
      'vs ort-standard': { min: 5, median: 10, max: 10 },
      'vs ort-float': { min: 8, median: 9, max: 10 },
    });
  });
});
