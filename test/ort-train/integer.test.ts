/**
 * The engine's binary products on ±1 inputs that the blocked kernels do not take run as ConvInteger /
 * MatMulInteger (backends/ort-train/lowering.ts) for speed; their sums are integers, so the loss and every gradient must be the float
 * lowering's to the bit, on the small cases and on the three Fashion-MNIST nets.
 */
import { describe, expect, it } from 'vitest';
import { ortLossAndGradients } from '../../backends/ort-train/index.js';
import { buildStepModel } from '../../backends/ort-train/step-model.js';
import { compileFile } from '../../src/compile.js';
import type { Graph } from '../../src/graph/types.js';
import { initWeights } from '../../src/weights/init.js';
import { binaryCases, labels, normalValues, someNoise } from './graphs.js';

const N = 4;

const hasIntegerProduct = (bytes: Uint8Array) => ['ConvInteger', 'MatMulInteger'].some((op) => Buffer.from(bytes).includes(op));

/** Whether some binary conv or dense layer reads a ±1 input (the layers the integer lowering changes). */
const hasBinaryProduct = (graph: Graph) =>
  graph.nodes.some((n) => (n.op === 'conv' || n.op === 'dense') && n.attrs.kernelQuantizer !== null && graph.nodes[n.inputs[0]].precision === 'bin');

async function expectSameAsFloat(graph: Graph, n: number): Promise<void> {
  const weights = initWeights(graph, 3);
  const batch = { x: normalValues(n * graph.input.reduce((a, b) => a * b, 1), 5), y: labels(n, 6).map((c) => c % graph.classes), n };
  const noise = someNoise(graph, n, 9);
  // Unblocked: on the CPU the blocked float kernels take every conv whose channels fill NCHWc blocks
  // (blocked.test.ts), which would leave few integer products to compare.
  const integer = await ortLossAndGradients(graph, weights, batch, noise, 1, undefined, undefined, true, false);
  const float = await ortLossAndGradients(graph, weights, batch, noise, 1, undefined, undefined, false, false);
  expect(integer.loss).toBe(float.loss);
  expect([...integer.gradients.keys()]).toEqual([...float.gradients.keys()]);
  for (const [name, g] of float.gradients) expect(Buffer.from(integer.gradients.get(name)!.buffer).equals(Buffer.from(g.buffer)), name).toBe(true);
}

describe('integer binary products in the step models', () => {
  it.each(binaryCases().map((c) => [c.name, c.graph] as const))('%s: loss and gradients bit-identical to the float lowering', async (_, graph) => {
    const uses = hasIntegerProduct(buildStepModel(graph, 'gradients', undefined, undefined, true).bytes);
    expect(uses).toBe(hasBinaryProduct(graph));
    expect(hasIntegerProduct(buildStepModel(graph, 'gradients', undefined, undefined, false).bytes)).toBe(false);
    await expectSameAsFloat(graph, N);
  });

  it.each(['bireal-small', 'rf-c3-small', 'drf-c2-small'])('fashion/%s: loss and gradients bit-identical to the float lowering', async (net) => {
    const { graph } = compileFile(`specs/fashion/${net}.sofar`);
    expect(hasIntegerProduct(buildStepModel(graph!, 'train', { name: 'adam', momentum: 0.9, weightDecay: 0 }).bytes)).toBe(true);
    await expectSameAsFloat(graph!, 8);
  }, 60_000);
});
