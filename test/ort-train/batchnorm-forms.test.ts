/**
 * On the CPU a batch norm's batch statistics come from onnxruntime's BatchNormalization in training mode
 * (backends/ort-train/rules.ts), elsewhere from ReduceMean and ReduceSumSquare. The two must give the same
 * loss and gradients to float rounding on real-valued graphs, and, since the kernel may write into its
 * mean and variance inputs, nothing else may see those change: the moving statistics the step writes are
 * checked against the formulas in engine.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ortLossAndGradients } from '../../backends/ort-train/index.js';
import { buildStepModel } from '../../backends/ort-train/step-model.js';
import { onnx } from '../../backends/onnx/proto.js';
import { initWeights } from '../../src/weights/init.js';
import { floatCases, labels, normalValues, relativeError, someNoise } from './graphs.js';

const trainingModeNorms = (bytes: Uint8Array) =>
  (onnx.ModelProto.decode(bytes).graph?.node ?? []).filter((n) => n.opType === 'BatchNormalization' && (n.attribute ?? []).some((a) => a.name === 'training_mode' && Number(a.i) === 1)).length;

describe('batch statistics: training-mode BatchNormalization (CPU) against reductions', () => {
  const cases = floatCases().filter((c) => c.graph.nodes.some((n) => n.op === 'batchnorm'));

  it.each(cases.map((c) => [c.name, c] as const))('%s: the same loss and gradients', async (_name, c) => {
    const norms = c.graph.nodes.filter((n) => n.op === 'batchnorm').length;
    expect(trainingModeNorms(buildStepModel(c.graph, 'gradients', undefined, undefined, true, 0, true, true).bytes)).toBe(norms);
    expect(trainingModeNorms(buildStepModel(c.graph, 'gradients', undefined, undefined, true, 0, true, false).bytes)).toBe(0);
    const n = 4;
    const weights = initWeights(c.graph, 3);
    const batch = { x: normalValues(n * c.graph.input.reduce((a, b) => a * b, 1), 5), y: labels(n, 6).map((k) => k % c.graph.classes), n };
    const noise = someNoise(c.graph, n, 9);
    const kernel = await ortLossAndGradients(c.graph, weights, batch, noise, 1, undefined, undefined, true, true, true, true);
    const reductions = await ortLossAndGradients(c.graph, weights, batch, noise, 1, undefined, undefined, true, true, true, false);
    expect(Math.abs(kernel.loss - reductions.loss) / Math.abs(reductions.loss)).toBeLessThan(1e-6);
    for (const [name, g] of reductions.gradients) expect(relativeError(kernel.gradients.get(name)!, g), name).toBeLessThan(1e-4);
  });
});
