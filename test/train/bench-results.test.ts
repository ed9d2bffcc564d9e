/** bench/train.ts keeps the committed figures for full runs: a short or partial run writes elsewhere. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultsPath } from '../../bench/train.js';

describe('bench/train results path', () => {
  it('bench/results/train.json only for the published settings; --out wins; anything else goes to a scratch file', () => {
    expect(resultsPath({}, '/repo')).toBe('/repo/bench/results/train.json');
    expect(resultsPath({ steps: 3 }, '/repo')).toBe(join(tmpdir(), 'sofar-bench', 'train.json'));
    expect(resultsPath({ nets: ['bireal-small'], tfjs: false }, '/repo')).toBe(join(tmpdir(), 'sofar-bench', 'train.json'));
    expect(resultsPath({ steps: 3, out: 'x.json' }, '/repo')).toBe('x.json');
  });
});
