/**
 * The front-end commands as a user meets them: the built `sofar` binary, exit codes, diagnostics with
 * a caret and a hint, and never a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { graphFromJson } from '../../src/graph/json.js';

const BIN = 'dist/cli/main.js';
const sofar = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);
});

describe('sofar check / summary / graph', () => {
  it('check: exit 0 and one line for a good spec', () => {
    const r = sofar('check', 'specs/bireal-resnet18.sofar');
    expect(r.code).toBe(0);
    expect(r.out).toBe('specs/bireal-resnet18.sofar: ok — model bireal_resnet18, 79 nodes, 11,689,512 params, 1.640e+8 OPs\n');
  });

  it('check: exit 1 with path:line:col, the source line, a caret and a hint; no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sofar-cli-'));
    const spec = join(dir, 'bad.sofar');
    writeFileSync(spec, 'model m {\n  input 3x32x32\n  classes 10\n  conv 3x3 16\n  reluu\n  global_avgpool\n  dense 10\n}\n');
    const r = sofar('check', spec);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(`${spec}:5:3: error: unknown layer or block 'reluu'\n  |\n5 |   reluu\n  |   ^^^^^\n  = hint: did you mean 'relu'?\n`);
  });

  it('summary --json follows the schema of DESIGN.md', () => {
    const r = sofar('summary', 'specs/binarydensenet28.sofar', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    // Larq's counting (batch norm: 2 non-trainable values a channel); Keras' count_params() beside it.
    expect(s).toMatchObject({ name: 'binary_densenet28', input: [3, 224, 224], classes: 1000, memoryBytes: 4_241_312, kerasParams: 5_150_504 });
    expect(Object.keys(s.params).sort()).toEqual(['binary', 'float', 'nonTrainable', 'total', 'trainable']);
    expect(s.params.total).toBe(5_131_496);
    expect(Object.keys(s.macs).sort()).toEqual(['binary', 'byBits', 'float', 'total']);
    expect(typeof s.ops).toBe('number');
    expect(s.layers[0]).toMatchObject({ name: 'stem/conv', op: 'conv', outputShape: [64, 112, 112], params: 9408, macs: 118_013_952, source: 'specs/binarydensenet28.sofar:25:5' });
  });

  it('summary prints the Larq-style tables', () => {
    const r = sofar('summary', 'specs/bireal-resnet18.sofar');
    expect(r.code).toBe(0);
    expect(r.out).toContain('conv5/unit4/bconv');
    // The title first, then the per-layer table, then the totals.
    expect(r.out.split('\n')[0]).toBe('bireal_resnet18 summary (input 3×224×224, 1000 classes)');
    expect(r.out.indexOf('conv5/unit4/bconv')).toBeLessThan(r.out.indexOf('Total params'));
    // Larq Zoo's published summary of Bi-Real Net (larq/docs #85), field for field.
    expect(r.out).toMatch(/Model size\s+│\s+4\.00 MiB/);
    expect(r.out).toMatch(/Ratio of MACs that are binarized\s+│\s+0\.9240/);
    expect(r.out).toMatch(/Model size\s+│\s+4,189,344 bytes/);
    expect(r.out).toMatch(/OPs \(1-bit MACs \/ 64 \+ other MACs\)\s+│\s+1\.640e\+8/);
  });

  it('graph --format json writes a graph that reads back; --set overrides model parameters', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'sofar-cli-')), 'g.json');
    const r = sofar('graph', 'specs/fractalnet-cifar.sofar', '--format', 'json', '--set', 'columns=2', '-o', out);
    expect(r.code).toBe(0);
    const g = graphFromJson(readFileSync(out, 'utf8')).graph!;
    expect(g.nodes.filter((n) => n.op === 'conv')).toHaveLength(5 * 3);
  });

  it('check, summary and graph accept the graph files build writes', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'sofar-cli-')), 'fashion_bireal_small.graph.json');
    expect(sofar('graph', 'specs/fashion/bireal-small.sofar', '--format', 'json', '-o', out).code).toBe(0);
    expect(sofar('check', out).out).toBe(`${out}: ok — model fashion_bireal_small, 35 nodes, 308,074 params, 1.594e+6 OPs\n`);
    expect(JSON.parse(sofar('summary', out, '--json').out)).toEqual(JSON.parse(sofar('summary', 'specs/fashion/bireal-small.sofar', '--json').out));
    expect(sofar('graph', out).out).toBe(sofar('graph', 'specs/fashion/bireal-small.sofar').out);
    expect(sofar('check', out, '--set', 'columns=3').code).toBe(2);
  });

  it('wrong usage exits 2', () => {
    expect(sofar('summary').code).toBe(2);
    expect(sofar('frobnicate').code).toBe(2);
    const r = sofar('graph', 'specs/bireal-resnet18.sofar', '--format', 'png');
    expect(r.code).toBe(2);
    expect(r.err).toContain("error: unknown format 'png'");
    expect(r.err).toContain('(run sofar graph --help for usage)');
    expect(sofar('train', 'specs/fractalnet-cifar.sofar', '--epochs', 'x').err).toContain('(run sofar train --help for usage)');
    expect(sofar('graph', 'specs/fractalnet-cifar.sofar', '--set', 'columns').code).toBe(2);
    // A --set value is one expression: its syntax errors speak of the value, not of lines and files.
    const unfinished = sofar('check', 'specs/fractalnet-cifar.sofar', '--set', 'widths=[64,');
    expect(unfinished.code).toBe(1);
    expect(unfinished.err).toContain('--set widths:1:4: error: unexpected end of the value in an expression');
    expect(unfinished.err).toContain('= hint: a --set value is a number, true or false, a name, a list [...] or an expression in ( )');
    expect(unfinished.err).not.toMatch(/end of the line|end of file/);
  });

  it('a missing file and an unknown model parameter are user errors (exit 1)', () => {
    const missing = sofar('check', 'specs/nope.sofar');
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('error: cannot read specs/nope.sofar: no such file');
    const param = sofar('check', 'specs/fractalnet-cifar.sofar', '--set', 'colums=3');
    expect(param.code).toBe(1);
    expect(param.err).toContain("has no parameter 'colums'");
    expect(param.err).toContain("did you mean 'columns'?");
    // A value wrong in meaning is reported at the flag, naming where the spec uses it.
    const join = sofar('check', 'specs/fractalnet-cifar.sofar', '--set', 'join=avg');
    expect(join.code).toBe(1);
    expect(join.err).toMatch(/^--set join:1:1: error: a fractal join is one of mean, sum, max, concat, not the name 'avg' \(the value of --set join, used at specs\/fractalnet-cifar\.sofar:\d+:\d+\)\n {2}\|\n1 \| avg\n/);
  });

  it('a binary file is refused in one line; a file full of errors shows the first 25 and counts the rest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sofar-cli-'));
    const binary = join(dir, 'model.onnx');
    writeFileSync(binary, Buffer.from([8, 0, 18, 5, 115, 111, 102, 97, 114, 0, 255]));
    const r = sofar('check', binary);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: ${binary} is not a .sofar spec: it is a binary file\n  = hint: a spec is text; sofar run, bench and eval also accept a model.onnx\n`);
    const noisy = join(dir, 'noisy.sofar');
    writeFileSync(noisy, 'model m {\n' + '  relu @\n'.repeat(40) + '}\n');
    const many = sofar('check', noisy);
    expect(many.code).toBe(1);
    expect(many.err.match(/error: unexpected character '@'/g)).toHaveLength(25);
    expect(many.err).toContain('... and 15 more\n40 errors\n');
  });

  it('--help for every command', () => {
    for (const cmd of ['check', 'summary', 'graph', 'build', 'run', 'bench', 'train', 'eval']) {
      const r = sofar(cmd, '--help');
      expect(r.code, cmd).toBe(0);
      expect(r.out).toContain(`Usage: sofar ${cmd}`);
    }
  });
});
