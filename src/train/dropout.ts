/**
 * Dropout masks, drawn on the host (docs/semantics.md): per dropout node, `n × shape` values, each 0
 * with probability p and 1/(1 − p) otherwise (inverted dropout, so inference is the identity). Each
 * node has its own stream seeded by (seed, step, node name), so adding a layer elsewhere leaves a
 * node's masks unchanged.
 */
import { Random } from '../random.js';
import { isNode, type Graph } from '../graph/types.js';

export interface DropoutPlan {
  name: string;
  rate: number;
  /** Values per sample. */
  size: number;
}

export function planDropout(graph: Graph): DropoutPlan[] {
  return graph.nodes
    .filter((n) => isNode(n, 'dropout'))
    .map((n) => ({ name: n.name, rate: (n.attrs as { rate: number }).rate, size: n.shape.reduce((a, b) => a * b, 1) }));
}

export function dropoutMasks(plans: readonly DropoutPlan[], seed: number, step: number, n: number): Map<string, Float32Array> {
  const masks = new Map<string, Float32Array>();
  for (const plan of plans) {
    const mask = new Float32Array(n * plan.size);
    const kept = 1 / (1 - plan.rate);
    if (plan.rate === 0) mask.fill(1);
    else {
      const rng = new Random(seed, `dropout/${step}/${plan.name}`);
      for (let i = 0; i < mask.length; i++) mask[i] = rng.uniform() < plan.rate ? 0 : kept;
    }
    masks.set(plan.name, mask);
  }
  return masks;
}
