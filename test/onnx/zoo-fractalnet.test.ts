/**
 * FractalNet for CIFAR: real-valued and the heaviest file of the zoo (~300 MB of float32 weights), so
 * it has a test file of its own.
 */
import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/cost.js';
import { exportZoo, expectCheckerPassesAsync, expectRuns } from './zoo.js';

describe('zoo: FractalNet (CIFAR)', () => {
  it('fractalnet-cifar: valid and running', async () => {
    const model = exportZoo('fractalnet-cifar');
    // No binary layers: the file is the float32 weights plus names and nodes.
    const summary = summarize(model.graph);
    expect(summary.params.binary).toBe(0);
    expect(model.bytes.length).toBeGreaterThanOrEqual(summary.memoryBytes);
    expect(model.bytes.length).toBeLessThan(summary.memoryBytes * 1.01);
    // The checker (a child process) and onnxruntime run side by side.
    await Promise.all([expectCheckerPassesAsync([model.bytes]), expectRuns(model)]);
  });
});
