/**
 * train.py under torchrun (gloo, loopback): 2 processes end with the weights of 1 process given the
 * same global batch; a short Fashion-MNIST training in 2 processes gives a checkpoint that `sofar
 * eval` scores well above chance; a checkpoint of SoFAr's ORT engine resumes under train.py, and one of
 * train.py under SoFAr, with Adam and with Bop.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeTorchProject } from '../../backends/torch/index.js';
import { compileFile } from '../../src/compile.js';
import { initWeights } from '../../src/weights/init.js';
import { skipWithout } from '../helpers/requirements.js';
import { readCheckpointFile, readTensors, run, scratch, torchMissing, torchrun, TORCH_PYTHON } from './helpers.js';

const SPEC = 'specs/fashion/bireal-small.sofar';
const CLI = 'dist/cli/main.js';
const FASHION = '/usr/share/datasets/fashion-mnist';
const skip = skipWithout(torchMissing()) || skipWithout(existsSync(FASHION) ? null : `Fashion-MNIST is missing: ${FASHION} (apt-get install dataset-fashion-mnist)`);

function build(label: string): string {
  const { graph } = compileFile(SPEC);
  const dir = scratch(label);
  writeTorchProject(graph!, initWeights(graph!, 0), dir, { source: SPEC });
  return dir;
}

describe.skipIf(skip)('train.py under torchrun', () => {
  // Bop: the gradients are all-reduced before the step, so both processes flip the same weights.
  it.each([
    ['sgd', '0.05'],
    ['bop', '0.01'],
  ])('%s: 2 processes of batch 8 end with the weights of 1 process of batch 16', async (optimizer, lr) => {
    const dir = build(`ddp-${optimizer}`);
    const common = ['--data', 'fashion-mnist', '--limit', '64', '--epochs', '1', '--optimizer', optimizer, '--lr', lr, '--seed', '3'];
    await run(TORCH_PYTHON, [join(dir, 'train.py'), ...common, '--batch', '16', '--out', join(dir, 'one'), '--threads', '1'], { cwd: dir });
    const { stdout } = await torchrun(dir, 2, [...common, '--batch', '8', '--out', join(dir, 'two')]);
    expect(stdout).toMatch(/2 process\(es\).*batch 16 \(8 per process\), 4 steps an epoch/);
    const one = readTensors(join(dir, 'one', 'checkpoint.safetensors'));
    const two = readTensors(join(dir, 'two', 'checkpoint.safetensors'));
    expect([...two.keys()].sort()).toEqual([...one.keys()].sort());
    let moved = 0;
    const initial = readTensors(join(dir, 'init.safetensors'));
    for (const [name, a] of one) {
      const b = two.get(name)!;
      let diff = 0;
      let scale = 1e-3;
      for (let i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
        scale = Math.max(scale, Math.abs(a[i]));
      }
      expect(diff / scale, name).toBeLessThanOrEqual(1e-4);
      if (initial.has(name) && initial.get(name)!.some((v, i) => v !== a[i])) moved++;
    }
    expect(moved).toBeGreaterThan(30); // the steps changed the weights: the comparison is not vacuous
  }, 180_000);

  it('trains Fashion-MNIST in 2 processes; sofar eval scores the checkpoint well above chance', async () => {
    const dir = build('fashion');
    const out = join(dir, 'run');
    await torchrun(dir, 2, ['--data', 'fashion-mnist', '--limit', '2000', '--epochs', '1', '--batch', '32', '--lr', '0.003', '--out', out]);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics).toHaveLength(1);
    expect(Object.keys(metrics[0]).sort()).toEqual(['epoch', 'flipRatio', 'lr', 'rssMB', 'samplesPerSecond', 'seconds', 'step', 'testAccuracy', 'testLoss', 'trainAccuracy', 'trainLoss'].sort());
    expect(metrics[0].flipRatio).toBeGreaterThan(0); // Adam flips latent weights too
    const { stdout } = await run(process.execPath, [CLI, 'eval', SPEC, '--weights', out, '--data', 'fashion-mnist', '--json']);
    const result = JSON.parse(stdout);
    expect(result.samples).toBe(10000);
    expect(result.accuracy).toBeGreaterThan(0.5); // chance: 0.1
    expect(Math.abs(result.accuracy - metrics[0].testAccuracy)).toBeLessThan(0.1); // train.py tested on 334 samples
    // sofar build takes it too.
    await run(process.execPath, [CLI, 'build', SPEC, '--weights', out, '-o', join(dir, 'trained.onnx')]);
    expect(existsSync(join(dir, 'trained.onnx'))).toBe(true);
  }, 240_000);

  it("resumes a checkpoint of SoFAr's ORT engine", async () => {
    const dir = build('resume');
    const out = join(dir, 'run');
    await run(process.execPath, [CLI, 'train', SPEC, '--engine', 'ort', '--data', 'fashion-mnist', '--limit', '128', '--batch', '32', '--epochs', '1', '--out', out, '--threads', '1']);
    const { stdout } = await torchrun(dir, 2, ['--resume', '--epochs', '2', '--out', out]);
    expect(stdout).toMatch(/resuming .*epoch 1, step 4 \(written by ort\)/);
    expect(stdout).toMatch(/batch 32 \(16 per process\)/);
    expect(stdout).toMatch(/epoch 2\/2/);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => [m.epoch, m.step])).toEqual([[1, 4], [2, 8]]);
    // and SoFAr resumes what train.py wrote
    await run(process.execPath, [CLI, 'train', SPEC, '--engine', 'ort', '--resume', '--epochs', '3', '--out', out, '--threads', '1']);
  }, 240_000);

  it('Bop: an ORT run resumes under train.py in 2 processes, and SoFAr resumes what train.py wrote', async () => {
    const dir = build('bop');
    const out = join(dir, 'run');
    const bop = { name: 'bop', momentum: 0.9, weightDecay: 0, bopThreshold: 1e-8, bopGamma: 0.001 };
    await run(process.execPath, [CLI, 'train', SPEC, '--engine', 'ort', '--optimizer', 'bop', '--bop-gamma', '0.001', '--data', 'fashion-mnist', '--limit', '128', '--batch', '32', '--epochs', '1', '--out', out, '--threads', '1']);
    const { stdout } = await torchrun(dir, 2, ['--resume', '--epochs', '2', '--out', out]);
    expect(stdout).toMatch(/resuming .*epoch 1, step 4 \(written by ort\)/);
    expect(stdout).toMatch(/epoch 2\/2 .* flips /);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => [m.epoch, m.step])).toEqual([[1, 4], [2, 8]]);
    for (const m of metrics) expect(m.flipRatio).toBeGreaterThan(0);
    const { tensors, metadata } = readCheckpointFile(join(out, 'checkpoint.safetensors'));
    expect(metadata.engine).toBe('torch');
    expect(JSON.parse(metadata.config).optimizer).toEqual(bop);
    // Bop's layout: binary kernels are ±1, their m is Bop's average and their v stays 0.
    const kernel = 'stage1/unit1/bconv/kernel';
    expect(tensors.get(kernel)!.every((w) => Math.abs(w) === 1)).toBe(true);
    expect(tensors.get(`${kernel}/m`)!.some((m) => m !== 0)).toBe(true);
    expect(tensors.get(`${kernel}/v`)!.every((v) => v === 0)).toBe(true);
    await run(process.execPath, [CLI, 'train', SPEC, '--engine', 'ort', '--resume', '--epochs', '3', '--out', out, '--threads', '1']);
    const resumed = readCheckpointFile(join(out, 'checkpoint.safetensors'));
    expect(resumed.metadata.engine).toBe('ort');
    expect(JSON.parse(resumed.metadata.config).optimizer).toEqual(bop);
    expect(resumed.tensors.get(kernel)!.every((w) => Math.abs(w) === 1)).toBe(true);
    expect(resumed.tensors.get(`${kernel}/v`)!.every((v) => v === 0)).toBe(true);
  }, 240_000);
});
