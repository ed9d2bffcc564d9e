/** Shared helpers for the front-end tests. */
import { compile, type CompileOptions } from '../../src/compile.js';
import type { Diagnostic } from '../../src/diagnostics.js';
import type { Graph } from '../../src/graph/types.js';

/** Compiles a spec that must be valid; fails the test with the diagnostics otherwise. */
export function graphOf(text: string, options: CompileOptions = {}): Graph {
  const r = compile(text, 'test.sofar', options);
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length || !r.graph) throw new Error(errors.map((d) => `${d.span?.line}:${d.span?.column} ${d.message}`).join('\n') || 'no graph');
  return r.graph;
}

/** The error diagnostics of a spec that must be invalid. */
export function errorsOf(text: string, options: CompileOptions = {}): Diagnostic[] {
  const errors = compile(text, 'test.sofar', options).diagnostics.filter((d) => d.severity === 'error');
  if (!errors.length) throw new Error('expected errors, got none');
  return errors;
}

/** A model around some statements: input 3×16×16, 10 classes, ste_sign binarization. */
export function model(body: string, header = 'input 3x16x16\n  classes 10\n  binarize activations = ste_sign, weights = ste_sign'): string {
  return `model m {\n  ${header}\n${body}\n}\n`;
}

/** Line and column of the first occurrence of `needle` in `text` (1-based), to locate expected errors. */
export function position(text: string, needle: string): { line: number; column: number } {
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`'${needle}' not in text`);
  const before = text.slice(0, at).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

/** Longest path from the input counted in weight layers (conv and dense), a network's "depth". */
export function weightDepth(graph: Graph): number {
  const depth = new Array<number>(graph.nodes.length).fill(0);
  for (const node of graph.nodes) {
    const before = Math.max(0, ...node.inputs.map((i) => depth[i]));
    depth[node.id] = before + (node.op === 'conv' || node.op === 'dense' ? 1 : 0);
  }
  return depth[graph.output];
}
