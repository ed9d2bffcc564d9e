/**
 * train.py's runs (issues 20 and 25), one process on a few Fashion-MNIST samples: every checkpoint
 * writer records the model parameters and the input normalisation (so `sofar eval --weights RUN` needs
 * no --set and an ONNX built from the run carries `sofar.normalisation`); a run interrupted after a
 * mid-epoch checkpoint resumes to the uninterrupted run's weights and metrics bit for bit; `--init RUN`
 * takes what matches by name and shape; distillation's loss is docs/semantics.md's.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readModelMetadata } from '../../backends/onnx/index.js';
import { writeTorchProject } from '../../backends/torch/index.js';
import { readCheckpoint } from '../../src/checkpoint/index.js';
import type { Graph } from '../../src/graph/types.js';
import { initWeights } from '../../src/weights/init.js';
import { skipWithout } from '../helpers/requirements.js';
import { normalValues } from '../helpers/values.js';
import { fashionNet } from './graphs.js';
import { readCheckpointFile, readFloats, readTensors, run, runJobs, scratch, torchMissing, TORCH_PYTHON, writeFloats, type Job } from './helpers.js';

const CLI = 'dist/cli/main.js';
const FASHION = '/usr/share/datasets/fashion-mnist';
const FASHION_NORMALISATION = { dataset: 'fashion-mnist', mean: [0.286], std: [0.353] };
const skip = skipWithout(torchMissing()) || skipWithout(existsSync(FASHION) ? null : `Fashion-MNIST is missing: ${FASHION} (apt-get install dataset-fashion-mnist)`);
/** 48 samples in batches of 8: 6 steps an epoch. */
const TINY = ['--data', 'fashion-mnist', '--limit', '48', '--batch', '8', '--threads', '1'];

function projectOf(graph: Graph, label: string, seed = 0): string {
  const dir = scratch(label);
  writeTorchProject(graph, initWeights(graph, seed), dir, { source: `${graph.name}.sofar` });
  return dir;
}

const trainPy = (dir: string, args: string[]) => run(TORCH_PYTHON, [join(dir, 'train.py'), ...args], { cwd: dir });
const metricsOf = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, number>);
/** A metrics line without what depends on the machine's speed. */
const steady = ({ samplesPerSecond: _s, seconds: _t, rssMB: _r, ...rest }: Record<string, number>) => rest;

