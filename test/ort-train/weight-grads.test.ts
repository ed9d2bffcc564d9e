/**
 * On the CPU the step models compute each conv's weight gradient as one GEMM per sample and kernel tap
 * (com.microsoft's FusedMatMul over NCHW windows, backends/ort-train/spatial.ts), summed over the samples;
 * elsewhere (WebGPU) as one channels-first GEMM per tap. gradients.test.ts checks the CPU form against
 * float64 references and finite differences; here the two forms must agree with each other on every
 * conv kind of the small cases and on the Fashion-MNIST nets, and the loss, which neither touches, to the bit.
 */
import { describe, expect, it } from 'vitest';
import { ortLossAndGradients } from '../../backends/ort-train/index.js';
import { buildStepModel } from '../../backends/ort-train/step-model.js';
import { onnx } from '../../backends/onnx/proto.js';
import { compileFile } from '../../src/compile.js';
import type { Graph } from '../../src/graph/types.js';
import { initWeights } from '../../src/weights/init.js';
import { binaryCases, floatCases, labels, normalValues, relativeError, someNoise } from './graphs.js';

const fusedMatMuls = (graph: Graph, cpuOps: boolean) =>
  (onnx.ModelProto.decode(buildStepModel(graph, 'gradients', undefined, undefined, true, 0, cpuOps).bytes).graph?.node ?? []).filter((n) => n.opType === 'FusedMatMul' && n.domain === 'com.microsoft').length;

async function bothForms(graph: Graph, n: number) {
  const weights = initWeights(graph, 3);
  const batch = { x: normalValues(n * graph.input.reduce((a, b) => a * b, 1), 5), y: labels(n, 6).map((c) => c % graph.classes), n };
  const noise = someNoise(graph, n, 9);
  const perSample = await ortLossAndGradients(graph, weights, batch, noise, 1, undefined, undefined, true, false, true);
  const channelsFirst = await ortLossAndGradients(graph, weights, batch, noise, 1, undefined, undefined, true, false, false);
  return { perSample, channelsFirst };
}

describe('conv weight gradients per sample (CPU) and channels first (WebGPU)', () => {
  const convCases = [...floatCases(), ...binaryCases()].filter((c) => c.graph.nodes.some((node) => node.op === 'conv' && node.attrs.groups === 1));

  it.each(convCases.map((c) => [c.name, c] as const))('%s: the same gradients both ways', async (_name, c) => {
    // one FusedMatMul per tap of every one-group conv, none without the CPU's operators
    const taps = c.graph.nodes.filter((node) => node.op === 'conv' && node.attrs.groups === 1).reduce((s, node) => s + (node.op === 'conv' ? node.attrs.kernel[0] * node.attrs.kernel[1] : 0), 0);
    expect(fusedMatMuls(c.graph, true)).toBe(taps);
    expect(fusedMatMuls(c.graph, false)).toBe(0);
    const { perSample, channelsFirst } = await bothForms(c.graph, 4);
    expect(perSample.loss).toBe(channelsFirst.loss);
    expect([...perSample.gradients.keys()]).toEqual([...channelsFirst.gradients.keys()]);
    for (const [name, g] of channelsFirst.gradients) expect(relativeError(perSample.gradients.get(name)!, g), name).toBeLessThan(1e-5);
  });

  it.each(['bireal-small', 'rf-c3-small', 'drf-c2-small'])('fashion/%s: the same gradients both ways', async (net) => {
    const { graph } = compileFile(`specs/fashion/${net}.sofar`);
    const { perSample, channelsFirst } = await bothForms(graph!, 8);
    expect(perSample.loss).toBe(channelsFirst.loss);
    for (const [name, g] of channelsFirst.gradients) expect(relativeError(perSample.gradients.get(name)!, g), name).toBeLessThan(1e-4);
  }, 60_000);
});
