/**
 * On the CPU the step models compute each conv's weight gradient as one GEMM per sample and kernel tap
 * (com.microsoft's FusedMatMul over NCHW windows, backends/ort-train/spatial.ts), summed over the samples,
 * or, where the input channels fill AVX-512's 16-channel NCHWc blocks, over blocked windows that one-hot
 * depthwise convs cut; elsewhere (WebGPU) as one channels-first GEMM per tap. gradients.test.ts checks the
 * CPU forms against float64 references and finite differences; here each must agree with the channels-first
 * form on every conv kind of the small cases and on the Fashion-MNIST nets, and the loss, which none touches, to the bit
 * (both runs take their batch statistics from training-mode BatchNormalization, the CPU's choice).
 */
import { describe, expect, it } from 'vitest';
import { ortLossAndGradients } from '../../backends/ort-train/index.js';
import { nchwcBlockSize, NCHWC_DOMAIN } from '../../backends/ort-train/nchwc.js';
import { buildStepModel } from '../../backends/ort-train/step-model.js';
import { onnx } from '../../backends/onnx/proto.js';
import { compileFile } from '../../src/compile.js';
import type { Graph } from '../../src/graph/types.js';
import { initWeights } from '../../src/weights/init.js';
import { binaryCases, blockedCases, floatCases, labels, normalValues, relativeError, someNoise } from './graphs.js';

const fusedMatMuls = (graph: Graph, cpuOps: boolean) =>
  (onnx.ModelProto.decode(buildStepModel(graph, 'gradients', undefined, undefined, true, 0, cpuOps).bytes).graph?.node ?? []).filter((n) => n.opType === 'FusedMatMul' && n.domain === 'com.microsoft').length;

async function bothForms(graph: Graph, n: number) {
  const weights = initWeights(graph, 3);
  const batch = { x: normalValues(n * graph.input.reduce((a, b) => a * b, 1), 5), y: labels(n, 6).map((c) => c % graph.classes), n };
  const noise = someNoise(graph, n, 9);
  const perSample = await ortLossAndGradients(graph, weights, batch, noise, 1, undefined, undefined, true, false, true, true);
  const channelsFirst = await ortLossAndGradients(graph, weights, batch, noise, 1, undefined, undefined, true, false, false, true);
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

/** The one-hot depthwise blocked convs that cut weight-gradient windows, in a CPU step model with NCHWc block `block`. */
const windowConvs = (graph: Graph, block: number) =>
  (onnx.ModelProto.decode(buildStepModel(graph, 'gradients', undefined, undefined, true, block, true).bytes).graph?.node ?? []).filter(
    (n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv' && (n.attribute ?? []).some((a) => a.name === 'group' && Number(a.i) > 1),
  ).length;

/** Kernel taps of the one-group convs whose input channels fill 16-channel blocks (at most one per conv is the input itself). */
function windowedTaps(graph: Graph): { taps: number; convs: number } {
  const convs = graph.nodes.filter((n) => n.op === 'conv' && n.attrs.groups === 1 && n.attrs.kernel[0] * n.attrs.kernel[1] > 1 && graph.nodes[n.inputs[0]].shape[0] % 16 === 0);
  return { taps: convs.reduce((s, n) => s + (n.op === 'conv' ? n.attrs.kernel[0] * n.attrs.kernel[1] : 0), 0), convs: convs.length };
}

describe('conv weight gradients over blocked windows (CPU, 16-channel NCHWc blocks) against channels first', async () => {
  const block = await nchwcBlockSize();
  const cases = [...blockedCases().map((c) => [c.name, c.graph] as const), ...['bireal-small', 'rf-c3-small', 'drf-c2-small'].map((net) => [`fashion/${net}`, compileFile(`specs/fashion/${net}.sofar`).graph!] as const)];

  it.each(cases)('%s: one window conv per tap that is not the input itself, only with 16-channel blocks', (_name, graph) => {
    const { taps, convs } = windowedTaps(graph);
    expect(taps).toBeGreaterThan(0);
    const made = windowConvs(graph, 16);
    expect(made).toBeGreaterThanOrEqual(taps - convs);
    expect(made).toBeLessThanOrEqual(taps);
    expect(windowConvs(graph, 8)).toBe(0); // AVX2's 8-channel blocks keep the per-sample form
  });

  // The forward pass is the same blocked one in both runs: the loss to the bit, the gradients to rounding.
  it.runIf(block === 16).each(cases)('%s: the same gradients as channels first', async (_name, graph) => {
    const n = 8;
    const weights = initWeights(graph, 3);
    const batch = { x: normalValues(n * graph.input.reduce((a, b) => a * b, 1), 5), y: labels(n, 6).map((c) => c % graph.classes), n };
    const noise = someNoise(graph, n, 9);
    const windows = await ortLossAndGradients(graph, weights, batch, noise, 1, undefined, undefined, true, true, true, true);
    const channelsFirst = await ortLossAndGradients(graph, weights, batch, noise, 1, undefined, undefined, true, true, false, true);
    expect(windows.loss).toBe(channelsFirst.loss);
    for (const [name, g] of channelsFirst.gradients) expect(relativeError(windows.gradients.get(name)!, g), name).toBeLessThan(1e-4);
  }, 60_000);
});
