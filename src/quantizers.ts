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
  summary: string;
}

export const QUANTIZERS = {
  ste_sign: {
    uses: ['activation', 'weight'],
    args: { clip: 1.0 },
    summary: 'sign(x); straight-through gradient dy·1{|x| ≤ clip}',
  },
  approx_sign: {
    uses: ['activation'],
    args: {},
    summary: 'sign(x); Bi-Real piecewise-polynomial gradient dy·max(0, 2 − 2|x|)',
  },
  swish_sign: {
    uses: ['activation'],
    args: { beta: 5.0 },
    summary: 'sign(x); gradient of the SignSwish dy·β(2 − βx·tanh(βx/2))/(1 + cosh βx)',
  },
  magnitude_aware_sign: {
    uses: ['weight'],
    args: { clip: 1.0 },
    summary: 'mean|W| per output channel × sign(W); scale held constant, straight-through gradient',
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

export function quantizersFor(use: QuantizerUse): QuantizerName[] {
  return (Object.keys(QUANTIZERS) as QuantizerName[]).filter((name) => quantizerDef(name).uses.includes(use));
}

/** `ste_sign(clip=1)`: how a quantizer reference reads in text and in the language. */
export function formatQuantizer(q: QuantizerRef): string {
  const args = Object.entries(q.args).map(([k, v]) => `${k}=${v}`);
  return args.length ? `${q.name}(${args.join(', ')})` : q.name;
}
