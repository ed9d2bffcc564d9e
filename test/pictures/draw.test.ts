/**
 * The drawn graph (`sofar graph -f svg`, ELK's layered layout) of every zoo spec: one box per node, no
 * two node boxes overlap, every box lies inside the boxes of its scopes, every input is an edge with a
 * route, and the edges into adds and joins are told apart as the issue asks (shortcuts, joins).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../src/compile.js';
import { summarize } from '../../src/cost.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { drawingToSvg, groupKeysOf, layoutGraph, type Box } from '../../src/graph/draw.js';
import type { Graph } from '../../src/graph/types.js';

const ZOO = [...readdirSync('specs').filter((f) => f.endsWith('.sofar')).map((f) => `specs/${f}`), ...readdirSync('specs/fashion').map((f) => `specs/fashion/${f}`)];
const load = (path: string): Graph => compileFile(path).graph!;
const overlap = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
const inside = (a: Box, outer: Box) => a.x >= outer.x - 0.5 && a.y >= outer.y - 0.5 && a.x + a.width <= outer.x + outer.width + 0.5 && a.y + a.height <= outer.y + outer.height + 0.5;

describe('the drawing of every zoo spec', () => {
  it('covers the zoo', () => expect(ZOO.length).toBeGreaterThanOrEqual(12));

  for (const path of ZOO) {
    it(path, async () => {
      const graph = load(path);
      const d = await layoutGraph(graph);
      expect(d.nodes.map((n) => n.id)).toEqual(graph.nodes.map((n) => n.id));
      for (const n of d.nodes) expect(n.width > 0 && n.height > 0 && n.x >= 0 && n.y >= 0, n.name).toBe(true);
      // No two node boxes overlap: sweep over x so the check stays near-linear.
      const byX = [...d.nodes].sort((a, b) => a.x - b.x);
      const overlaps: string[] = [];
      for (let i = 0; i < byX.length; i++) {
        for (let j = i + 1; j < byX.length && byX[j].x < byX[i].x + byX[i].width; j++) if (overlap(byX[i], byX[j])) overlaps.push(`${byX[i].name} × ${byX[j].name}`);
      }
      expect(overlaps).toEqual([]);
      const groups = new Map(d.groups.map((g) => [g.path, g]));
      const keys = groupKeysOf(graph);
      for (const n of d.nodes) for (const key of keys[n.id]) expect(inside(n, groups.get(key)!), `${n.name} in ${key}`).toBe(true);
      expect(d.edges.length).toBe(graph.nodes.reduce((s, n) => s + n.inputs.length, 0));
      for (const e of d.edges) expect(e.points.length, `${e.from}→${e.to}`).toBeGreaterThanOrEqual(2);
      const joins = graph.nodes.filter((n) => n.op === 'join').reduce((s, n) => s + n.inputs.length, 0);
      expect(d.edges.filter((e) => e.kind === 'join').length).toBe(joins);
      // The cost bars split the summary's totals: the nodes' params and OPs add up to them.
      const summary = summarize(graph);
      expect(d.nodes.reduce((s, n) => s + n.params, 0)).toBe(summary.params.total);
      expect(d.nodes.reduce((s, n) => s + n.ops, 0)).toBeCloseTo(summary.ops, 0);
    }, 60_000);
  }

  it('marks the identity of a residual unit and the projection path as shortcuts, and cuts fractal columns at joins', async () => {
    const graph = load('specs/fashion/rf-c3-small.sofar');
    const d = await layoutGraph(graph);
    const id = (name: string) => graph.nodes.find((n) => n.name === name)!.id;
    const kind = (from: string, to: string) => d.edges.find((e) => e.from === id(from) && e.to === id(to))!.kind;
    expect(kind('stem/bn', 'stage1/rf1/col3/unit1/add')).toBe('shortcut');
    expect(kind('stage1/rf1/col3/unit1/bn', 'stage1/rf1/col3/unit1/add')).toBe('data');
    expect(kind('stage2/unit1/shortcut/bn', 'stage2/unit1/add')).toBe('shortcut');
    expect(kind('stage2/unit1/bn', 'stage2/unit1/add')).toBe('data');
    expect(kind('stage1/rf1/col2/unit1/add', 'stage1/rf1/join1')).toBe('join');
    const keys = groupKeysOf(graph);
    expect(keys[id('stage1/rf1/col3/unit1/bn')]).toEqual(['stage1', 'stage1/rf1', 'stage1/rf1/col3', 'stage1/rf1/col3/unit1']);
    expect(keys[id('stage1/rf1/col3/unit3/bn')]).toEqual(['stage1', 'stage1/rf1', 'stage1/rf1/col3#2', 'stage1/rf1/col3#2/unit3']);
  });

  it('labels each conv box with its kernel, stride and groups, each pool with its window, each join with its mode', async () => {
    const b = new GraphBuilder({ name: 'labels', input: [8, 16, 16], classes: 4, binarize: { activations: 'ste_sign', weights: 'ste_sign' } });
    let x = b.conv(b.input(), { filters: 8, kernel: 3, groups: 8, padding: 'same', name: 'dw' });
    x = b.conv(x, { filters: 16, kernel: 1, name: 'pw' });
    x = b.bconv(x, { filters: 16, kernel: 3, stride: 2, padding: 'same', name: 'down' });
    x = b.conv(x, { filters: 16, kernel: [1, 3], groups: 4, dilation: 2, padding: 'same', name: 'grouped' });
    x = b.maxpool(x, { kernel: 2, stride: 2 });
    x = b.fractal(x, { columns: 2, join: 'sum' }, (z) => b.relu(z));
    const graph = b.finish(b.dense(b.flatten(x), { units: 4 }));
    const d = await layoutGraph(graph);
    const labelOf = (name: string) => d.nodes.find((n) => n.name === name)!.label;
    expect(labelOf('dw')).toBe('dwconv 3×3');
    expect(labelOf('pw')).toBe('conv 1×1');
    expect(labelOf('down')).toBe('bconv 3×3 /2');
    expect(labelOf('grouped')).toBe('conv 1×3 dil 2×2 g4');
    expect(labelOf('maxpool')).toBe('maxpool 2×2 /2');
    expect(d.nodes.filter((n) => n.op === 'join').map((n) => n.label)).toEqual(['join sum']);
    const svg = drawingToSvg(graph, d);
    for (const text of ['dwconv 3×3', 'conv 1×1', 'bconv 3×3 /2', 'join sum']) expect(svg).toContain(`font-weight="600">${text}</text>`);
    // The box is wide enough for its label.
    for (const n of d.nodes) expect(n.width, n.name).toBeGreaterThanOrEqual(n.label.length * 6.6);
  });

  it('sofar graph -f svg writes an SVG with one box per node', () => {
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'graph', 'specs/fashion/bireal-small.sofar', '-f', 'svg'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(r.stdout.match(/<g class="node"/g)!.length).toBe(load('specs/fashion/bireal-small.sofar').nodes.length);
  });
});
