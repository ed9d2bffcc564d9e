/**
 * The optimizer update over the flat parameter vector, inside the step model: weight decay on float
 * conv/dense kernels, SGD with momentum or Adam (docs/semantics.md), then clipping of binary kernels.
 * Per-parameter differences (which entries decay, which clip and where) are constant vectors built here
 * once, so the update is a dozen element-wise ops whatever the number of parameters.
 */
import type { Graph } from '../../src/graph/types.js';
import type { OptimizerConfig } from '../../src/train/engine.js';
import type { Emitter } from './emitter.js';
import type { FlatLayout } from './layout.js';

export const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;

/** Optimizer slots per trainable parameter, in checkpoint naming (`<param>/m`). */
export function slotNames(optimizer: OptimizerConfig): readonly string[] {
  return optimizer.name === 'adam' ? ['m', 'v'] : ['momentum'];
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
    if (optimizer.name === 'adam') {
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
  });
}
