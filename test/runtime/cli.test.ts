/**
 * `--runtime sofar` through commander: run, bench and eval on SoFAr's binary runtime give onnxruntime's
 * answers; `build --binary-ops` writes what the runtime runs; the wrong model for a runtime is refused
 * with the way out. The trained model is Bi-Real small after 3 Fashion-MNIST epochs (ORT engine, seed 0),
 * exported from one checkpoint both ways (test/runtime/fixtures).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { register as registerBench } from '../../cli/commands/bench.js';
import { register as registerBuild } from '../../cli/commands/build.js';
import { register as registerEval } from '../../cli/commands/eval.js';
import { register as registerRun } from '../../cli/commands/run.js';
import { UsageError, UserError } from '../../cli/common.js';
import { skipWithout } from '../helpers/requirements.js';
import { skipNative } from './helpers.js';
import { maxRelativeError } from './util.js';
import { inProcessCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const SPEC = resolve('specs/fashion/bireal-small.sofar');
const TRAINED = resolve('test/runtime/fixtures/bireal-small-fashion.onnx');
const TRAINED_BINARY = resolve('test/runtime/fixtures/bireal-small-fashion.binary.onnx');
const FASHION = '/usr/share/datasets/fashion-mnist';
const dir = tempDir('sofar-runtime-cli-');

const sofar = inProcessCli([registerBuild, registerRun, registerBench, registerEval], { muteStderr: true });

const logits = async (...args: string[]) => Float32Array.from((JSON.parse(await sofar(...args)).output as number[][]).flat());

describe.skipIf(skipNative())('--runtime sofar', () => {
  it('run: a spec gives onnxruntime\'s logits; its --binary-ops file gives the same as the spec', async () => {
    const ort = await logits('run', SPEC, '--samples', '3', '--seed', '2', '--json');
    const sofarRun = await logits('run', SPEC, '--runtime', 'sofar', '--samples', '3', '--seed', '2', '--json');
    expect(maxRelativeError(sofarRun, ort)).toBeLessThan(1e-4);
    const file = join(dir, 'b.onnx');
    expect(await sofar('build', SPEC, '--binary-ops', '--seed', '2', '-o', file)).toContain('binary layers as ai.sofar operators');
    expect(await logits('run', file, '--runtime', 'sofar', '--samples', '3', '--seed', '2', '--json')).toEqual(sofarRun);
    const text = await sofar('run', SPEC, '--runtime', 'sofar', '--threads', '1');
    expect(text).toMatch(/on SoFAr runtime, native \((avx512|avx2|scalar)\), 1 thread/);
  });

  it('--runtime wasm runs the WebAssembly kernels, and is what --runtime sofar falls back to without the addon', async () => {
    const native = await logits('run', SPEC, '--runtime', 'sofar', '--samples', '2', '--json');
    const wasm = await logits('run', SPEC, '--runtime', 'wasm', '--samples', '2', '--json');
    expect(maxRelativeError(wasm, native)).toBeLessThan(1e-5);
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'run', SPEC, '--runtime', 'sofar', '--samples', '2', '--json'], { encoding: 'utf8', env: { ...process.env, SOFAR_NATIVE: 'off' } });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('note: the native kernels are turned off (SOFAR_NATIVE=off); using the WebAssembly kernels instead (--runtime wasm)');
    expect(Float32Array.from((JSON.parse(r.stdout).output as number[][]).flat())).toEqual(wasm);
  });

  it('bench reports the runtime\'s latency and load time', async () => {
    const stats = JSON.parse(await sofar('bench', SPEC, '--runtime', 'sofar', '--runs', '5', '--warmup', '1', '--threads', '1', '--json'));
    expect(stats.runtime).toMatch(/^SoFAr runtime, native/);
    expect(stats.p50Ms).toBeGreaterThan(0);
    expect(stats.p90Ms).toBeGreaterThanOrEqual(stats.p50Ms);
    expect(stats.loadMs).toBeGreaterThan(0);
  });

  it('bench says the threads the runtime runs on, once, and its JSON gives their number', async () => {
    // Without --threads SoFAr's runtime takes one per core: the report says how many, not "default".
    const stats = JSON.parse(await sofar('bench', SPEC, '--runtime', 'sofar', '--runs', '2', '--warmup', '1', '--json'));
    expect(stats.threads).toBe(availableParallelism());
    const text = await sofar('bench', SPEC, '--runtime', 'sofar', '--runs', '2', '--warmup', '1', '--threads', '1');
    expect(text).toMatch(/native \(\w+\), 1 thread \(weights: seeded init, seed 0\), batch 1\n/);
    expect(text).not.toMatch(/threads 1/);
  });

  it('refuses the wrong model for the runtime, saying which runtime runs it', async () => {
    const error = (await sofar('run', TRAINED, '--runtime', 'sofar').catch((e) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.diagnostics[0].message).toMatch(/SoFAr's runtime cannot run .*GreaterOrEqual.*not supported/);
    expect(error.diagnostics[0].hint).toMatch(/--runtime ort, or convert it with sofar convert MODEL\.onnx --binary-ops.*sofar build SPEC --weights RUN --binary-ops/);
    const other = (await sofar('run', TRAINED_BINARY).catch((e) => e)) as UserError;
    expect(other.diagnostics[0].hint).toBe('this is a --binary-ops model: run it with --runtime sofar');
    await expect(sofar('run', SPEC, '--runtime', 'sofar', '--int')).rejects.toThrow(UsageError);
    await expect(sofar('run', SPEC, '--runtime', 'sofar', '--backend', 'tfjs')).rejects.toThrow(UsageError);
    await expect(sofar('build', SPEC, '--binary-ops', '--int')).rejects.toThrow(UsageError);
  });

  it.skipIf(skipWithout(existsSync(FASHION) ? null : `Fashion-MNIST is not installed at ${FASHION} (apt-get install dataset-fashion-mnist)`))(
    'eval: the trained model scores the same on both runtimes over the 10,000 test images',
    async () => {
      const ort = JSON.parse(await sofar('eval', TRAINED, '--data', 'fashion-mnist', '--json'));
      const binary = JSON.parse(await sofar('eval', TRAINED_BINARY, '--runtime', 'sofar', '--data', 'fashion-mnist', '--json'));
      // 88.32 %: the run's own validation after epoch 3 (bench/results/fashion-mnist/bireal-small-3-epochs.metrics.jsonl).
      expect(ort.accuracy).toBeCloseTo(0.8832, 4);
      expect(Math.abs(binary.accuracy - ort.accuracy)).toBeLessThanOrEqual(0.0005);
      expect(binary.samples).toBe(10000);
      expect(Math.abs(binary.loss - ort.loss)).toBeLessThan(1e-4);
    },
  );
});
