/**
 * `sofar plot` and `sofar compare` on the committed Fashion-MNIST runs: the SVG parses as XML (Python's
 * ElementTree, an independent parser), has one polyline per run and metric and labelled axes, and the
 * compared numbers are those `sofar summary --json` prints for each spec.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/export.js';
import { compileFile } from '../../src/compile.js';
import { initWeights } from '../../src/index.js';
import { niceTicks, plotRunsSvg, wholeTicks } from '../../src/plot.js';
import { parseColumn } from '../../cli/commands/compare.js';

const BIN = 'dist/cli/main.js';
const sofar = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const RUNS = ['bireal-small', 'drf-c2-small', 'rf-c3-small'];
const metrics = (name: string) => `bench/results/fashion-mnist/${name}.metrics.jsonl`;
const spec = (name: string) => `specs/fashion/${name}.sofar`;

interface Parsed {
  root: string;
  polylines: { run: string; metric: string; points: number }[];
  points: string[];
  axisLabels: string[];
  panels: string[];
}

/** The SVG read by Python's ElementTree: it raises on anything that is not well-formed XML. */
function parseSvg(svg: string): Parsed {
  const script = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
ns = '{http://www.w3.org/2000/svg}'
print(json.dumps({
  'root': root.tag,
  'polylines': [{'run': e.get('data-run'), 'metric': e.get('data-metric'), 'points': len(e.get('points').split())} for e in root.iter(ns + 'polyline')],
  'points': [e.get('data-run') for e in root.iter(ns + 'circle') if e.get('class') == 'run-point'],
  'axisLabels': [e.text for e in root.iter(ns + 'text') if (e.get('class') or '').startswith('axis-label')],
  'panels': [e.get('data-panel') for e in root.iter(ns + 'g') if e.get('class') == 'panel'],
}))`;
  const r = spawnSync('python3', ['-c', script], { input: svg, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the SVG does not parse: ${r.stderr}`);
  return JSON.parse(r.stdout) as Parsed;
}

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);
});

describe('sofar plot', () => {
  it('draws one polyline per run and metric (test and training), with every epoch, labelled axes, and one OPs point per run given --spec', () => {
    const r = sofar('plot', ...RUNS.map(metrics), ...RUNS.flatMap((n) => ['--spec', spec(n)]));
    expect(r.code, r.err).toBe(0);
    const svg = parseSvg(r.out);
    expect(svg.root).toBe('{http://www.w3.org/2000/svg}svg');
    expect(svg.panels).toEqual(['Accuracy', 'Loss', 'Final test accuracy against OPs']);
    const epochs = (name: string) => readFileSync(metrics(name), 'utf8').trim().split('\n').length;
    const lines = (metric: string) => RUNS.map((run) => ({ run, metric, points: epochs(run) }));
    expect(svg.polylines).toEqual([...lines('testAccuracy'), ...lines('trainAccuracy'), ...lines('testLoss'), ...lines('trainLoss')]);
    expect(svg.axisLabels).toEqual(['epoch', 'accuracy (test solid, training dashed)', 'epoch', 'loss (test solid, training dashed)', 'OPs (1-bit MACs / 64 + 32-bit MACs)', 'test accuracy']);
    expect(svg.points).toEqual(RUNS);
  });

  it('takes the OPs from a run folder’s model.onnx (sofar.summary), and notes runs without them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sofar-plot-'));
    const run = join(dir, 'bireal');
    mkdirSync(run);
    writeFileSync(join(run, 'metrics.jsonl'), readFileSync(metrics('bireal-small')));
    const { graph } = compileFile(spec('bireal-small'));
    writeFileSync(join(run, 'model.onnx'), exportOnnx(graph!, initWeights(graph!, 1)));
    const out = join(dir, 'runs.svg');
    const r = sofar('plot', run, metrics('rf-c3-small'), '-o', out);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('no OPs for rf-c3-small');
    const svg = parseSvg(readFileSync(out, 'utf8'));
    expect(svg.points).toEqual(['bireal']);
    expect(svg.polylines.map((p) => p.run)).toEqual(Array(4).fill(['bireal', 'rf-c3-small']).flat());
  });

  it('writes PNG: the SVG rasterised at twice its size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sofar-plot-png-'));
    try {
      const file = join(dir, 'runs.png');
      expect(sofar('plot', ...RUNS.map(metrics), '-o', file).code).toBe(0);
      const png = readFileSync(file);
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const svg = sofar('plot', ...RUNS.map(metrics)).out;
      const width = Number(/<svg[^>]*\bwidth="(\d+)"/.exec(svg)![1]);
      expect(png.readUInt32BE(16)).toBe(2 * width); // IHDR width
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a missing run, an output that is neither SVG nor PNG, and more specs than runs', () => {
    expect(sofar('plot', 'no/such/run').code).toBe(1);
    expect(sofar('plot', metrics('bireal-small'), '-o', 'x.jpg').code).toBe(2);
    expect(sofar('plot', metrics('bireal-small'), '--spec', spec('bireal-small'), '--spec', spec('rf-c3-small')).code).toBe(2);
  });

  it('training curves beside test ones, on whole-number epoch ticks, for a one-epoch run too', () => {
    const point = (epoch: number) => ({ epoch, testAccuracy: 0.8, testLoss: 0.5, trainAccuracy: 0.7, trainLoss: 0.9 });
    for (const [points, ticks] of [
      [[point(1)], ['1', '2']],
      [[1, 2, 3].map(point), ['1', '2', '3']],
    ] as const) {
      const svg = plotRunsSvg([{ label: 'run', points: [...points] }]);
      const xTicks = [...svg.matchAll(/<text class="tick x"[^>]*>([^<]*)</g)].map((m) => m[1]);
      expect(xTicks).toEqual([...ticks, ...ticks]);
      expect([...svg.matchAll(/data-metric="(\w+)"/g)].map((m) => m[1])).toEqual(['testAccuracy', 'trainAccuracy', 'testLoss', 'trainLoss']);
      // The training loss (0.9) lies within the loss axis: its range covers both curves.
      expect(svg).toContain('epoch 1, training: 0.9');
    }
  });

  it('wholeTicks steps by whole numbers only', () => {
    expect(wholeTicks(1, 1)).toEqual([1, 2]);
    expect(wholeTicks(1, 4)).toEqual([1, 2, 3, 4]);
    expect(wholeTicks(1, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(wholeTicks(1, 100)).toEqual([0, 20, 40, 60, 80, 100]);
  });

  it('niceTicks covers the range in steps of 1, 2 or 5 times a power of ten', () => {
    expect(niceTicks(0.8018, 0.9079)).toEqual([0.8, 0.85, 0.9, 0.95]); // range 0.106 / 5 = 0.021 → step 0.05
    expect(niceTicks(1, 10)).toEqual([0, 2, 4, 6, 8, 10]);
  });
});

