/**
 * `sofar build`, `sofar run` and `sofar bench`, driven in-process through commander on the small
 * Fashion-MNIST Bi-Real spec. Outputs are compared with the backend's API called directly.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { onnx } from '../../backends/onnx/proto.js';
import { register as registerBench } from '../../cli/commands/bench.js';
import { register as registerBuild } from '../../cli/commands/build.js';
import { register as registerRun } from '../../cli/commands/run.js';
import { UsageError, UserError } from '../../cli/common.js';
import { writeCheckpoint } from '../../src/checkpoint/index.js';
import { compileFile } from '../../src/compile.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { encodeNpy } from '../../src/io/npy.js';
import { initWeights, seededInput } from '../../src/weights/init.js';
import { probeWebGpuAdapter } from '../../backends/webgpu/adapter.js';
import { skipWithout } from '../helpers/requirements.js';
import { inProcessCli } from '../helpers/cli.js';

const SPEC = resolve('specs/fashion/bireal-small.sofar');

/** Runs `sofar ARGS` in-process; returns what it printed on stdout. */
const sofar = inProcessCli([registerBuild, registerRun, registerBench]);

/** The logits the backend gives directly for this graph, weights and input. */
async function direct(graph: Graph, weights: WeightMap, x: Float32Array, n: number): Promise<number[][]> {
  const session = await createSession(exportOnnx(graph, weights));
  const y = await runOnnx(session, x, n);
  await session.release();
  const k = y.length / n;
  return Array.from({ length: n }, (_, i) => Array.from(y.subarray(i * k, (i + 1) * k)));
}

