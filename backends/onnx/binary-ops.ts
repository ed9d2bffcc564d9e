/**
 * The `--binary-ops` variant: binary convolutions, binary dense layers and activation signs as nodes of
 * SoFAr's own operator domain (`ai.sofar`, version 1; docs/operators.md), with kernels packed 1 bit per
 * weight along input channels. Runtimes with binary kernels (SoFAr's, in C and WebAssembly) execute
 * them with XOR + popcount; everything else in the model stays standard ONNX.
 */
import type { NodeOf, ParamSpec } from '../../src/graph/types.js';
import type { LowerCtx } from './context.js';
import { quantizeKernel } from './kernels.js';
import { convAttributes } from './attributes.js';

export const SOFAR_DOMAIN = 'ai.sofar';
export const SOFAR_OPSET = 1;

/**
 * Packs a kernel's signs along input channels: conv `[O, Cg, kh, kw]` → uint8 `[O, kh, kw, ⌈Cg/8⌉]`,
 * dense `[in, out]` → uint8 `[out, ⌈in/8⌉]`. Bit (c mod 8) of byte ⌊c/8⌋ is 1 where the weight is −1
 * (as a float's sign bit), 0 where it is +1 (w ≥ 0); unused bits are 0.
 */
export function packAlongChannels(spec: ParamSpec, positive: Uint8Array): { data: Uint8Array; dims: number[] } {
  if (spec.shape.length === 2) {
    const [inputs, outputs] = spec.shape;
    const bytes = Math.ceil(inputs / 8);
    const data = new Uint8Array(outputs * bytes);
    for (let i = 0; i < inputs; i++) {
      for (let o = 0; o < outputs; o++) if (!positive[i * outputs + o]) data[o * bytes + (i >> 3)] |= 1 << (i & 7);
    }
    return { data, dims: [outputs, bytes] };
  }
  const [outputs, channels, kh, kw] = spec.shape;
  const bytes = Math.ceil(channels / 8);
  const data = new Uint8Array(outputs * kh * kw * bytes);
  for (let o = 0; o < outputs; o++) {
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          if (!positive[((o * channels + c) * kh + y) * kw + x]) data[((o * kh + y) * kw + x) * bytes + (c >> 3)] |= 1 << (c & 7);
        }
      }
    }
  }
  return { data, dims: [outputs, kh, kw, bytes] };
}

/** multiplier and bias of `out = multiplier·acc + bias`, with a following batch norm folded in (float64, rounded once). */
function outputTransform(node: NodeOf<'conv'> | NodeOf<'dense'>, ctx: LowerCtx, magnitude: Float32Array | null, outputs: number): { multiplier: Float32Array; bias: Float32Array | null } {
  const mul = new Float64Array(outputs).fill(1);
  const add = new Float64Array(outputs);
  if (magnitude) mul.set(magnitude);
  if (node.attrs.bias) add.set(ctx.values32(ctx.spec(node, 'bias')));
  const bn = ctx.bnFolds.get(node.id);
  if (bn) {
    const gamma = ctx.values32Or(bn, 'gamma', 1);
    const beta = ctx.values32Or(bn, 'beta', 0);
    const [mean, variance] = ['moving_mean', 'moving_variance'].map((role) => ctx.values32(ctx.spec(bn, role)));
    for (let o = 0; o < outputs; o++) {
      // As inference batch norm computes it: scale = γ / √(σ² + ε) in float32, then scale·(y − μ) + β.
      const scale = Math.fround(gamma[o] / Math.fround(Math.sqrt(Math.fround(variance[o] + bn.attrs.epsilon))));
      mul[o] *= scale;
      add[o] = scale * (add[o] - mean[o]) + beta[o];
    }
  }
  const hasBias = node.attrs.bias || bn !== undefined;
  return { multiplier: Float32Array.from(mul), bias: hasBias ? Float32Array.from(add) : null };
}

/** One binary conv or dense layer as `ai.sofar.BinaryConv2D` / `ai.sofar.BinaryDense`. */
export function lowerBinaryLayer(node: NodeOf<'conv'> | NodeOf<'dense'>, ctx: LowerCtx): string {
  const quantizer = node.attrs.kernelQuantizer!;
  const spec = ctx.spec(node, 'kernel');
  const { positive, scale } = quantizeKernel(spec, ctx.values32(spec), quantizer);
  const outputs = node.op === 'conv' ? node.attrs.filters : node.attrs.units;
  const packed = packAlongChannels(spec, positive);
  const kernel = ctx.g.initializer(`${spec.name}/bits`, 'uint8', packed.dims, packed.data,
    `kernel of ${node.name}: 1 bit per weight along input channels, bit set = −1 (${quantizer.name})`);
  const { multiplier, bias } = outputTransform(node, ctx, scale, outputs);
  const bn = ctx.bnFolds.get(node.id);
  const folded = bn ? ` and ${bn.name} folded in` : '';
  const inputs = [
    ctx.input(node),
    kernel,
    ctx.floatTensor(`${node.name}/multiplier`, [outputs], multiplier, `per-output-channel multiplier of ${node.name} (${scale ? 'mean |kernel|' : '1'}${folded})`),
  ];
  if (bias) inputs.push(ctx.floatTensor(`${node.name}/bias`, [outputs], bias, `per-output-channel bias of ${node.name}${folded}`));
  const output = bn ? bn.name : node.name;
  if (node.op === 'dense') return ctx.emitIn(node, SOFAR_DOMAIN, 'BinaryDense', inputs, output, {});
  const a = node.attrs;
  return ctx.emitIn(node, SOFAR_DOMAIN, 'BinaryConv2D', inputs, output, { ...convAttributes(a), pad_value: a.padValue });
}

/** A sign-family activation quantizer: `ai.sofar.Sign`, sign(0) = +1. */
export function lowerSign(node: NodeOf<'quantize'>, ctx: LowerCtx): string {
  return ctx.emitIn(node, SOFAR_DOMAIN, 'Sign', [ctx.input(node)], node.name, {});
}
