/**
 * The exporter's forward lowering as the engine's step models run it on the CPU:
 *
 * - convolutions whose channels fill the CPU's NCHWc blocks (nchwc.ts) run on onnxruntime's blocked
 *   float kernels, binary ones included: ±1 against ±1 sums integers, exact in float32 (|sum| ≤ fan-in ≪
 *   2²⁴), so the values are those of ConvInteger, and on two threads ~3× faster (Fashion-MNIST 3×3 convs
 *   at batch 128: 15 → 5 ms, ConvInteger barely using the second thread; rf-c3-small's step 1.20×,
 *   bireal-small's 1.05×; on one thread ~3 % slower than ConvInteger);
 * - other binary layers whose input is ±1 multiply as `ConvInteger` / `MatMulInteger` on uint8 {0, 2}
 *   with zero point 1 (the exporter's `--int` variant) instead of plain float `Conv` / `MatMul`, which
 *   onnxruntime's int8 kernels (VNNI where the CPU has it) run 1.5–2.5× faster, the uint8 conversions
 *   included. A uint8 input is made straight from the comparison its sign was made from (x ≥ 0 ⇔
 *   sign(x) ≥ 0), so it costs one pass, not two.
 *
 * The backward pass reads the float ±1 input and kernel either way (rules.ts).
 */
import type { GraphNode, NodeOf, Pads } from '../../src/graph/types.js';
import type { convAttributes } from '../onnx/attributes.js';
import { LowerCtx, PLAIN_LOWERING, type LowerCtxOptions, type LowerOptions, type ParamSource } from '../onnx/context.js';
import type { Emitter } from './emitter.js';
import { fillsBlocks, nchwcConv } from './nchwc.js';

/** The engine's lowering options: integer binary products where `integer` (CPU sessions). */
export function trainingLowering(integer: boolean): LowerOptions {
  return { ...PLAIN_LOWERING, integer };
}

export class TrainingLowerCtx extends LowerCtx {
  constructor(
    private readonly e: Emitter,
    params: ParamSource,
    options: LowerOptions,
    setup: LowerCtxOptions,
    /** The CPU's NCHWc channel block for float convs, or 0 for plain `Conv` (nchwc.ts). */
    private readonly nchwcBlock = 0,
  ) {
    super(e.graph, params, options, setup);
  }

  override integerProduct(node: NodeOf<'conv'> | NodeOf<'dense'>): boolean {
    return !(node.op === 'conv' && this.blocked(node)) && super.integerProduct(node);
  }

  override conv(node: NodeOf<'conv'>, inputs: readonly string[], output: string, attrs: ReturnType<typeof convAttributes>): string {
    if (!this.blocked(node)) return super.conv(node, inputs, output, attrs);
    const [x, w, bias] = inputs;
    const channels = { in: this.inputShape(node)[0], out: node.attrs.filters };
    // `attrs.pads`, not the node's: a one-padded conv is lowered as an explicit Pad and a conv without padding.
    const [top, left, bottom, right] = attrs.pads;
    const a = { kernel: node.attrs.kernel, pads: [top, left, bottom, right] as Pads, dilation: node.attrs.dilation, stride: node.attrs.stride };
    return this.e.scoped(node.name, () => nchwcConv(this.e, x, w, a, channels, this.nchwcBlock, 'conv', bias));
  }

  /** One group, and input and output channels in whole NCHWc blocks. */
  private blocked(node: NodeOf<'conv'>): boolean {
    return fillsBlocks(this.nchwcBlock, node.attrs.groups, this.inputShape(node)[0], node.attrs.filters);
  }

  /**
   * ±1 as 2·(x ≥ 0) − 1. onnxruntime's `Where` with scalar branches (the exporter's form) took 2.6 ms on a
   * [128, 32, 28, 28] map where `Cast`, `Mul` and `Sub` take 1.5 (2 threads); steps 1.04× faster on
   * rf-c3-small and bireal-small (2026-12-06).
   */
  protected override signOf(node: GraphNode, nonNegative: string, output: string): string {
    const zeroOne = this.emit(node, 'Cast', [nonNegative], `${output}/zero_one`, { to: 1 });
    const zeroTwo = this.emit(node, 'Mul', [zeroOne, this.scalar(2, 'sofar/two')], `${output}/zero_two`);
    return this.emit(node, 'Sub', [zeroTwo, this.scalar(1, 'sofar/plus_one')], output);
  }

  override asUint8Binary(node: GraphNode, value: string): string {
    const nonNegative = this.signBits.get(value);
    return nonNegative === undefined ? super.asUint8Binary(node, value) : this.cached(`u8:${value}`, () => this.uint8Binary(node, nonNegative, value));
  }
}
