/** The ResNet-shaped zoo models: each exports, passes the official checker, loads and runs in onnxruntime-node. */
import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/cost.js';
import { exportZoo, expectCheckerPasses, expectRuns, reexport } from './zoo.js';

describe('zoo: Bi-Real ResNets and the residual-fractal RF', () => {
  it('bireal-resnet18: a file within 10% of its 1-bit + float memory, valid, and running', async () => {
    const model = exportZoo('bireal-resnet18');
    // 4,189,344 bytes: Larq's model size of Bi-Real ResNet18 (4.00 MiB, batch norm as 2 values a channel).
    expect(summarize(model.graph).memoryBytes).toBe(4_189_344);
    expect(Math.abs(model.bytes.length - 4_189_344) / 4_189_344).toBeLessThan(0.1);
    // ~47 MB with ±1 float32 kernels: packing is what brings it there.
    expect(reexport(model, { packBits: false }).bytes.length).toBeGreaterThan(45e6);
    expectCheckerPasses([model.bytes, reexport(model, { integer: true }).bytes]);
    await expectRuns(model);
  });

  for (const name of ['bireal-resnet34', 'rf-c4d8-resnet37'] as const) {
    it(`${name}: valid and running`, async () => {
      const model = exportZoo(name);
      expectCheckerPasses([model.bytes]);
      await expectRuns(model);
    });
  }
});
