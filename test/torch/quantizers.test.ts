/**
 * The PyTorch backend names each quantizer's function or class in its Python runtime through tables
 * typed by the registry (a new quantizer does not compile until it has an entry); here, every entry
 * names something runtime.py defines.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TORCH_ACTIVATION_QUANTIZERS, TORCH_WEIGHT_QUANTIZERS } from '../../backends/torch/lower.js';
import { quantizersFor } from '../../src/quantizers.js';

const runtime = readFileSync(join(import.meta.dirname, '..', '..', 'backends', 'torch', 'python', 'runtime.py'), 'utf8');

describe('torch quantizer tables', () => {
  it('cover every registered quantizer with a function or class runtime.py defines', () => {
    expect(Object.keys(TORCH_ACTIVATION_QUANTIZERS).sort()).toEqual(quantizersFor('activation').sort());
    expect(Object.keys(TORCH_WEIGHT_QUANTIZERS).sort()).toEqual(quantizersFor('weight').sort());
    for (const fn of Object.values(TORCH_ACTIVATION_QUANTIZERS)) expect(runtime, fn).toMatch(new RegExp(`^def ${fn}\\(`, 'm'));
    for (const cls of Object.values(TORCH_WEIGHT_QUANTIZERS)) expect(runtime, cls).toMatch(new RegExp(`^class ${cls}\\b`, 'm'));
  });
});
