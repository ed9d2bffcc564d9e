/**
 * The zoo against published figures. Sources: Larq Zoo's model summaries and documentation
 * (parameters, memory, MACs at 224×224; larq.models.summary's counting, Keras' count_params() beside
 * it; every Larq Zoo model is held to Larq's summary in larq-zoo.test.ts), the Bi-Real Net paper (OPs 1.63e8 for ResNet18, 1.93e8 for
 * ResNet34, with the OPs = binary MACs / 64 + float MACs convention), the BMXNet authors' table for
 * BinaryDenseNet (2.58e8 / 2.70e8 OPs) and the imgclsmob FractalNet reference (33,724,618 trainable
 * parameters for the 20-layer CIFAR-10 network).
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../src/compile.js';
import { summarize } from '../../src/cost.js';
import type { Graph } from '../../src/graph/types.js';
import { weightDepth } from './helpers.js';

function load(path: string, params?: Record<string, number>): Graph {
  const r = compileFile(path, params ? { params } : {});
  expect(r.diagnostics).toEqual([]);
  return r.graph!;
}

/** Every spec the project ships, specs/ and its folders. */
const SPECS = (readdirSync('specs', { recursive: true }) as string[]).filter((f) => f.endsWith('.sofar')).map((f) => `specs/${f}`).sort();

describe('the zoo', () => {
  it('ships the 14 Larq Zoo models, ReActNet-A and the Fashion-MNIST QuickNet and ReActNet', () => {
    const larq = ['binary_alexnet', 'bireal_net', 'binary_resnet_e_18', 'binary_densenet28', 'binary_densenet37', 'binary_densenet37_dilated', 'binary_densenet45', 'meliusnet22', 'xnornet', 'dorefanet', 'real_to_binary_net', 'quicknet', 'quicknet_small', 'quicknet_large'];
    expect(SPECS).toEqual(expect.arrayContaining([...larq.map((n) => `specs/larq/${n}.sofar`), 'specs/reactnet-a.sofar', 'specs/fashion/quicknet-small.sofar', 'specs/fashion/reactnet-small.sofar']));
  });

  it.each(SPECS)('%s elaborates and checks, one score a class', (path) => {
    const g = load(path);
    expect(g.nodes[g.output].shape).toEqual([g.classes]);
  });
});