describe('sofar build / run / bench', () => {
  const graph = compileFile(SPEC).graph!;
  let dir: string;
  const cwd = process.cwd();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sofar-cli-'));
    process.chdir(dir);
  });
  afterAll(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('build with no target writes build/<name>.onnx and build/<name>.graph.json and prints the summary', async () => {
    const out = await sofar('build', SPEC);
    expect(out).toContain('fashion_bireal_small summary');
    expect(out).toMatch(/Model size\W+89,512 bytes/); // summarize(graph).memoryBytes, the Larq convention
    const model = onnx.ModelProto.decode(readFileSync('build/fashion_bireal_small.onnx'));
    const meta = Object.fromEntries(model.metadataProps!.map((p) => [p.key, p.value]));
    expect(meta['sofar.spec']).toBe('fashion_bireal_small');
    expect(JSON.parse(meta['sofar.summary']).memoryBytes).toBe(89512);
    expect(meta['sofar.weights']).toBe('seeded init, seed 0');
    expect(JSON.parse(readFileSync('build/fashion_bireal_small.graph.json', 'utf8'))).toEqual(JSON.parse(JSON.stringify(graph)));
  });

  it('build --target onnx -o PATH --int --seed N writes that model only, and it runs', async () => {
    await sofar('build', SPEC, '--target', 'onnx', '-o', 'out/int.onnx', '--int', '--seed', '3');
    expect(existsSync('build/fashion_bireal_small.graph.json')).toBe(true); // from the test above, untouched
    const model = onnx.ModelProto.decode(readFileSync('out/int.onnx'));
    expect(model.graph!.node!.some((n) => n.opType === 'ConvInteger')).toBe(true);
    const session = await createSession('out/int.onnx');
    const x = seededInput(graph, 1, 0);
    const expected = (await direct(graph, initWeights(graph, 3), x, 1))[0];
    const got = Array.from(await runOnnx(session, x, 1));
    await session.release();
    const scale = Math.max(...expected.map(Math.abs));
    got.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(1e-5 * scale));
  });

  it('run --json prints { output } for the seeded input and seeded weights', async () => {
    const printed = JSON.parse(await sofar('run', SPEC, '--samples', '2', '--seed', '5', '--json'));
    expect(Object.keys(printed)).toEqual(['output']);
    expect(printed.output).toEqual(await direct(graph, initWeights(graph, 5), seededInput(graph, 2, 5), 2));
  });

  it('run MODEL.onnx gives the numbers the spec gives; the text form names the top class', async () => {
    const fromSpec = JSON.parse(await sofar('run', SPEC, '--json'));
    const fromFile = JSON.parse(await sofar('run', 'build/fashion_bireal_small.onnx', '--json'));
    expect(fromFile).toEqual(fromSpec);
    const text = await sofar('run', SPEC);
    const top = fromSpec.output[0].indexOf(Math.max(...fromSpec.output[0]));
    expect(text).toContain(`sample 0: class ${top} `);
    expect(text).toContain('logits [1, 10]');
  });

  it('run --input reads .npy arrays (float32 N×C×H×W, uint8 H×W scaled to [0, 1]) and PNG images', async () => {
    const weights = initWeights(graph, 0);
    const x = seededInput(graph, 3, 9);
    writeFileSync('batch.npy', encodeNpy([3, 1, 28, 28], x));
    expect(JSON.parse(await sofar('run', SPEC, '--input', 'batch.npy', '--json')).output).toEqual(await direct(graph, weights, x, 3));

    const pixels = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * 37) % 256);
    const scaled = Float32Array.from(pixels, (v) => v / 255);
    const expected = (await direct(graph, weights, scaled, 1))[0];
    // A uint8 (28, 28) array as NumPy writes it: magic, version 1.0, header length, header padded to 128 bytes.
    const header = "{'descr': '|u1', 'fortran_order': False, 'shape': (28, 28), }";
    const padded = header + ' '.repeat(128 - 10 - header.length - 1) + '\n';
    writeFileSync('digit.npy', Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, padded.length, 0]), Buffer.from(padded, 'latin1'), pixels]));
    expect(JSON.parse(await sofar('run', SPEC, '--input', 'digit.npy', '--json')).output[0]).toEqual(expected);

    const png = new PNG({ width: 28, height: 28 });
    pixels.forEach((v, i) => png.data.set([v, v, v, 255], 4 * i));
    writeFileSync('digit.png', PNG.sync.write(png));
    const fromPng: number[] = JSON.parse(await sofar('run', SPEC, '--input', 'digit.png', '--json')).output[0];
    // Grey pixels: the luma is the grey value itself, up to float rounding.
    expect(Math.max(...fromPng.map((v, i) => Math.abs(v - expected[i])))).toBeLessThan(1e-4);
  });

  it('run --input normalises pixels as the training data were: from the checkpoint, the ONNX metadata or --data', async () => {
    const weights = initWeights(graph, 0);
    const pixels = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * 37) % 256);
    const png = new PNG({ width: 28, height: 28 });
    pixels.forEach((v, i) => png.data.set([v, v, v, 255], 4 * i));
    writeFileSync('norm.png', PNG.sync.write(png));
    // Fashion-MNIST's training statistics (src/data/normalise.ts), applied to the [0, 1] pixels.
    const normalised = Float32Array.from(pixels, (v) => (v / 255 - 0.286) / 0.353);
    const expected = (await direct(graph, weights, normalised, 1))[0];
    const raw = (await direct(graph, weights, Float32Array.from(pixels, (v) => v / 255), 1))[0];
    const close = (got: number[], want: number[]) => expect(Math.max(...got.map((v, i) => Math.abs(v - want[i])))).toBeLessThan(1e-4);
    const notes: string[] = [];
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (notes.push(String(chunk)), true));
    try {
      mkdirSync('trained');
      const normalisation = { dataset: 'fashion-mnist', mean: [0.286], std: [0.353] };
      writeCheckpoint('trained', { graph, weights, slots: new Map(), step: 1, epoch: 1, meta: { seed: 0, engine: 'test', normalisation } });
      close(JSON.parse(await sofar('run', SPEC, '--weights', 'trained', '--input', 'norm.png', '--json')).output[0], expected);
      expect(notes.join('')).toMatch(/normalised as in training on fashion-mnist \(mean 0\.286, std 0\.353\)/);
      close(JSON.parse(await sofar('run', SPEC, '--weights', 'trained', '--input', 'norm.png', '--no-normalise', '--json')).output[0], raw);

      // build --weights carries it into the model's metadata; run MODEL.onnx applies it.
      await sofar('build', SPEC, '--weights', 'trained', '-o', 'trained.onnx');
      const meta = Object.fromEntries(onnx.ModelProto.decode(readFileSync('trained.onnx')).metadataProps!.map((p) => [p.key, p.value]));
      expect(JSON.parse(meta['sofar.normalisation'])).toEqual(normalisation);
      close(JSON.parse(await sofar('run', 'trained.onnx', '--input', 'norm.png', '--json')).output[0], expected);

      // A spec with seeded weights records nothing: --data names the data set, else nothing is applied.
      notes.length = 0;
      close(JSON.parse(await sofar('run', SPEC, '--input', 'norm.png', '--json')).output[0], raw);
      expect(notes.join('')).toMatch(/no normalisation applied: the model records none/);
      close(JSON.parse(await sofar('run', SPEC, '--input', 'norm.png', '--data', 'fashion-mnist', '--json')).output[0], expected);
      await expect(sofar('run', 'trained.onnx', '--input', 'norm.png', '--data', 'cifar10')).rejects.toThrow(/contradicts the normalisation the model was trained with/);
      await expect(sofar('run', SPEC, '--no-normalise')).rejects.toThrow(UsageError);
    } finally {
      stderr.mockRestore();
    }
  });

  it('reports bad input files, wrong sizes and misused flags as user errors, not stack traces', async () => {
    writeFileSync('wrong.npy', encodeNpy([2, 3, 28, 28], new Float32Array(2 * 3 * 784)));
    await expect(sofar('run', SPEC, '--input', 'wrong.npy')).rejects.toThrow(UserError);
    await expect(sofar('run', SPEC, '--input', 'wrong.npy')).rejects.toThrow(/shape \(2, 3, 28, 28\); the model takes 1×28×28/);
    const png = new PNG({ width: 32, height: 28 });
    writeFileSync('wide.png', PNG.sync.write(png));
    await expect(sofar('run', SPEC, '--input', 'wide.png')).rejects.toThrow(/32×28 pixels; the model takes 28×28/);
    await expect(sofar('run', SPEC, '--input', 'missing.npy')).rejects.toThrow(/no such file/);
    await expect(sofar('run', 'missing.onnx')).rejects.toThrow(/no model at missing.onnx/);
    await expect(sofar('run', 'build/fashion_bireal_small.onnx', '--weights', 'x')).rejects.toThrow(UsageError);
    await expect(sofar('run', SPEC, '--input', 'batch.npy', '--samples', '2')).rejects.toThrow(UsageError);
    await expect(sofar('build', SPEC, '-o', 'model.bin')).rejects.toThrow(UsageError);
    await expect(sofar('build', SPEC, '--weights', 'nowhere')).rejects.toThrow(/no checkpoint at nowhere/);
  });

  it('--weights uses trained weights by name, and refuses a checkpoint of another model naming its parameters', async () => {
    const trained = initWeights(graph, 77);
    mkdirSync('ckpt');
    writeCheckpoint('ckpt', { graph, weights: trained, slots: new Map(), step: 1, epoch: 1, meta: { seed: 77, engine: 'test' } });
    const printed = JSON.parse(await sofar('run', SPEC, '--weights', 'ckpt', '--json'));
    expect(printed.output).toEqual(await direct(graph, trained, seededInput(graph, 1, 0), 1));

    const other = compileFile(resolve(SPEC, '../rf-c3-small.sofar')).graph!;
    mkdirSync('other');
    writeCheckpoint('other', { graph: other, weights: initWeights(other, 1), slots: new Map(), step: 1, epoch: 1, meta: { seed: 1, engine: 'test' } });
    const failure = sofar('build', SPEC, '--weights', 'other');
    await expect(failure).rejects.toThrow(UserError);
    await expect(failure).rejects.toThrow(/does not fit 'fashion_bireal_small': 20 parameter\(s\) missing \(stage1\/unit1\/bconv\/kernel/);
  });

  it('run --runtime tfjs prints the numbers the ONNX backend prints; build --target tfjs saves that Keras model', async () => {
    const onnxRun: number[][] = JSON.parse(await sofar('run', SPEC, '--samples', '2', '--seed', '4', '--json')).output;
    const tfjsRun: number[][] = JSON.parse(await sofar('run', SPEC, '--runtime', 'tfjs', '--samples', '2', '--seed', '4', '--json')).output;
    // The old spellings (--backend tfjs, --batch N) still work, with a note on stderr.
    const notes: string[] = [];
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (notes.push(String(chunk)), true));
    try {
      expect(JSON.parse(await sofar('run', SPEC, '--backend', 'tfjs', '--batch', '2', '--seed', '4', '--json')).output).toEqual(tfjsRun);
      await sofar('build', SPEC, '--output', 'old-spelling.onnx');
    } finally {
      stderr.mockRestore();
    }
    expect(notes.join('')).toContain('note: --backend tfjs is deprecated; use --runtime tfjs\n');
    expect(notes.join('')).toContain('note: --batch is deprecated; use --samples\n');
    expect(notes.join('')).toContain('note: --output is deprecated; use --out (or -o)\n');
    expect(existsSync('old-spelling.onnx')).toBe(true);
    await expect(sofar('run', SPEC, '--runtime', 'ort', '--backend', 'tfjs')).rejects.toThrow(/name two runtimes/);
    const scale = Math.max(...onnxRun.flat().map(Math.abs));
    expect(Math.max(...tfjsRun.flat().map((v, i) => Math.abs(v - onnxRun.flat()[i])))).toBeLessThanOrEqual(1e-4 * scale);
    await expect(sofar('run', SPEC, '--runtime', 'tfjs', '--int')).rejects.toThrow(UsageError);

    const out = await sofar('build', SPEC, '--target', 'tfjs', '--seed', '4');
    expect(out).toContain('build/fashion_bireal_small.tfjs/model.json');
    const tfjs = await import('../../backends/tfjs/index.js');
    const model = await tfjs.loadTfjsModel('build/fashion_bireal_small.tfjs');
    const saved = await tfjs.predictNchw(model, graph, seededInput(graph, 2, 4), 2);
    model.dispose();
    expect(Math.max(...Array.from(saved, (v, i) => Math.abs(v - onnxRun.flat()[i])))).toBeLessThanOrEqual(1e-4 * scale);
  });

  it('bench reports load time, p50 ≤ p90 latency and throughput', async () => {
    const stats = JSON.parse(await sofar('bench', SPEC, '--runs', '5', '--warmup', '1', '--threads', '1', '--json'));
    expect(stats).toMatchObject({ model: 'fashion_bireal_small', threads: 1, batch: 1, runs: 5, warmup: 1 });
    expect(stats.loadMs).toBeGreaterThan(0);
    expect(stats.p50Ms).toBeGreaterThan(0);
    expect(stats.p90Ms).toBeGreaterThanOrEqual(stats.p50Ms);
    expect(stats.throughput).toBeCloseTo(1000 / stats.meanMs, 6);
    const text = await sofar('bench', 'build/fashion_bireal_small.onnx', '--runs', '3', '--batch', '2');
    expect(text).toMatch(/load\s+[\d.]+ ms/);
    expect(text).toMatch(/latency\s+p50 [\d.]+ ms, p90 [\d.]+ ms/);
    expect(text).toMatch(/throughput\s+[\d.]+ samples\/s/);
  });
});

const webgpu = await probeWebGpuAdapter();
describe.skipIf(skipWithout(webgpu.adapter ? null : `no WebGPU adapter (${webgpu.failure})`))('sofar run / bench --device', () => {
  it('webgpu gives the CPU logits; gpu refuses a software adapter by name', async () => {
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    const cpu = JSON.parse(await sofar('run', SPEC, '--samples', '2', '--json')).output as number[][];
    const gpu = JSON.parse(await sofar('run', SPEC, '--samples', '2', '--json', '--device', 'webgpu')).output as number[][];
    for (let i = 0; i < cpu.length; i++) for (let k = 0; k < cpu[i].length; k++) expect(gpu[i][k]).toBeCloseTo(cpu[i][k], 5);
    const bench = JSON.parse(await sofar('bench', SPEC, '--runs', '2', '--warmup', '1', '--json', '--device', 'webgpu'));
    expect(bench.runtime).toMatch(/^onnxruntime-node on WebGPU: /);
    if (webgpu.adapter!.software) await expect(sofar('run', SPEC, '--device', 'gpu')).rejects.toThrow(/the only WebGPU adapter is a software rasteriser/);
  });
});
