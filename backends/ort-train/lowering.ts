/**
 * The exporter's forward lowering as the engine's step models run it on the CPU: binary layers whose
 * input is ±1 multiply as `ConvInteger` / `MatMulInteger` on uint8 {0, 2} with zero point 1 (the
 * exporter's `--int` variant) instead of float `Conv` / `MatMul`. Their sums are integers, exact in
 * int32 and in float32 alike (|sum| ≤ fan-in ≪ 2²⁴), so the values are bit-identical, and onnxruntime's
 * int8 kernels (VNNI where the CPU has it) run them 1.5–2.5× faster, the uint8 conversions included.
 * The backward pass still reads the float ±1 input and kernel (rules.ts).
 *
 * A uint8 input is made straight from the comparison its sign was made from (x ≥ 0 ⇔ sign(x) ≥ 0), so
 * it costs one pass, not two.
 */
import type { GraphNode } from '../../src/graph/types.js';
import { LowerCtx, PLAIN_LOWERING, type LowerOptions } from '../onnx/context.js';

/** The engine's lowering options: integer binary products where `integer` (CPU sessions). */
export function trainingLowering(integer: boolean): LowerOptions {
  return { ...PLAIN_LOWERING, integer };
}

export class TrainingLowerCtx extends LowerCtx {
  override asUint8Binary(node: GraphNode, value: string): string {
    const nonNegative = this.signBits.get(value);
    return nonNegative === undefined ? super.asUint8Binary(node, value) : this.cached(`u8:${value}`, () => this.uint8Binary(node, nonNegative, value));
  }
}
