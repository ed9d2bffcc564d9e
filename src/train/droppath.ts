/**
 * Drop-path sampling for fractal joins, exactly as docs/semantics.md "Drop-path sampling" defines it.
 * Masks are drawn on the host from a generator seeded by (seed, step), so every engine sees the same
 * masks and a resumed run draws what the uninterrupted run would have.
 *
 * Draw order (part of the definition, since engines and resumed runs must agree): nothing when the
 * graph has no join; else one uniform u (the batch is global when u < the largest global rate); a
 * global batch then draws one column c = 1 + int(C_max); a local batch draws, join by join in node
 * order, one uniform per input (dropped when < the join's local rate) and, when a join kept nothing,
 * one int(k) for the input it keeps.
 */
import { Random } from '../random.js';
import { isNode, type Graph } from '../graph/types.js';

export interface JoinPlan {
  name: string;
  /** Column of each input. */
  columns: number[];
  local: number;
  /** Columns of the join's fractal (C_f). */
  fractalColumns: number;
}

export interface DropPathPlan {
  joins: JoinPlan[];
  /** The share of global batches: the largest global rate of any join. */
  globalRate: number;
  /** C_max: the most columns of any fractal. */
  maxColumns: number;
}

export function planDropPath(graph: Graph): DropPathPlan {
  const joinNodes = graph.nodes.filter((n) => isNode(n, 'join')).map((n) => n as Extract<typeof n, { op: 'join' }>);
  const fractalColumns = new Map<string, number>();
  for (const n of joinNodes) {
    fractalColumns.set(n.attrs.fractal, Math.max(fractalColumns.get(n.attrs.fractal) ?? 1, ...n.attrs.columns));
  }
  return {
    joins: joinNodes.map((n) => ({
      name: n.name,
      columns: [...n.attrs.columns],
      local: n.attrs.dropPath.local,
      fractalColumns: fractalColumns.get(n.attrs.fractal)!,
    })),
    globalRate: Math.max(0, ...joinNodes.map((n) => n.attrs.dropPath.global)),
    maxColumns: Math.max(1, ...fractalColumns.values()),
  };
}

/** The mask of every join (one 0/1 per input, at least one 1), keyed by join node name. */
export function sampleJoinMasks(plan: DropPathPlan, rng: Random): Map<string, Float32Array> {
  const masks = new Map<string, Float32Array>();
  if (!plan.joins.length) return masks;
  if (rng.uniform() < plan.globalRate) {
    const column = 1 + rng.int(plan.maxColumns);
    for (const join of plan.joins) {
      const target = Math.min(column, join.fractalColumns);
      const mask = Float32Array.from(join.columns, (c) => (c === target ? 1 : 0));
      // A join off the selected path keeps everything: its output is not used by that path.
      if (!mask.some((b) => b === 1)) mask.fill(1);
      masks.set(join.name, mask);
    }
    return masks;
  }
  for (const join of plan.joins) {
    const mask = Float32Array.from(join.columns, () => (rng.uniform() < join.local ? 0 : 1));
    if (!mask.some((b) => b === 1)) mask[rng.int(mask.length)] = 1;
    masks.set(join.name, mask);
  }
  return masks;
}

/** The drop-path masks of optimizer step `step` of a run seeded with `seed`. */
export function dropPathMasks(plan: DropPathPlan, seed: number, step: number): Map<string, Float32Array> {
  return sampleJoinMasks(plan, new Random(seed, `droppath/${step}`));
}
