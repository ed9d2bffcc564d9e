/**
 * The quantizer registry (after Larq): each quantizer is known by the name users write, with its
 * arguments and their defaults. The language, the graph and every backend look quantizers up here by
 * name; each backend supplies the forward and gradient functions for every registered name.
 */
import type { QuantizerRef } from './graph/types.js';

export type QuantizerUse = 'activation' | 'weight';

export interface QuantizerDef {
  uses: readonly QuantizerUse[];
  /** Argument names with their defaults. */
  args: Readonly<Record<string, number>>;
  /**
   * What an activation quantizer outputs: `sign` {−1, +1} (the graph's `bin`), `heaviside` {0, 1},
   * `levels` k-bit levels in [0, 1]. Weight quantizers output a scaled sign.
   */
  output: 'sign' | 'heaviside' | 'levels';
  summary: string;
}

export const QUANTIZERS = {
  ste_sign: {
    uses: ['activation', 'weight'],
    args: { clip: 1.0 },
    output: 'sign',
    summary: 'sign(x); straight-through gradient dy·1{|x| ≤ clip}',
  },
  approx_sign: {
    uses: ['activation'],
    args: {},
    output: 'sign',
    summary: 'sign(x); Bi-Real piecewise-polynomial gradient dy·max(0, 2 − 2|x|)',
  },
  swish_sign: {
    uses: ['activation'],
    args: { beta: 5.0 },
    output: 'sign',
    summary: 'sign(x); gradient of the SignSwish dy·β(2 − βx·tanh(βx/2))/(1 + cosh βx)',
  },
  magnitude_aware_sign: {
    uses: ['weight'],
    args: { clip: 1.0 },
    output: 'sign',
    summary: 'mean|W| per output channel × sign(W); scale held constant, straight-through gradient',
  },
  magnitude_aware_sign_unclipped: {
    uses: ['weight'],
    args: {},
    output: 'sign',
    summary: 'mean|W| over the whole kernel (one scale a layer, DoReFa-Net) × sign(W); scale held constant, identity gradient',
  },
  xnor_weight_scale: {
    uses: ['weight'],
    args: {},
    output: 'sign',
    summary: 'W clipped to [−1, 1]; mean|W| per output channel × sign(W) (XNOR-Net); straight-through gradient dy·1{|W| ≤ 1}',
  },
  ste_heaviside: {
    uses: ['activation'],
    args: { clip: 1.0 },
    output: 'heaviside',
    summary: '1 if x > 0 else 0; straight-through gradient dy·1{|x| ≤ clip}',
  },
  dorefa: {
    uses: ['activation'],
    args: { k_bit: 2 },
    output: 'levels',
    summary: 'round(clip(x, 0, 1)·n)/n with n = 2^k − 1 (DoReFa-Net); gradient dy·1{0 ≤ x ≤ 1}',
  },
} as const satisfies Record<string, QuantizerDef>;

/** Every registered quantizer's name: a backend's table typed `Record<QuantizerName, …>` must cover them all. */
export type QuantizerName = keyof typeof QUANTIZERS;

/** The names registered for one use. */
export type QuantizerNameFor<U extends QuantizerUse> = { [K in QuantizerName]: U extends (typeof QUANTIZERS)[K]['uses'][number] ? K : never }[QuantizerName];
export type ActivationQuantizerName = QuantizerNameFor<'activation'>;
export type WeightQuantizerName = QuantizerNameFor<'weight'>;

export function isQuantizerName(name: string): name is QuantizerName {
  return Object.hasOwn(QUANTIZERS, name);
}

/** The registry entry of a name (typed as the common definition, whatever the name). */
export function quantizerDef(name: QuantizerName): QuantizerDef {
  return QUANTIZERS[name];
}

/** Resolves a name and user arguments into a complete reference, or explains what is wrong. */
export function resolveQuantizer<U extends QuantizerUse>(
  name: string,
  args: Record<string, number>,
  use: U,
): { ok: true; ref: QuantizerRef<QuantizerNameFor<U>> } | { ok: false; message: string; hint?: string } {
  if (!isQuantizerName(name)) {
    return {
      ok: false,
      message: `unknown quantizer '${name}'`,
      hint: `quantizers for ${use}s: ${quantizersFor(use).join(', ')}, or none`,
    };
  }
  const def = quantizerDef(name);
  if (!def.uses.includes(use)) {
    return {
      ok: false,
      message: `'${name}' is not ${use === 'activation' ? 'an' : 'a'} ${use} quantizer`,
      hint: `quantizers for ${use}s: ${quantizersFor(use).join(', ')}`,
    };
  }
  const full: Record<string, number> = { ...def.args };
  for (const [key, value] of Object.entries(args)) {
    if (!(key in def.args)) {
      const known = Object.keys(def.args);
      return {
        ok: false,
        message: `quantizer '${name}' has no argument '${key}'`,
        hint: known.length ? `its arguments: ${known.join(', ')}` : `'${name}' takes no arguments`,
      };
    }
    full[key] = value;
  }
  // The registry has just confirmed the name serves this use.
  return { ok: true, ref: { name, args: full } as QuantizerRef<QuantizerNameFor<U>> };
}

/** The bit width a quantizer's output counts at (Larq's `precision`): k for `dorefa`, 1 otherwise. */
export function quantizerBits(q: QuantizerRef): number {
  return q.name === 'dorefa' ? (q.args.k_bit ?? 2) : 1;
}

/** Whether an activation quantizer's output lies in {−1, +1} (the graph's `bin` precision). */
export function outputsSign(q: QuantizerRef): boolean {
  return quantizerDef(q.name).output === 'sign';
}

export function quantizersFor(use: QuantizerUse): QuantizerName[] {
  return (Object.keys(QUANTIZERS) as QuantizerName[]).filter((name) => quantizerDef(name).uses.includes(use));
}

/** `ste_sign(clip=1)`: how a quantizer reference reads in text and in the language. */
export function formatQuantizer(q: QuantizerRef): string {
  const args = Object.entries(q.args).map(([k, v]) => `${k}=${v}`);
  return args.length ? `${q.name}(${args.join(', ')})` : q.name;
}
