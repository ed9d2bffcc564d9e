/**
 * A graph's parameters as tfjs variables in the backend's layout, with the conversions to and from the
 * graph's weight maps. Variables get tfjs' generated names (so several stores can live side by side);
 * they are found by the graph's parameter names here.
 */
import type { Graph, ParamSpec, WeightMap } from '../../src/graph/types.js';
import { graphParams } from '../../src/weights/init.js';
import type { ParamLookup } from './forward.js';
import { backendShape, paramFromBackend, paramToBackend } from './layout.js';
import type { Tensor, Tf } from './tf.js';

type Variable = ReturnType<Tf['variable']>;

export class ParamStore {
  readonly specs: readonly ParamSpec[];
  readonly trainable: readonly ParamSpec[];
  private readonly variables = new Map<string, Variable>();

  constructor(private readonly tf: Tf, graph: Graph, weights: WeightMap) {
    this.specs = graphParams(graph);
    this.trainable = this.specs.filter((p) => p.trainable);
    try {
      for (const spec of this.specs) {
        const values = weights.get(spec.name);
        if (!values) throw new Error(`no weights for parameter '${spec.name}'`);
        const initial = paramToBackend(tf, spec, values);
        this.variables.set(spec.name, tf.variable(initial, spec.trainable));
        initial.dispose();
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  readonly lookup: ParamLookup = (name) => this.variable(name);

  variable(name: string): Variable {
    const v = this.variables.get(name);
    if (!v) throw new Error(`internal: unknown parameter '${name}'`);
    return v;
  }

  trainableVariables(): Variable[] {
    return this.trainable.map((p) => this.variable(p.name));
  }

  /** Every parameter in the graph's layout. */
  async read(): Promise<WeightMap> {
    const out: WeightMap = new Map();
    for (const spec of this.specs) out.set(spec.name, await paramFromBackend(this.tf, spec, this.variable(spec.name)));
    return out;
  }

  /** Replaces every parameter; all must be present with the right sizes (checked before any changes). */
  write(weights: WeightMap): void {
    const tensors = new Map<string, Tensor>();
    try {
      for (const spec of this.specs) {
        const values = weights.get(spec.name);
        if (!values) throw new Error(`no weights for parameter '${spec.name}'`);
        tensors.set(spec.name, paramToBackend(this.tf, spec, values));
      }
      for (const [name, t] of tensors) this.variable(name).assign(t);
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}

/** Zero-filled variables shaped like the given parameters (optimizer slots). */
export function zeroSlots(tf: Tf, specs: readonly ParamSpec[], suffix: string): Map<string, Variable> {
  return new Map(
    specs.map((p) => {
      const zeros = tf.zeros(backendShape(p));
      const slot = tf.variable(zeros, false);
      zeros.dispose();
      return [`${p.name}/${suffix}`, slot];
    }),
  );
}
