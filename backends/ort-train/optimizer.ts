/**
 * The optimizer update over the flat parameter vector, inside the step model: weight decay on float
 * conv/dense kernels, SGD with momentum, Adam, or Bop on binary kernels with Adam on the rest
 * (docs/semantics.md), then clipping of binary kernels; and the number of binary weights that changed sign.
 * Per-parameter differences (which entries decay, which clip and where) are constant vectors built here
 * once, so the update is a dozen element-wise ops whatever the number of parameters.
 */
import type { Graph } from '../../src/graph/types.js';
import { bopParams, type OptimizerConfig } from '../../src/train/engine.js';
import type { Emitter } from './emitter.js';
import type { FlatLayout } from './layout.js';

export const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;

/** Optimizer slots per trainable parameter, in checkpoint naming (`<param>/m`). */
export function slotNames(optimizer: OptimizerConfig): readonly string[] {
  return optimizer.name === 'sgd' ? ['momentum'] : ['m', 'v'];
}

/** Per-entry 1 on binary kernels, 0 elsewhere; null when the model has none. */
export function binaryVector(layout: FlatLayout): Float32Array | null {
  const out = new Float32Array(layout.trainableSize);
  let any = false;
  for (const { spec, offset, size } of layout.trainable) {
    if (!spec.binary) continue;
    out.fill(1, offset, offset + size);
    any = true;
  }
  return any ? out : null;
}

/** Adam's bias corrections 1/(1 − β₁ᵗ) and 1/(1 − β₂ᵗ) for step t ≥ 1, fed to the step model. */
export function adamCorrections(step: number): [number, number] {
  return [1 / (1 - ADAM.beta1 ** step), 1 / (1 - ADAM.beta2 ** step)];
}

/** Per-entry weight-decay factor: `wd` on float conv and dense kernels, 0 elsewhere. */
export function decayVector(graph: Graph, layout: FlatLayout, wd: number): Float32Array {
  const out = new Float32Array(layout.trainableSize);
  const decays = new Set<string>();
  for (const node of graph.nodes) {
    if (node.op !== 'conv' && node.op !== 'dense') continue;
    for (const p of node.params) if (p.role === 'kernel' && !p.binary) decays.add(p.name);
  }
  for (const { spec, offset, size } of layout.trainable) if (decays.has(spec.name)) out.fill(wd, offset, offset + size);
  return out;
}

/** Per-entry clip bound: the layer's kernelClip for binary kernels, +∞ elsewhere; null when nothing clips. */
export function clipVector(graph: Graph, layout: FlatLayout): Float32Array | null {
  const clips = new Map<string, number>();
  for (const node of graph.nodes) {
    if (node.op !== 'conv' && node.op !== 'dense') continue;
    const clip = node.attrs.kernelClip;
    if (clip === null || node.attrs.kernelQuantizer === null) continue;
    for (const p of node.params) if (p.role === 'kernel') clips.set(p.name, clip);
  }
  if (clips.size === 0) return null;
  const out = new Float32Array(layout.trainableSize).fill(Infinity);
  for (const { spec, offset, size } of layout.trainable) {
    const clip = clips.get(spec.name);
    if (clip !== undefined) out.fill(clip, offset, offset + size);
  }
  return out;
}

export interface UpdateInputs {
  params: string;
  grads: string;
  lr: string;
  /** Slot values by slot name (`m`, `v`, `momentum`). */
  slots: Record<string, string>;
  /** Adam's bias corrections (scalars). */
  corrections?: [string, string];
}

export interface UpdateOutputs {
  /** Names the results must take (graph outputs). */
  params: string;
  slots: Record<string, string>;
  /** The number of binary weights whose sign (sign(0) = +1) the update changed; emitted when there are any. */
  flips?: string;
}

