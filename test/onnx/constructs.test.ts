/**
 * Every construct of issue 20 in every export variant: the logits of the standard export (packed and
 * unpacked kernels), the integer variant and the `--binary-ops` variant (run through a rewrite of its
 * `ai.sofar` nodes into standard ops, written from docs/operators.md) equal the float64 reference, and
 * the official checker accepts each model. Also what `--binary-ops` makes of each construct.
 */
import { describe, expect, it } from 'vitest';
import { exportOnnx, SOFAR_DOMAIN, type ExportOptions } from '../../backends/onnx/index.js';
import { onnx } from '../../backends/onnx/proto.js';
import { createSession, runOnnx } from '../../backends/onnx/session.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { checkerMissing, checkOnnxAsync } from '../helpers/onnx-checker.js';
import { maxDiff, referenceOutputs } from '../helpers/reference.js';
import { skipWithout } from '../helpers/requirements.js';
import { constructCases, type ConstructCase } from './constructs.js';
import { expandBinaryOps } from './expand-binary-ops.js';
import { busyWeights, randomInput } from './util.js';


const N = 3;

const VARIANTS: { name: string; options: ExportOptions }[] = [
  { name: 'float', options: {} },
  { name: 'float-unpacked', options: { packBits: false } },
  { name: 'int', options: { integer: true } },
  { name: 'binary-ops', options: { binaryOps: true } },
];

/** SoFAr's shape of each binary kernel, by the name its packed initializer has in a `--binary-ops` model. */
function kernelShapes(graph: Graph): (name: string) => number[] {
  const shapes = new Map(graph.nodes.flatMap((n) => n.params).map((p) => [`${p.name}/bits`, p.shape]));
  return (name) => shapes.get(name)!;
}

async function logits(c: ConstructCase, weights: WeightMap, x: Float32Array, options: ExportOptions): Promise<Float32Array> {
  let bytes = exportOnnx(c.graph, weights, options);
  if (options.binaryOps) bytes = expandBinaryOps(bytes, kernelShapes(c.graph));
  const session = await createSession(bytes);
  try {
    return await runOnnx(session, x, N);
  } finally {
    await session.release();
  }
}

describe('issue 20 constructs in every ONNX variant', () => {
  for (const c of constructCases()) {
    describe(c.name, () => {
      const weights = busyWeights(c.graph, 5);
      const x = randomInput(N * 3 * 8 * 8, 6);
      const expected = referenceOutputs(c.graph, weights, x, N);

      for (const variant of VARIANTS) {
        it(`${variant.name}: logits equal the float64 reference`, async () => {
          const { diff, scale } = maxDiff(await logits(c, weights, x, variant.options), expected);
          expect(scale).toBeGreaterThan(0);
          expect(diff, `${variant.name}: max diff ${diff} at scale ${scale}`).toBeLessThanOrEqual(1e-5 * scale);
        });
      }

      it.skipIf(skipWithout(checkerMissing()))('every variant passes the official ONNX checker', async () => {
        const result = await checkOnnxAsync(VARIANTS.map((v) => exportOnnx(c.graph, weights, v.options)));
        expect(result.message).toBe('ok');
      });
    });
  }
});

describe('what --binary-ops makes of each construct', () => {
  const cases = new Map(constructCases().map((c) => [c.name, c]));
  const nodesOf = (name: string) => {
    const c = cases.get(name)!;
    const model = onnx.ModelProto.decode(exportOnnx(c.graph, busyWeights(c.graph, 5), { binaryOps: true }));
    return model.graph!.node!;
  };
  const sofarOps = (nodes: ReturnType<typeof nodesOf>) => nodes.filter((n) => n.domain === SOFAR_DOMAIN).map((n) => n.opType);
  const padValues = (nodes: ReturnType<typeof nodesOf>) =>
    nodes.filter((n) => n.opType === 'BinaryConv2D').map((n) => Number(n.attribute!.find((a) => a.name === 'pad_value')!.i));

  it('one-padded binary convs stay BinaryConv2D with pad_value 1 (no Pad op, their batch norms folded)', () => {
    const nodes = nodesOf('binary convs with one-padding (strided, asymmetric pads, grouped)');
    expect(padValues(nodes)).toEqual([1, 1, 1]);
    expect(nodes.map((n) => n.opType)).not.toContain('Pad');
    // Only the float stem's batch norm is left.
    expect(nodes.filter((n) => n.opType === 'BatchNormalization')).toHaveLength(1);
  });

  it('depthwise binary convs are BinaryConv2D with group = channels', () => {
    const nodes = nodesOf('depthwise convs: float, and binary with one-padding');
    const conv = nodes.find((n) => n.opType === 'BinaryConv2D')!;
    expect(Number(conv.attribute!.find((a) => a.name === 'group')!.i)).toBe(12);
    expect(padValues(nodes)).toEqual([1]);
  });

  it('a binary kernel on a real input is a standard Conv / MatMul (its products are not binary)', () => {
    const nodes = nodesOf('binary kernels on real inputs (BinaryAlexNet first layer, binary dense)');
    expect(sofarOps(nodes)).toEqual([]);
    expect(nodes.map((n) => n.opType)).toEqual(expect.arrayContaining(['Conv', 'MatMul', 'BatchNormalization']));
  });

  it('ste_heaviside and dorefa are standard ops, never ai.sofar.Sign', () => {
    expect(sofarOps(nodesOf('ste_heaviside activations'))).toEqual([]);
    expect(sofarOps(nodesOf('DoReFa: k-bit activations into a layer-scaled binary conv'))).toEqual([]);
  });

  it('xnor_weight_scale and sign activations keep the binary operators, the scale in the multiplier', () => {
    expect(sofarOps(nodesOf('XNOR-Net: xnor_weight_scale conv and dense')).sort()).toEqual(['BinaryConv2D', 'BinaryDense', 'Sign', 'Sign']);
  });
});
