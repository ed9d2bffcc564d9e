/**
 * Issue 21: every benchmark results file names the CPU it was measured on (model name, family, the SIMD
 * extensions it has; the kernels in use where a file times SoFAr's runtime) and the date — figures differ
 * between machines, and one without its CPU means little.
 * Read from the committed files themselves, so a bench that writes its own partial record fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const RESULTS = join(__dirname, '..', '..', 'bench', 'results');

/** Files measured where the family can no longer be read, each with why. */
const FAMILY_NOT_RECORDED: Record<string, string> = {
  'train-threads-16core.json': 'the CPU of a lent 16-core machine (2026-11-26), gone before results files recorded the family',
};

describe('bench/results', () => {
  const files = readdirSync(RESULTS).filter((f) => f.endsWith('.json'));

  it('has results files to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  for (const file of files) {
    it(`${file} names its CPU (model, family, ISA) and its date`, () => {
      const report = JSON.parse(readFileSync(join(RESULTS, file), 'utf8'));
      const machine = report.machine;
      expect(typeof machine?.model).toBe('string');
      expect(machine.model.length).toBeGreaterThan(0);
      const date = machine.date ?? report.date;
      expect(Number.isNaN(Date.parse(date))).toBe(false);
      if (file in FAMILY_NOT_RECORDED) return;
      expect(Number.isInteger(machine.family)).toBe(true);
      expect(Array.isArray(machine.isa)).toBe(true);
      // files from 2026-12-08 on also give the vendor, the model number and the caches (Intel's family 6 alone names no core)
      if ('vendor' in machine) {
        expect(machine.vendor).toMatch(/^(GenuineIntel|AuthenticAMD|\w+)$/);
        if (/Intel|AMD/.test(machine.vendor)) expect(Number.isInteger(machine.modelNumber)).toBe(true);
        for (const level of ['l2', 'l3']) expect(machine.cacheKiB[level] === null || Number.isInteger(machine.cacheKiB[level])).toBe(true);
      }
      // the runtime's and the batches' files also say which of SoFAr's kernels ran (the ISA in use, not only the CPU's)
      if (report.benchmark === 'binary-runtime' || report.bench === 'batches') expect(report.kernels).toMatch(/^(native|wasm) \(\w+/);
    });
  }
});