describe.skipIf(skip)('train.py', () => {
  it("every checkpoint writer records the --set values and the normalisation; sofar eval and build use them", async () => {
    const spec = 'specs/fashion/rf-c3-small.sofar';
    const dir = scratch('meta');
    const project = join(dir, 'torch');
    await run(process.execPath, [CLI, 'build', spec, '--set', 'columns=2', '--target', 'torch', '-o', project]);
    const init = readCheckpoint(join(project, 'init.safetensors')).meta;
    expect(init.modelParams).toEqual({ columns: '2' });
    expect(readFileSync(join(project, 'model.py'), 'utf8')).toContain('MODEL_PARAMS = {"columns": "2"}');

    const torchRun = join(dir, 'torch-run');
    await trainPy(project, ['--data', 'fashion-mnist', '--limit', '16', '--batch', '8', '--epochs', '1', '--threads', '1', '--out', torchRun]);
    const ortRun = join(dir, 'ort-run');
    await run(process.execPath, [CLI, 'train', spec, '--set', 'columns=2', '--engine', 'ort', '--data', 'fashion-mnist', '--limit', '16', '--batch', '8', '--epochs', '1', '--threads', '1', '--out', ortRun]);
    for (const writer of [torchRun, ortRun]) {
      const meta = readCheckpoint(writer).meta;
      expect(meta.modelParams, writer).toEqual({ columns: '2' });
      expect(meta.normalisation, writer).toEqual(FASHION_NORMALISATION);
    }

    // The run's weights build the graph of columns = 2 without --set; the ONNX model records the normalisation.
    const { stdout } = await run(process.execPath, [CLI, 'eval', spec, '--weights', torchRun, '--limit', '16', '--json']);
    expect(JSON.parse(stdout).samples).toBe(16);
    const onnx = join(dir, 'trained.onnx');
    await run(process.execPath, [CLI, 'build', spec, '--weights', torchRun, '-o', onnx]);
    expect(JSON.parse(readModelMetadata(new Uint8Array(readFileSync(onnx)))['sofar.normalisation'])).toEqual(FASHION_NORMALISATION);
    // A project built from the run carries its normalisation and --set values into init.safetensors.
    const again = join(dir, 'again');
    await run(process.execPath, [CLI, 'build', spec, '--weights', torchRun, '--target', 'torch', '-o', again]);
    expect(readCheckpoint(join(again, 'init.safetensors')).meta).toMatchObject({ modelParams: { columns: '2' }, normalisation: FASHION_NORMALISATION });
  }, 300_000);

  it('--checkpoint-every: a run interrupted after a mid-epoch checkpoint resumes to the uninterrupted run, bit for bit', async () => {
    // Dropout and batch norm: the masks and the moving statistics must follow the step, not the process.
    const dir = projectOf(fashionNet('midrun', { dropout: true }), 'midrun');
    const whole = join(dir, 'whole');
    const parts = join(dir, 'parts');
    const args = [...TINY, '--epochs', '2', '--seed', '3'];
    // Saves: step 4 (within epoch 1), 6 (epoch 1), 8 (within epoch 2): stopped there, as by Ctrl-C.
    const [first, second] = await runJobs([
      { kind: 'train', dir, args: [...args, '--checkpoint-every', '4', '--out', parts], stopAfterSaves: 3 },
      { kind: 'train', dir, args: [...args, '--out', whole] },
    ]);
    expect(first.code).toBe(130);
    expect(second.code).toBe(0);
    const stopped = readCheckpoint(parts).meta;
    expect([stopped.epoch, stopped.step]).toEqual([1, 8]);
    // The sums of epoch 2's first 2 steps, under SoFAr's key (src/checkpoint: partial_epoch).
    const partial = JSON.parse(readCheckpointFile(join(parts, 'checkpoint.safetensors')).metadata.partial_epoch) as Record<string, number>;
    expect(partial).toMatchObject({ samples: 16, flip_steps: 2 });
    expect(stopped.config?.checkpointEvery).toBe(4);

    const { stdout } = await trainPy(dir, ['--resume', '--threads', '1', '--out', parts]);
    expect(stdout).toContain('epoch 1, step 8 (within epoch 2)');
    const a = readTensors(join(whole, 'checkpoint.safetensors'));
    const b = readTensors(join(parts, 'checkpoint.safetensors'));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [name, values] of a) expect([...b.get(name)!], name).toEqual([...values]);
    expect(metricsOf(parts).map(steady)).toEqual(metricsOf(whole).map(steady));
  }, 240_000);

  it("--init RUN takes every tensor of the same name and shape, and says what it took and left", async () => {
    const first = projectOf(fashionNet('stage1', { width: 8 }), 'init-first');
    const firstRun = join(first, 'run');
    await trainPy(first, [...TINY, '--epochs', '1', '--out', firstRun]);
    const second = projectOf(fashionNet('stage2', { width: 4 }), 'init-second', 9);
    const out = join(second, 'run');
    // A learning rate of 1e-30 leaves every weight as it started (to float32 precision): the start is observable.
    const { stdout } = await trainPy(second, [...TINY, '--limit', '8', '--epochs', '1', '--optimizer', 'sgd', '--momentum', '0', '--lr', '1e-30', '--init', firstRun, '--out', out]);
    const taken = ['stem/kernel', 'stem_bn/gamma', 'stem_bn/beta', 'stem_bn/moving_mean', 'stem_bn/moving_variance', 'head/bias'];
    const left = ['mid/kernel', 'mid_bn/gamma', 'mid_bn/beta', 'mid_bn/moving_mean', 'mid_bn/moving_variance', 'head/kernel'];
    expect(stdout).toContain(`${taken.length} of ${taken.length + left.length} parameter tensors taken`);
    expect(stdout).toContain('of another shape in the run: mid/kernel (run 8x4x3x3, here 4x4x3x3)');
    const trained = readTensors(join(firstRun, 'checkpoint.safetensors'));
    const start = readTensors(join(second, 'init.safetensors'));
    const end = readTensors(join(out, 'checkpoint.safetensors'));
    const close = (a: Float32Array, b: Float32Array) => a.every((v, i) => Math.abs(v - b[i]) <= 1e-6 * Math.max(1, Math.abs(b[i])));
    for (const name of taken.filter((n) => !n.includes('moving'))) {
      expect(close(end.get(name)!, trained.get(name)!), name).toBe(true);
      expect(close(end.get(name)!, start.get(name)!), `${name} moved off its seeded value`).toBe(false);
    }
    for (const name of left.filter((n) => !n.includes('moving'))) expect(close(end.get(name)!, start.get(name)!), name).toBe(true);
    expect(readCheckpoint(out).meta.config?.init).toBe(firstRun);
  }, 240_000);

  it('distillation: loss = cross-entropy + w · KL(softmax(teacher) ‖ softmax(student)); w = 0 is the plain loss; a run records it', async () => {
    // Without batch norm or dropout, the student's training logits are its inference logits.
    const student = projectOf(fashionNet('student', { batchnorm: false }), 'distil-student');
    const teacher = projectOf(fashionNet('teacher', { width: 6 }), 'distil-teacher', 4);
    const n = 4;
    const x = writeFloats(join(student, 'x.bin'), normalValues(n * 28 * 28, 12));
    const labels = [3, 1, 4, 1];
    const forward = (dir: string): Job => ({ kind: 'forward', dir, input: x, n, output: join(dir, 'y.bin') });
    const step = (label: string, args: string[]): Job => ({ kind: 'step', dir: student, input: x, n, labels, output: join(student, `${label}.safetensors`), state: join(student, 'init.safetensors'), lr: 0.01, args });
    const answers = await runJobs([forward(student), forward(teacher), step('half', ['--teacher', teacher, '--distill-weight', '0.5']), step('zero', ['--teacher', teacher, '--distill-weight', '0']), step('plain', [])]);
    const z = readFloats(join(student, 'y.bin'));
    const t = readFloats(join(teacher, 'y.bin'));
    let ce = 0;
    let kl = 0;
    for (let s = 0; s < n; s++) {
      const logSoftmax = (v: Float32Array) => {
        const row = [...v.subarray(s * 10, s * 10 + 10)];
        const max = Math.max(...row);
        const log = Math.log(row.reduce((a, r) => a + Math.exp(r - max), 0)) + max;
        return row.map((r) => r - log);
      };
      const q = logSoftmax(z);
      const p = logSoftmax(t);
      ce -= q[labels[s]] / n;
      kl += p.reduce((a, lp, k) => a + Math.exp(lp) * (lp - q[k]), 0) / n;
    }
    expect(kl).toBeGreaterThan(1e-3);
    expect(Math.abs(answers[2].loss! - (ce + 0.5 * kl))).toBeLessThan(1e-5);
    expect(answers[2].distillation).toBeCloseTo(kl, 5);
    expect(answers[3].loss).toBe(answers[4].loss);
    expect(Math.abs(answers[4].loss! - ce)).toBeLessThan(1e-5);

    const out = join(student, 'run');
    await trainPy(student, [...TINY, '--epochs', '1', '--teacher', teacher, '--out', out]);
    const [line] = metricsOf(out);
    expect(line.trainDistillation).toBeGreaterThan(0);
    expect(readCheckpoint(out).meta.config).toMatchObject({ teacher, distillWeight: 1 });
  }, 240_000);
});