describe('sofar compare', () => {
  it('--json holds, for each spec, exactly what sofar summary --json --no-layers prints', () => {
    const specs = RUNS.map(spec);
    const r = sofar('compare', ...specs, '--json');
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as ({ spec: string } & Record<string, unknown>)[];
    expect(rows.map((row) => row.spec)).toEqual(specs);
    for (const row of rows) {
      const { spec: path, ...totals } = row;
      expect(totals).toEqual(JSON.parse(sofar('summary', path, '--json', '--no-layers').out));
    }
  });

  it('the table shows each model’s OPs as summary does', () => {
    const r = sofar('compare', spec('bireal-small'), spec('rf-c3-small'));
    expect(r.code).toBe(0);
    const opsRow = r.out.split('\n').find((l) => /│ OPs +│/.test(l))!;
    for (const s of [spec('bireal-small'), spec('rf-c3-small')]) {
      const ops = (JSON.parse(sofar('summary', s, '--json', '--no-layers').out) as { ops: number }).ops;
      expect(opsRow).toContain(ops.toExponential(3));
    }
  });

  it('each column carries its own settings (SPEC:NAME=V,…), on top of --set, and shows them in its header', () => {
    const rf = spec('rf-c3-small');
    const r = sofar('compare', rf, `${rf}:columns=2`, `${rf}:columns=2,join=sum`, '--set', 'width=16', '--json');
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as { spec: string; settings: Record<string, string>; params: { total: number } }[];
    expect(rows.map((row) => row.spec)).toEqual([rf, rf, rf]);
    expect(rows.map((row) => row.settings)).toEqual([{ width: '16' }, { width: '16', columns: '2' }, { width: '16', columns: '2', join: 'sum' }]);
    // Each is the summary of the spec built with those values.
    expect(rows[1].params.total).toBe(JSON.parse(sofar('summary', rf, '--set', 'width=16', '--set', 'columns=2', '--json', '--no-layers').out).params.total);
    expect(rows[0].params.total).not.toBe(rows[1].params.total);
    const table = sofar('compare', rf, `${rf}:columns=2`).out;
    const head = table.split('\n').slice(0, 4).join('\n');
    expect(head).toContain('columns=2');
    const totals = table.split('\n').find((l) => /│ Total params +│/.test(l))!.split('│').map((c) => c.trim()).filter(Boolean);
    expect(totals[1]).not.toBe(totals[2]);
  });

  it('parseColumn finds the settings after the first `:NAME=` and keeps list values whole', () => {
    expect(parseColumn('a.sofar')).toEqual({ spec: 'a.sofar', set: [] });
    expect(parseColumn('dir:x/a.sofar:columns=2,join=sum')).toEqual({ spec: 'dir:x/a.sofar', set: ['columns=2', 'join=sum'] });
    expect(parseColumn('a.sofar:widths=[1,2],depth=3')).toEqual({ spec: 'a.sofar', set: ['widths=[1,2]', 'depth=3'] });
  });
});