describe('published figures, reproduced exactly', () => {
  it('Bi-Real ResNet18 (Larq Zoo BiRealNet)', () => {
    const s = summarize(load('specs/bireal-resnet18.sofar'));
    // Larq's summary: 11.7 M params, 9.6 k non-trainable, 4.00 MiB; the zoo's docstring: 11,699,112 (Keras).
    expect(s.params.total).toBe(11_689_512);
    expect(s.params.nonTrainable).toBe(9_600);
    expect(s.kerasParams).toBe(11_699_112);
    expect(s.params.binary).toBe(10_985_472);
    expect(s.memoryBytes).toBe(4_189_344);
    expect(s.macs.binary).toBe(1_676_279_808);
    expect(s.macs.float).toBe(137_793_536);
    expect(s.ops.toPrecision(4)).toBe('1.640e+8');
    // The paper rounds to 1.63e8; our figure is within 1 %.
    expect(Math.abs(s.ops - 1.63e8) / 1.63e8).toBeLessThan(0.01);
  });

  it('ResNet-18 in float (torchvision resnet18): 11,689,512 trainable parameters, 1.814e9 MACs', () => {
    const s = summarize(load('specs/resnet18-float.sofar'));
    // torchvision's resnet18 has 11,689,512 parameters; its BN running statistics (9,600) are buffers there.
    // Keras' trainable count is count_params() less the moving statistics.
    expect(s.kerasParams - s.params.nonTrainable).toBe(11_689_512);
    expect(s.params.nonTrainable).toBe(9_600);
    expect(s.params.binary).toBe(0);
    expect(s.macs.float.toPrecision(4)).toBe('1.814e+9');
  });

  it('Bi-Real ResNet34: (6, 8, 12, 6) units, 1.93e8 OPs', () => {
    const g = load('specs/bireal-resnet34.sofar');
    const s = summarize(g);
    expect(s.macs.binary.toPrecision(3)).toBe('3.53e+9');
    expect(s.macs.float).toBe(137_793_536);
    expect(s.ops.toPrecision(3)).toBe('1.93e+8');
    expect(s.kerasParams).toBe(21_814_696);
    expect(s.params.total).toBe(21_797_672);
    expect(weightDepth(g)).toBe(34);
  });

  it.each([
    // Larq's counts (larq/docs #85: 5,131,496 / 8,702,248 / 13,889,512), Keras' (the zoo's docstrings).
    ['binarydensenet28', 5_131_496, 5_150_504, 4_241_312, 3_587_383_296, 202_484_224, '2.585e+8', 2.58e8, 28],
    ['binarydensenet37', 8_702_248, 8_734_120, 5_382_304, 4_506_808_320, 199_738_368, '2.702e+8', 2.7e8, 37],
    ['binarydensenet45', 13_889_512, 13_939_240, 7_703_968, 6_430_556_160, 244_103_424, '3.446e+8', null, 45],
  ])('%s (Larq Zoo)', (name, params, kerasParams, memory, binaryMacs, floatMacs, ops, quoted, depth) => {
    const g = load(`specs/${name}.sofar`);
    const s = summarize(g);
    expect(s.params.total).toBe(params);
    expect(s.kerasParams).toBe(kerasParams);
    expect(s.memoryBytes).toBe(memory);
    expect((s.memoryBytes / 2 ** 20).toFixed(2)).toBe({ binarydensenet28: '4.04', binarydensenet37: '5.13', binarydensenet45: '7.35' }[name]);
    expect(s.macs.binary).toBe(binaryMacs);
    expect(s.macs.float).toBe(floatMacs);
    expect(s.ops.toPrecision(4)).toBe(ops);
    // The BMXNet authors quote three digits, truncated.
    if (quoted !== null) expect(Math.abs(s.ops - quoted) / quoted).toBeLessThan(0.005);
    expect(weightDepth(g)).toBe(depth);
  });

  it('FractalNet CIFAR-10 with 3 columns: 33,724,618 trainable parameters (imgclsmob)', () => {
    const s = summarize(load('specs/fractalnet-cifar.sofar', { columns: 3 }));
    // imgclsmob counts batch norm's γ and β as trainable: Keras' count less the moving statistics.
    expect(s.kerasParams - s.params.nonTrainable).toBe(33_724_618);
  });

  it('FractalNet CIFAR with 4 columns is 40 convolutional layers deep', () => {
    const g = load('specs/fractalnet-cifar.sofar');
    expect(weightDepth(g)).toBe(41); // 40 convs + the dense layer
    expect(g.nodes.filter((n) => n.op === 'conv')).toHaveLength(5 * 15);
  });
});

describe('the SoFAr models (reconstructions)', () => {
  it('RF-c4d8 ResNet37(41): 37 layers deep, base width 41, four c=4 fractals', () => {
    const g = load('specs/rf-c4d8-resnet37.sofar');
    expect(weightDepth(g)).toBe(37);
    expect(g.nodes.filter((n) => n.op === 'join' && n.inputs.length === 4)).toHaveLength(4);
    expect(g.nodes.find((n) => n.name === 'stage2/fractal/col3/unit1/bconv')?.shape).toEqual([82, 28, 28]);
    const s = summarize(g);
    // About Bi-Real ResNet18's model size (4.00 MiB), for fewer OPs.
    expect(s.memoryBytes).toBeCloseTo(4_196_439.625, 3);
    expect(s.ops).toBeLessThan(1.64e8);
  });

  it('DRF-c2d2 DenseNet51(53): 51 layers deep, growth 53, 23 two-column fractals', () => {
    const g = load('specs/drf-c2d2-densenet51.sofar');
    expect(weightDepth(g)).toBe(51);
    const joins = g.nodes.filter((n) => n.op === 'join');
    expect(joins).toHaveLength(23);
    expect(joins.every((j) => j.shape[0] === 53)).toBe(true);
    const s = summarize(g);
    expect(s.memoryBytes).toBeLessThan(4_241_312); // below BinaryDenseNet28
  });

  it('the Fashion-MNIST models take 1×28×28 and give 10 classes', () => {
    for (const name of ['bireal-small', 'rf-c3-small', 'drf-c2-small', 'quicknet-small', 'reactnet-small']) {
      const g = load(`specs/fashion/${name}.sofar`);
      expect(g.input).toEqual([1, 28, 28]);
      expect(g.nodes[g.output].shape).toEqual([10]);
    }
    expect(weightDepth(load('specs/fashion/bireal-small.sofar'))).toBe(1 + 6 + 1);
    expect(weightDepth(load('specs/fashion/rf-c3-small.sofar'))).toBe(1 + 4 + 1 + 4 + 1 + 4 + 1);
  });
});
