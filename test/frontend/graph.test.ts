/** The graph API: the TypeScript builder ≡ the language, JSON round-trips, and the printers. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../src/compile.js';
import { GraphBuilder, type Tensor } from '../../src/graph/builder.js';
import { graphToDot } from '../../src/graph/dot.js';
import { graphFromJson, graphToJson } from '../../src/graph/json.js';
import { printGraph } from '../../src/graph/print.js';
import type { Graph } from '../../src/graph/types.js';

/** Bi-Real ResNet18 written with the builder, mirroring specs/bireal-resnet18.sofar. */
function biRealResNet18(): Graph {
  const b = new GraphBuilder({
    name: 'bireal_resnet18',
    input: [3, 224, 224],
    classes: 1000,
    binarize: { activations: 'approx_sign', weights: 'magnitude_aware_sign' },
  });
  const bn = { momentum: 0.8, epsilon: 1e-3 };
  const project = (x: Tensor, ch: number, stride: number) => {
    x = b.avgpool(x, { kernel: 2, stride, padding: 'same' });
    x = b.conv(x, { kernel: 1, filters: ch });
    return b.batchnorm(x, bn);
  };
  const unit = (x: Tensor, ch: number, stride = 1) =>
    b.block('unit', () =>
      b.residual(x, (y) => b.batchnorm(b.bconv(y, { kernel: 3, filters: ch, stride }), bn), {
        shortcut: stride > 1 || x.shape[0] !== ch ? (s) => project(s, ch, stride) : null,
      }),
    );
  let x = b.scope('stem', () => {
    let y = b.conv(b.input(), { kernel: 7, filters: 64, stride: 2, init: 'he_normal' });
    y = b.batchnorm(y, bn);
    return b.maxpool(y, { kernel: 3, stride: 2, padding: 'same' });
  });
  const widths = [64, 128, 256, 512];
  widths.forEach((ch, i) => {
    x = b.scope(`conv${i + 2}`, () => {
      let y = unit(x, ch, i === 0 ? 1 : 2);
      for (let k = 0; k < 3; k++) y = unit(y, ch);
      return y;
    });
  });
  return b.finish(b.dense(b.globalAvgpool(x), { units: 1000 }));
}

const zoo = ['specs', 'specs/fashion'].flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.sofar')).map((f) => join(d, f)));
const load = (path: string) => compileFile(path).graph!;

describe('builder ≡ language', () => {
  it('Bi-Real ResNet18 from the builder and from the spec give identical graph JSON (sources aside)', () => {
    const fromSpec = graphToJson(load('specs/bireal-resnet18.sofar'), { sources: false });
    const fromBuilder = graphToJson(biRealResNet18(), { sources: false });
    expect(fromBuilder).toBe(fromSpec);
    expect(fromBuilder.length).toBeGreaterThan(10_000);
  });
});

describe('JSON', () => {
  it.each(zoo)('%s round-trips exactly', (path) => {
    const graph = load(path);
    const text = graphToJson(graph);
    const back = graphFromJson(text);
    expect(back.diagnostics).toEqual([]);
    expect(back.graph).toEqual(graph);
    expect(graphToJson(back.graph!)).toBe(text);
  });

  it('refuses malformed graphs with a message naming the problem', () => {
    const good = JSON.parse(graphToJson(load('specs/fashion/bireal-small.sofar')));
    const message = (g: unknown) => graphFromJson(JSON.stringify(g), 'g.json').diagnostics[0]?.message;
    expect(graphFromJson('{', 'g.json').diagnostics[0].message).toMatch(/^g\.json: not JSON/);
    expect(message({ ...good, format: 'onnx' })).toBe("g.json: not a SoFAr graph (format should be 'sofar-graph')");
    expect(message({ ...good, version: 9 })).toMatch(/version 9 is not supported/);
    const badOp = structuredClone(good);
    badOp.nodes[3].op = 'conv3d';
    expect(message(badOp)).toMatch(/node 3 \(.*\) has an unknown op 'conv3d'/);
    const forward = structuredClone(good);
    forward.nodes[2].inputs = [5];
    expect(message(forward)).toMatch(/inputs that are not earlier nodes/);
    const twice = structuredClone(good);
    twice.nodes[4].name = twice.nodes[3].name;
    expect(message(twice)).toMatch(/node 4 \(.*\) repeats the name of an earlier node/);
  });
});

describe('printers', () => {
  const g = load('specs/fashion/rf-c3-small.sofar');

  it('text: one line per node with op, shape, precision, name and source', () => {
    const lines = printGraph(g).split('\n');
    expect(lines).toHaveLength(g.nodes.length + 2);
    expect(lines[0]).toBe('graph fashion_rf_c3_small(input: f32[1,28,28]) -> 10 classes');
    expect(lines).toContain(
      '  %4 = conv(%3) {3x3 filters=32 pads=1,1,1,1 kernel=magnitude_aware_sign(clip=1) clip=1} : f32[32,28,28]  stage1/rf1/col3/unit1/bconv  (9216 params)  @ specs/fashion/rf-c3-small.sofar:10:5',
    );
    expect(lines[lines.length - 1]).toBe(`  return %${g.output}`);
  });

  it('DOT: one vertex per node and one edge per input', () => {
    const dot = graphToDot(g);
    expect(dot.match(/^\s+n\d+ \[label=/gm)).toHaveLength(g.nodes.length);
    expect(dot.match(/ -> /g)).toHaveLength(g.nodes.reduce((n, node) => n + node.inputs.length, 0));
    expect(dot).toContain('subgraph cluster_');
  });
});
