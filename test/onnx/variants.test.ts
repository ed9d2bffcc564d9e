/**
 * The stored forms of binary layers: 1-bit packed kernels must compute exactly what ±1 float kernels
 * compute, and the ConvInteger / MatMulInteger variant exactly what the float variant computes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { exportOnnx, unpackBits, packBits } from '../../backends/onnx/index.js';
import { onnx } from '../../backends/onnx/proto.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/types.js';
import { maxDiff, referenceOutputs } from '../helpers/reference.js';
import { busyWeights, randomInput, runExported } from './util.js';

/** Binary convs with pads on every side, an odd kernel size (63 bits: not a whole byte), stride, groups, and a binary dense. */
function binaryNet(): Graph {
  const b = new GraphBuilder({ name: 'binary_net', input: [3, 10, 10], classes: 10, binarize: { activations: 'approx_sign', weights: 'magnitude_aware_sign' } });
  let t = b.batchnorm(b.bconv(b.input(), { filters: 7, kernel: 3, padding: 'same' }));
  t = b.residual(t, (z) => b.batchnorm(b.bconv(z, { filters: 7, kernel: 3, padding: 2, dilation: 2 })));
  t = b.batchnorm(b.bconv(t, { filters: 8, kernel: 4, stride: 2, padding: 'same', groups: 1 }));
  t = b.batchnorm(b.bconv(t, { filters: 8, kernel: 3, padding: 'same', groups: 2, bias: true }));
  t = b.batchnorm(b.bconv(t, { filters: 8, kernel: 3, stride: 2, padding: 'same', kernelQuantizer: 'ste_sign' }));
  const g = b.finish(b.dense(b.batchnorm(b.bdense(b.flatten(t), { units: 12 })), { units: 10 }));
  expect(b.diagnostics).toEqual([]);
  return g;
}

