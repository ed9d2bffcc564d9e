/** The DenseNet-shaped zoo models: each exports, passes the official checker, loads and runs in onnxruntime-node. */
import { describe, it } from 'vitest';
import { exportZoo, expectCheckerPasses, expectRuns } from './zoo.js';

describe('zoo: BinaryDenseNets and the dense-residual-fractal DRF', () => {
  for (const name of ['binarydensenet28', 'binarydensenet37', 'binarydensenet45', 'drf-c2d2-densenet51'] as const) {
    it(`${name}: valid and running`, async () => {
      const model = exportZoo(name);
      expectCheckerPasses([model.bytes]);
      await expectRuns(model);
    });
  }
});
