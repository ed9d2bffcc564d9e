/**
 * The CPU step models run convolutions whose channels fill NCHWc blocks on onnxruntime's blocked float
 * kernels, binary ones included (backends/ort-train/lowering.ts). A binary conv's ±1 × ±1 sums are
 * integers, exact in any order, so where the blocked convs are all binary the loss must be the unblocked
 * lowering's (ConvInteger) to the bit; the gradients take blocked input-gradient convs in one run and
 * plain ones in the other, so they agree to float rounding. On the Fashion-MNIST nets, whose float 1×1
 * shortcut convs are blocked too, everything agrees to float rounding.
 */
import { describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { createOrtEngine, ortLossAndGradients } from '../../backends/ort-train/index.js';
import { nchwcBlockSize, NCHWC_DOMAIN } from '../../backends/ort-train/nchwc.js';
import { buildStepModel } from '../../backends/ort-train/step-model.js';
import { onnx } from '../../backends/onnx/proto.js';
import { compileFile } from '../../src/compile.js';
import type { Graph } from '../../src/graph/types.js';
import { initWeights } from '../../src/weights/init.js';
import { blockedCases, busyWeights, labels, normalValues, relativeError, someNoise } from './graphs.js';

/** Names of the blocked convs the forward pass runs (the backward ones sit under `…/grad/`). */
function blockedForwardConvs(graph: Graph, block: number): string[] {
  const model = onnx.ModelProto.decode(buildStepModel(graph, 'gradients', undefined, undefined, true, block).bytes);
  return (model.graph?.node ?? []).filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv' && !(n.output?.[0] ?? '').includes('/grad/')).map((n) => n.output?.[0] ?? '');
}

async function blockedAndPlain(graph: Graph, n: number) {
  const weights = initWeights(graph, 3);
  const batch = { x: normalValues(n * graph.input.reduce((a, b) => a * b, 1), 5), y: labels(n, 6).map((c) => c % graph.classes), n };
  const noise = someNoise(graph, n, 9);
  const blocked = await ortLossAndGradients(graph, weights, batch, noise, 1, undefined, undefined, true, true);
  const plain = await ortLossAndGradients(graph, weights, batch, noise, 1, undefined, undefined, true, false);
  return { blocked, plain };
}

describe('blocked (NCHWc) forward convolutions in the CPU step models', async () => {
  const block = await nchwcBlockSize();

  it('this onnxruntime has the blocked kernels (else the cases below compare the plain lowering with itself)', () => {
    expect([8, 16]).toContain(block);
  });

  const binary = blockedCases().find((c) => c.name.startsWith('bconv'))!;
  it(`${binary.name}: the loss is the integer lowering's to the bit`, async () => {
    // Its float conv reads 1 channel (never blocked): the binary conv is the only blocked forward conv.
    expect(blockedForwardConvs(binary.graph, block)).toHaveLength(1);
    const { blocked, plain } = await blockedAndPlain(binary.graph, 4);
    expect(blocked.loss).toBe(plain.loss);
    for (const [name, g] of plain.gradients) expect(relativeError(blocked.gradients.get(name)!, g), name).toBeLessThan(1e-4);
  });

  it.each(['bireal-small', 'rf-c3-small', 'drf-c2-small'])('fashion/%s: loss and gradients agree with the plain lowering', async (net) => {
    const { graph } = compileFile(`specs/fashion/${net}.sofar`);
    const fills = (n: number) => n % block === 0;
    const binaryConvs = graph!.nodes.filter((n) => n.op === 'conv' && n.attrs.kernelQuantizer !== null && fills(n.attrs.filters) && fills(graph!.nodes[n.inputs[0]].shape[0]));
    expect(binaryConvs.length).toBeGreaterThan(0);
    const forward = blockedForwardConvs(graph!, block);
    for (const conv of binaryConvs) expect(forward.some((name) => name.startsWith(`${conv.name}/`)), conv.name).toBe(true);
    const { blocked, plain } = await blockedAndPlain(graph!, 8);
    expect(Math.abs(blocked.loss - plain.loss) / Math.abs(plain.loss)).toBeLessThan(1e-5);
    for (const [name, g] of plain.gradients) expect(relativeError(blocked.gradients.get(name)!, g), name).toBeLessThan(1e-3);
  }, 60_000);

  it.each(['bireal-small', 'rf-c3-small'])('fashion/%s: the engine predicts what the exported model computes (blocked convs, batch norms folded into the float ones)', async (net) => {
    const { graph } = compileFile(`specs/fashion/${net}.sofar`);
    const weights = busyWeights(graph!, 6);
    const engine = await createOrtEngine({ graph: graph!, weights, optimizer: { name: 'sgd', momentum: 0.9, weightDecay: 0 }, batchSize: 4 });
    const x = normalValues(6 * 28 * 28, 7); // more samples than the batch size: predicted in chunks
    const logits = await engine.predict(x, 6);
    const session = await createSession(exportOnnx(graph!, weights));
    expect(relativeError(logits, await runOnnx(session, x, 6))).toBeLessThan(1e-5);
    await session.release();
    await engine.dispose();
  }, 60_000);
});
