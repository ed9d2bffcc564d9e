/**
 * Where each parameter lives in the engine's flat buffers. All trainable parameters share one float
 * vector (and each optimizer slot one more of the same layout), all non-trainable ones (batch norm's
 * moving statistics) another; so a training step feeds and fetches a handful of tensors whatever the
 * size of the network, and the optimizer update is a few element-wise ops over one vector.
 */
import type { Graph, ParamSpec, WeightMap } from '../../src/graph/types.js';

export interface Placement {
  spec: ParamSpec;
  offset: number;
  size: number;
}

export interface FlatLayout {
  trainable: Placement[];
  trainableSize: number;
  state: Placement[];
  stateSize: number;
}

export function flatLayout(graph: Graph): FlatLayout {
  const layout: FlatLayout = { trainable: [], trainableSize: 0, state: [], stateSize: 0 };
  for (const node of graph.nodes) {
    for (const spec of node.params) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      if (spec.trainable) {
        layout.trainable.push({ spec, offset: layout.trainableSize, size });
        layout.trainableSize += size;
      } else {
        layout.state.push({ spec, offset: layout.stateSize, size });
        layout.stateSize += size;
      }
    }
  }
  return layout;
}

/**
 * Copies the named tensors into a flat vector; `suffix` selects optimizer slots (`/m`). A missing
 * entry is an error unless `missing` says what to fill in.
 */
export function pack(placements: readonly Placement[], source: WeightMap, out: Float32Array, suffix = '', missing?: number): void {
  for (const { spec, offset, size } of placements) {
    const key = spec.name + suffix;
    const values = source.get(key);
    if (values === undefined) {
      if (missing === undefined) throw new Error(`no values for '${key}'`);
      out.fill(missing, offset, offset + size);
      continue;
    }
    if (values.length !== size) throw new Error(`'${key}' has ${values.length} values, expected ${size} (shape ${spec.shape.join('×')})`);
    out.set(values, offset);
  }
}

/** The inverse of pack: fresh arrays keyed by parameter name (+ suffix). */
export function unpack(placements: readonly Placement[], flat: Float32Array, into: WeightMap, suffix = ''): WeightMap {
  for (const { spec, offset, size } of placements) into.set(spec.name + suffix, flat.slice(offset, offset + size));
  return into;
}