export function emitUpdate(e: Emitter, graph: Graph, layout: FlatLayout, optimizer: OptimizerConfig, inp: UpdateInputs, out: UpdateOutputs): void {
  e.scoped('optimizer', () => {
    let g = inp.grads;
    if (optimizer.weightDecay !== 0) {
      const decay = e.tensor([layout.trainableSize], decayVector(graph, layout, optimizer.weightDecay), 'decay');
      g = e.op('Add', [g, e.op('Mul', [inp.params, decay])], {}, { hint: 'g' });
    }
    const clip = clipVector(graph, layout);
    let step: string;
    const binary = binaryVector(layout);
    if (optimizer.name === 'bop' && binary) {
      if (!inp.corrections) throw new Error('internal: Bop needs Adam\'s bias corrections for the float parameters');
      emitBop(e, layout, optimizer, binary, inp, out, g, clip);
      if (out.flips) emitFlips(e, layout, binary, inp.params, out.params, out.flips);
      return;
    }
    if (optimizer.name === 'adam' || optimizer.name === 'bop') {
      if (!inp.corrections) throw new Error('internal: Adam needs its bias corrections');
      const m = e.op('Add', [e.op('Mul', [inp.slots.m, e.f32(ADAM.beta1)]), e.op('Mul', [g, e.f32(1 - ADAM.beta1)])], {}, { out: out.slots.m });
      const v = e.op(
        'Add',
        [e.op('Mul', [inp.slots.v, e.f32(ADAM.beta2)]), e.op('Mul', [e.op('Mul', [g, g]), e.f32(1 - ADAM.beta2)])],
        {},
        { out: out.slots.v },
      );
      const mHat = e.op('Mul', [m, inp.corrections[0]]);
      const vHat = e.op('Mul', [v, inp.corrections[1]]);
      step = e.op('Div', [mHat, e.op('Add', [e.op('Sqrt', [vHat]), e.f32(ADAM.epsilon)])], {}, { hint: 'step' });
    } else {
      step = e.op('Add', [e.op('Mul', [inp.slots.momentum, e.f32(optimizer.momentum)]), g], {}, { out: out.slots.momentum });
    }
    const updated = e.op('Sub', [inp.params, e.op('Mul', [step, inp.lr])], {}, clip ? { hint: 'updated' } : { out: out.params });
    if (clip) {
      const hi = e.tensor([layout.trainableSize], clip, 'clip_hi');
      const lo = e.tensor([layout.trainableSize], clip.map((c) => -c), 'clip_lo');
      e.op('Min', [e.op('Max', [updated, lo]), hi], {}, { out: out.params });
    }
    if (out.flips && binary) emitFlips(e, layout, binary, inp.params, out.params, out.flips);
  });
}

/**
 * Bop on the binary entries, Adam on the others, in one pass over the flat vector: m is Bop's moving
 * average of the gradient (rate γ) on binary entries and Adam's first moment elsewhere; v stays 0 on
 * binary entries; a binary weight w becomes −sign(w) where sign(w)·m > τ, else sign(w).
 */
function emitBop(e: Emitter, layout: FlatLayout, optimizer: OptimizerConfig, binary: Float32Array, inp: UpdateInputs, out: UpdateOutputs, g: string, clip: Float32Array | null): void {
  const { threshold, gamma } = bopParams(optimizer);
  const n = layout.trainableSize;
  const keep = e.tensor([n], binary.map((b) => (b ? 1 - gamma : ADAM.beta1)), 'm_keep');
  const rate = e.tensor([n], binary.map((b) => (b ? gamma : 1 - ADAM.beta1)), 'm_rate');
  const isFloat = e.tensor([n], binary.map((b) => 1 - b), 'float_mask');
  const isBinary = e.op('Greater', [e.tensor([n], binary, 'binary_mask'), e.f32(0.5)], {}, { hint: 'binary' });
  const m = e.op('Add', [e.op('Mul', [inp.slots.m, keep]), e.op('Mul', [g, rate])], {}, { out: out.slots.m });
  const v = e.op('Mul', [e.op('Add', [e.op('Mul', [inp.slots.v, e.f32(ADAM.beta2)]), e.op('Mul', [e.op('Mul', [g, g]), e.f32(1 - ADAM.beta2)])]), isFloat], {}, { out: out.slots.v });
  const mHat = e.op('Mul', [m, inp.corrections![0]]);
  const vHat = e.op('Mul', [v, inp.corrections![1]]);
  const adam = e.op('Sub', [inp.params, e.op('Mul', [e.op('Div', [mHat, e.op('Add', [e.op('Sqrt', [vHat]), e.f32(ADAM.epsilon)])]), inp.lr])], {}, { hint: 'adam' });
  const sign = e.op('Sub', [e.op('Mul', [e.op('Cast', [e.op('GreaterOrEqual', [inp.params, e.f32(0)])], { to: 1 }), e.f32(2)]), e.f32(1)], {}, { hint: 'sign' });
  const flip = e.op('Cast', [e.op('Greater', [e.op('Mul', [sign, m]), e.f32(threshold)])], { to: 1 }, { hint: 'flip' });
  const bop = e.op('Mul', [sign, e.op('Sub', [e.f32(1), e.op('Mul', [flip, e.f32(2)])])], {}, { hint: 'bop' });
  const updated = e.op('Where', [isBinary, bop, adam], {}, clip ? { hint: 'updated' } : { out: out.params });
  if (clip) {
    const hi = e.tensor([n], clip, 'clip_hi');
    const lo = e.tensor([n], clip.map((c) => -c), 'clip_lo');
    e.op('Min', [e.op('Max', [updated, lo]), hi], {}, { out: out.params });
  }
}

/** The number of binary entries whose sign (sign(0) = +1) differs between `before` and `after`. */
function emitFlips(e: Emitter, layout: FlatLayout, binary: Float32Array, before: string, after: string, name: string): void {
  const changed = e.op('Xor', [e.op('GreaterOrEqual', [before, e.f32(0)]), e.op('GreaterOrEqual', [after, e.f32(0)])]);
  const mask = e.tensor([layout.trainableSize], binary, 'flip_mask');
  e.op('ReduceSum', [e.op('Mul', [e.op('Cast', [changed], { to: 1 }), mask]), e.i64([0])], { keepdims: 0 }, { out: name });
}
