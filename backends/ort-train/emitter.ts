/**
 * A thin layer over OnnxGraph for code that emits many small nodes: one-output ops with generated,
 * readable names (`<scope>/<hint>`), and cached constants so a scalar like 0.5 is stored once.
 */
import { OnnxGraph, type AttrValue, type Dim, type ElemType } from '../onnx/proto.js';

export interface OpOptions {
  /** Name stem of the output (default: the op type). */
  hint?: string;
  /** Float attributes whose value may be a whole number (`epsilon: 0`). */
  floats?: readonly string[];
  /** Exact output name (a graph output); default: a fresh name from the hint. */
  out?: string;
  /** The operator's domain (its opset 1 is imported); default the standard one. */
  domain?: string;
}

/** The lowest int64 bound, for Slice ends that run backwards past index 0. */
export const BEFORE_START = -(2 ** 62);

export class Emitter {
  readonly graph: OnnxGraph;
  private readonly cache = new Map<string, string>();
  private readonly scopes: string[] = [];
  private readonly domains = new Set<string>();

  constructor(name: string) {
    this.graph = new OnnxGraph(name);
  }

  /** Emits under a name scope, so values read `stage1/unit1/bconv/dW`. */
  scoped<T>(scope: string, fn: () => T): T {
    this.scopes.push(scope);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** A fresh value name in the current scope. */
  name(hint: string): string {
    const prefix = this.scopes.length ? this.scopes[this.scopes.length - 1] + '/' : '';
    return this.graph.fresh(prefix + hint);
  }

  /** A node with one output; returns the output's name. */
  op(type: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, o: OpOptions = {}): string {
    return this.opN(type, inputs, 1, attrs, o)[0];
  }

  /** A node with `count` outputs. */
  opN(type: string, inputs: readonly string[], count: number, attrs: Record<string, AttrValue> = {}, o: OpOptions = {}): string[] {
    const stem = o.hint ?? type;
    const outputs =
      o.out !== undefined && count === 1 ? [o.out] : Array.from({ length: count }, (_, i) => this.name(count === 1 ? stem : `${stem}_${i}`));
    if (o.domain) this.domains.add(o.domain);
    this.graph.node(type, inputs, outputs, attrs, { floatAttrs: o.floats, domain: o.domain });
    return outputs;
  }

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    return this.graph.input(name, type, dims);
  }

  /** Declares a graph output; its producer names it with `{ out: name }`. */
  output(name: string, type: ElemType, dims: readonly Dim[]): void {
    this.graph.output(name, type, dims);
  }

  /** A float32 scalar constant (cached). */
  f32(value: number): string {
    return this.cached(`f32:${Object.is(value, -0) ? '-0' : value}`, () => this.graph.constant('float32', [], Float32Array.of(value), 'c'));
  }

  /** An int64 vector constant (cached), for shapes, axes, pads and slice bounds. */
  i64(values: readonly number[]): string {
    return this.cached(`i64:${values.join(',')}`, () => this.graph.int64s(values, 'i'));
  }

  /** An int64 scalar constant (cached). */
  i64Scalar(value: number): string {
    return this.cached(`i64s:${value}`, () => this.graph.constant('int64', [], BigInt64Array.of(BigInt(value)), 'i'));
  }

  /** A float32 vector of `length` copies of `value` (cached). */
  constantVector(length: number, value: number): string {
    return this.cached(`vec:${length}:${value}`, () => this.graph.constant('float32', [length], new Float32Array(length).fill(value), 'v'));
  }

  /** A float32 tensor constant (not cached: large tensors are made once by their owner). */
  tensor(dims: readonly number[], data: Float32Array, hint = 'k'): string {
    return this.graph.constant('float32', dims, data, this.name(hint));
  }

  encode(doc: string): Uint8Array {
    return this.graph.encode({ producerVersion: '0.1.0', doc, opsets: Object.fromEntries([...this.domains].map((d) => [d, 1])) });
  }

  /** The value `make` returns for `key`, made on the first call only (an op or constant several rules share). */
  once(key: string, make: () => string): string {
    return this.cached(`once:${key}`, make);
  }

  private cached(key: string, make: () => string): string {
    let name = this.cache.get(key);
    if (name === undefined) {
      name = make();
      this.cache.set(key, name);
    }
    return name;
  }
}