describe('bit packing', () => {
  it('packs most significant bit first and round-trips any length', () => {
    expect(Array.from(packBits(Uint8Array.of(1, 0, 1, 1, 0, 0, 1, 0, 0, 1)))).toEqual([0b10110010, 0b01000000]);
    const bits = Uint8Array.from({ length: 61 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
    expect(Array.from(unpackBits(packBits(bits), 61))).toEqual(Array.from(bits));
  });
});

describe('variants', () => {
  const graph = binaryNet();
  const weights = busyWeights(graph, 21);
  const n = 3;
  const x = randomInput(n * 300, 4);

  it('packed and unpacked kernels give bit-identical outputs, and both match the reference', async () => {
    const packed = await runExported(graph, weights, x, n);
    const unpacked = await runExported(graph, weights, x, n, { packBits: false });
    expect(Array.from(packed)).toEqual(Array.from(unpacked));
    const { diff, scale } = maxDiff(packed, referenceOutputs(graph, weights, x, n));
    expect(diff).toBeLessThanOrEqual(1e-5 * scale);
  });

  it('the integer variant equals the float variant exactly as written, and to rounding once optimised', async () => {
    // Unoptimised, both run the model as written: the same integer sums, then the same float ops.
    const asWritten = { optimization: 'disabled' as const };
    const float = await runExported(graph, weights, x, n, {}, asWritten);
    const integer = await runExported(graph, weights, x, n, { integer: true }, asWritten);
    expect(Array.from(integer)).toEqual(Array.from(float));
    expect(Array.from(await runExported(graph, weights, x, n, { integer: true, packBits: false }, asWritten))).toEqual(Array.from(float));
    // Optimised, onnxruntime may fold the scale and BN into the float conv's weights: equal to rounding.
    const { diff, scale } = maxDiff(await runExported(graph, weights, x, n, { integer: true }), float);
    expect(diff).toBeLessThanOrEqual(1e-5 * scale);
  });

  it('stores binary kernels as bits: the file holds one bit per binary weight plus float32 for the rest', () => {
    const packed = exportOnnx(graph, weights);
    const unpacked = exportOnnx(graph, weights, { packBits: false });
    const model = onnx.ModelProto.decode(packed);
    const inits = new Map(model.graph!.initializer!.map((t) => [t.name!, t]));
    for (const node of graph.nodes) {
      for (const p of node.params) {
        const count = p.shape.reduce((a, b) => a * b, 1);
        if (p.binary) {
          const bits = inits.get(`${p.name}/bits`)!;
          expect(bits.dataType).toBe(onnx.TensorProto.DataType.UINT8);
          expect(bits.rawData!.length).toBe(Math.ceil(count / 8));
          expect(inits.has(p.name)).toBe(false);
          // The bits are the signs of the latent weights, sign(0) = +1.
          const latent = weights.get(p.name)!;
          expect(Array.from(unpackBits(bits.rawData!, count))).toEqual(Array.from(latent, (v) => (v >= 0 ? 1 : 0)));
        } else {
          expect(inits.get(p.name)!.rawData!.length).toBe(4 * count);
        }
      }
    }
    // Stored bytes: ⌈n/8⌉ per binary kernel, 4 per float parameter, 4 per output channel of a binary
    // layer (its scale), the shared 256 × 8 bool unpacking table, and a few scalar / shape constants
    // (under 64 bytes a kernel).
    const params = graph.nodes.flatMap((nd) => nd.params);
    const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    const bits = params.filter((p) => p.binary).reduce((s, p) => s + Math.ceil(size(p.shape) / 8), 0);
    const floats = params.filter((p) => !p.binary).reduce((s, p) => s + 4 * size(p.shape), 0);
    const scales = params.filter((p) => p.binary).reduce((s, p) => s + 4 * p.shape[p.shape.length === 2 ? 1 : 0], 0);
    const stored = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.initializer!.reduce((s, t) => s + t.rawData!.length, 0);
    expect(inits.get('sofar/byte_to_bits')!.rawData!.length).toBe(2048);
    expect(stored(packed) - (bits + floats + scales + 2048)).toBeGreaterThanOrEqual(0);
    const kernels = params.filter((p) => p.binary).length;
    expect(stored(packed) - (bits + floats + scales + 2048)).toBeLessThan(64 * kernels);
    const binaryWeights = params.filter((p) => p.binary).reduce((s, p) => s + size(p.shape), 0);
    expect(stored(unpacked) - (4 * binaryWeights + floats + scales)).toBeGreaterThanOrEqual(0);
    expect(stored(unpacked) - (4 * binaryWeights + floats + scales)).toBeLessThan(64 * kernels);
  });

  it('onnxruntime folds the unpacking into constants when it loads the model: inference runs none of it', async () => {
    for (const integer of [false, true]) {
      const dir = mkdtempSync(join(tmpdir(), 'sofar-folded-'));
      try {
        const optimized = join(dir, 'optimized.onnx');
        const session = await ort.InferenceSession.create(exportOnnx(graph, weights, { integer }), { graphOptimizationLevel: 'basic', optimizedModelFilePath: optimized });
        await session.release();
        const model = onnx.ModelProto.decode(readFileSync(optimized));
        const ops = model.graph!.node!.map((nd) => nd.opType);
        expect(ops).not.toContain('Gather');
        expect(model.graph!.initializer!.some((t) => t.name!.endsWith('/bits'))).toBe(false);
        const inits = new Set(model.graph!.initializer!.map((t) => t.name));
        const convs = model.graph!.node!.filter((nd) => nd.opType === (integer ? 'ConvInteger' : 'Conv'));
        expect(convs.length).toBe(5);
        for (const conv of convs) expect(inits.has(conv.input![1])).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('the integer variant runs ConvInteger and MatMulInteger on uint8 with zero point 1', () => {
    const model = onnx.ModelProto.decode(exportOnnx(graph, weights, { integer: true }));
    const ops = model.graph!.node!.map((nd) => nd.opType);
    expect(ops.filter((o) => o === 'ConvInteger').length).toBe(5);
    expect(ops.filter((o) => o === 'MatMulInteger').length).toBe(1);
    expect(ops).not.toContain('Sign');
    const zp = model.graph!.initializer!.find((t) => t.name === 'sofar/u8_zero_point')!;
    expect(Array.from(zp.rawData!)).toEqual([1]);
  });
});
