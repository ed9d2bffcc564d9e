/**
 * Reading a graph from JSON checks every node's attributes against its kind's schema, so a
 * hand-edited file fails at the node that is wrong instead of inside a backend.
 */
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../src/compile.js';
import { graphFromJson, graphToJson } from '../../src/graph/json.js';

const fractal = JSON.parse(graphToJson(compileFile('specs/fashion/rf-c3-small.sofar').graph!));
const message = (edit: (g: typeof fractal) => void) => {
  const g = structuredClone(fractal);
  edit(g);
  return graphFromJson(JSON.stringify(g), 'g.json').diagnostics[0]?.message;
};
const first = (g: typeof fractal, op: string) => g.nodes.find((n: { op: string }) => n.op === op);

describe('attribute schemas', () => {
  it('accepts the graph as written', () => {
    expect(graphFromJson(JSON.stringify(fractal)).diagnostics).toEqual([]);
  });

  it('names the node and the attribute that is wrong', () => {
    expect(message((g) => (first(g, 'conv').attrs.filters = 'x'))).toMatch(/^g\.json: node \d+ \(.*\): attribute 'filters' must be a whole number ≥ 1, not "x"$/);
    expect(message((g) => (first(g, 'conv').attrs.kernel = [0, 3]))).toMatch(/attribute 'kernel' must be 2 × a whole number ≥ 1, not \[0,3\]/);
    expect(message((g) => delete first(g, 'conv').attrs.groups)).toMatch(/attribute 'groups' must be a whole number ≥ 1, not missing/);
    expect(message((g) => (first(g, 'quantize').attrs.quantizer = { name: 'sine', args: {} }))).toMatch(/attribute 'quantizer' must be a quantizer \{ name, args \} with name one of .*ste_sign/);
    expect(message((g) => (first(g, 'batchnorm').attrs.momentum = 1.5))).toMatch(/attribute 'momentum' must be a number in \[0, 1\), not 1.5/);
    expect(message((g) => (first(g, 'join').attrs.mode = 'avg'))).toMatch(/attribute 'mode' must be one of mean, sum, max, concat, not "avg"/);
    expect(message((g) => first(g, 'join').attrs.columns.pop())).toMatch(/has 2 inputs but 1 column numbers/);
    expect(message((g) => (first(g, 'join').attrs.dropPath = { local: 2, global: 0 }))).toMatch(/attribute 'dropPath' must be \{ local, global \} with rates in \[0, 1\)/);
  });
});
