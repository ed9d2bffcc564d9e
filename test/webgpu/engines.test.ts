/**
 * Both engines on a real WebGPU adapter against the CPU: Mesa's llvmpipe in CI (`.ci/run` installs it),
 * whatever Dawn finds elsewhere; skipped with a warning where there is none. llvmpipe rasterises on the
 * CPU, so batches are tiny and steps few: these prove the code path and the numbers, not speed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { compileFile, initWeights, type Graph, type WeightMap } from '../../src/index.js';
import { createSession, exportOnnx, rewriteForWebGpu, runOnnx } from '../../backends/onnx/index.js';
import { OnnxGraph } from '../../backends/onnx/proto.js';
import { createOrtEngineWith, ortLossAndGradients } from '../../backends/ort-train/index.js';
import { gradients } from '../../backends/tfjs/gradients.js';
import { selectTfjs } from '../../backends/tfjs/device.js';
import { tfjsEngineFactory } from '../../backends/tfjs/engine.js';
import { probeWebGpuAdapter } from '../../backends/webgpu/adapter.js';
import type { Batch, OptimizerConfig } from '../../src/train/engine.js';
import { noNoise, normalValues } from '../helpers/values.js';
import { skipWithout } from '../helpers/requirements.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const probe = await probeWebGpuAdapter();
const skip = skipWithout(probe.adapter ? null : `no WebGPU adapter (${probe.failure}); install Mesa ≥ 25's Vulkan driver as .ci/run does`);

const N = 4;
const SGD: OptimizerConfig = { name: 'sgd', momentum: 0.9, weightDecay: 0 };

function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return diff / scale;
}

function expectSameGradients(actual: WeightMap, expected: WeightMap, tolerance: number): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, want] of expected) expect(maxRelative(want, actual.get(name)!), name).toBeLessThan(tolerance);
}

describe.skipIf(skip)(`on WebGPU (${probe.adapter?.description ?? 'no adapter'})`, () => {
  let graph: Graph;
  let weights: WeightMap;
  let batch: Batch;
  beforeAll(() => {
    graph = compileFile('specs/fashion/bireal-small.sofar').graph!;
    weights = initWeights(graph, 0);
    batch = { x: normalValues(N * 784, 3, 1.5), y: Int32Array.from({ length: N }, (_, i) => (3 * i) % 10), n: N };
  });

  it("onnxruntime's WebGPU provider gets a strided conv after a sign right once the model is rewritten", async () => {
    // The minimal case of the bug in backends/onnx/webgpu.ts: sign by GreaterOrEqual + Where, then a 3×3
    // stride-2 conv, 64 → 128 channels onto 7×7 (more channels than output pixels), as in Bi-Real's stage 3.
    const g = new OnnxGraph('repro');
    g.input('x', 'float32', [1, 64, 14, 14]);
    g.initializer('w', 'float32', [128, 64, 3, 3], normalValues(128 * 64 * 9, 5).map((v) => (v >= 0 ? 1 : -1)));
    g.node('GreaterOrEqual', ['x', g.scalar(0)], ['nonneg']);
    g.node('Where', ['nonneg', g.scalar(1), g.scalar(-1)], ['signs']);
    g.node('Conv', ['signs', 'w'], ['y'], { kernel_shape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1], dilations: [1, 1], group: 1 });
    g.output('y', 'float32', [1, 128, 7, 7]);
    const model = g.encode({ producerVersion: 'test' });
    const feeds = { x: new ort.Tensor('float32', normalValues(64 * 14 * 14, 4), [1, 64, 14, 14]) };
    const run = async (bytes: Uint8Array, provider: string) => {
      const session = await ort.InferenceSession.create(bytes, { executionProviders: [provider], logSeverityLevel: 3 });
      try {
        return (await session.run(feeds)).y.data as Float32Array;
      } finally {
        await session.release();
      }
    };
    const cpu = await run(model, 'cpu');
    // Integer sums of ±1 products: exact on any provider that computes them all.
    expect(await run(rewriteForWebGpu(model), 'webgpu')).toEqual(cpu);
  });

  it('MaxPool with its indices output (overlapping windows in training) runs, on the CPU by name', async () => {
    // The provider claims it, then fails at run time ("The Indices output is not supported yet").
    const g = new OnnxGraph('pool');
    g.input('x', 'float32', [1, 2, 8, 8]);
    g.node('MaxPool', ['x'], ['y', 'i'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, { name: 'stem/maxpool' });
    g.output('y', 'float32', [1, 2, 4, 4]);
    g.output('i', 'int64', [1, 2, 4, 4]);
    const bytes = g.encode({ producerVersion: 'test' });
    const x = normalValues(128, 6);
    const run = async (provider: 'cpu' | 'webgpu') => {
      const session = await createSession(bytes, { provider });
      try {
        const out = await session.run({ x: new ort.Tensor('float32', x, [1, 2, 8, 8]) });
        return [out.y.data, out.i.data];
      } finally {
        await session.release();
      }
    };
    expect(await run('webgpu')).toEqual(await run('cpu'));
  });

  it('the exported bireal-small gives the CPU logits', async () => {
    const bytes = exportOnnx(graph, weights);
    const [cpu, gpu] = [await createSession(bytes), await createSession(bytes, { provider: 'webgpu' })];
    const a = await runOnnx(cpu, batch.x, N);
    const b = await runOnnx(gpu, batch.x, N);
    await Promise.all([cpu.release(), gpu.release()]);
    expect(maxRelative(a, b)).toBeLessThan(1e-5);
  });

  it('ORT engine: the training step model gives the CPU loss and gradients', async () => {
    const cpu = await ortLossAndGradients(graph, weights, batch, noNoise(), 1, 'cpu');
    const gpu = await ortLossAndGradients(graph, weights, batch, noNoise(), 1, 'webgpu');
    expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThan(1e-5);
    expectSameGradients(gpu.gradients, cpu.gradients, 1e-3);
  });

  it('ORT engine: three steps give the CPU losses', async () => {
    const losses = async (provider: 'cpu' | 'webgpu') => {
      const engine = await createOrtEngineWith({ graph, weights, optimizer: SGD, batchSize: N, threads: 1, provider, adapter: probe.adapter?.description });
      try {
        const out: number[] = [];
        for (let step = 0; step < 3; step++) out.push((await engine.trainStep(batch, 0.01, noNoise())).loss);
        expect(engine.device).toMatch(provider === 'webgpu' ? /^webgpu \(/ : /^cpu \(/);
        return out;
      } finally {
        await engine.dispose();
      }
    };
    const [cpu, gpu] = [await losses('cpu'), await losses('webgpu')];
    for (let i = 0; i < cpu.length; i++) expect(Math.abs(gpu[i] - cpu[i]), `step ${i + 1}`).toBeLessThan(1e-4 * Math.max(1, cpu[i]));
  });

  it('tfjs engine: the WebGPU backend gives the CPU gradients, and trains with asynchronous reads only', async () => {
    const cpuTf = await selectTfjs({ device: 'cpu' });
    const cpu = await gradients(graph, weights, batch, noNoise(), cpuTf.tf);
    const selection = await selectTfjs({ device: 'webgpu' });
    expect(selection.tf.getBackend()).toBe('webgpu');
    const gpu = await gradients(graph, weights, batch, noNoise(), selection.tf);
    expectSameGradients(gpu, cpu, 1e-3);

    const engine = await tfjsEngineFactory({ device: 'webgpu' })({ graph, weights, optimizer: SGD, batchSize: N });
    try {
      expect(engine.device).toMatch(/^webgpu \(.*; @tensorflow\/tfjs-backend-webgpu\)$/);
      const first = await engine.trainStep(batch, 0.01, noNoise());
      const second = await engine.trainStep(batch, 0.01, noNoise());
      expect(Number.isFinite(first.loss) && Number.isFinite(second.loss)).toBe(true);
      expect(second.loss).toBeLessThan(first.loss);
      const logits = await engine.predict(batch.x, N);
      expect(logits.length).toBe(N * graph.classes);
    } finally {
      await engine.dispose();
    }
  });
});
