import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint, writeCheckpoint } from '../../src/checkpoint/index.js';
import { loadDataset } from '../../src/data/index.js';
import { SofarError } from '../../src/diagnostics.js';
import { dropPathMasks, planDropPath } from '../../src/train/droppath.js';
import { learningRate } from '../../src/train/schedule.js';
import type { TrainEvent } from '../../src/train/events.js';
import { train, type TrainConfig, type TrainOptions } from '../../src/train/loop.js';
import { resumeRun } from '../../src/train/resume.js';
import { initWeights } from '../../src/weights/init.js';
import { bytesOf, fakeEngineFactory, fakeRunOptions, newLog } from './fake-engine.js';
import { noisyGraph, regressionGraph } from './graphs.js';
import { tempDirs } from '../helpers/temp.js';
import { trainConfig } from './config.js';

const tempDir = tempDirs('sofar-loop-');

const config = (over: Partial<TrainConfig> = {}): TrainConfig => trainConfig({ lr: 0.05, seed: 11 }, over);

const options = (over: Partial<TrainOptions> = {}): TrainOptions => fakeRunOptions(tempDir, config(), over);

describe('training loop', () => {
  it('drives the loss down and separates a separable task (> 95 %)', async () => {
    const events: TrainEvent[] = [];
    const result = await train(options({ config: config({ epochs: 5 }), onEvent: (e) => events.push(e) }));
    const losses = result.history.map((m) => m.trainLoss);
    expect(losses[4]).toBeLessThan(losses[0] / 2);
    expect(result.summary.testAccuracy).toBeGreaterThan(0.95);
    expect(result.summary.epochs).toBe(5);
    expect(result.summary.trainLoss).toBe(losses[4]);
    expect(result.summary.samplesPerSecond).toBeGreaterThan(0);
    // 200 samples in batches of 32: 7 steps an epoch, the last one of 8 samples.
    const start = events.find((e) => e.type === 'start');
    expect(start).toMatchObject({ stepsPerEpoch: 7, trainSamples: 200, testSamples: 64, completedEpochs: 0 });
    expect(events.filter((e) => e.type === 'step')).toHaveLength(35);
    expect(events.filter((e) => e.type === 'checkpoint').map((e) => (e as { epoch: number }).epoch)).toEqual([1, 2, 3, 4, 5]);
  });

  it('visits every training sample once an epoch, in an order that changes each epoch', async () => {
    const log = newLog();
    const o = options({ engineFactory: fakeEngineFactory(log) });
    await train(o);
    expect(log.batches.map((b) => b.n)).toEqual([32, 32, 32, 32, 32, 32, 8, 32, 32, 32, 32, 32, 32, 8]);
    const labelsOf = (from: number, to: number) => log.batches.slice(from, to).flatMap((b) => b.y);
    const count = (ys: number[]) => [0, 1, 2, 3].map((k) => ys.filter((y) => y === k).length);
    // The synthetic labels cycle through the 4 classes: 50 of each per epoch.
    expect(count(labelsOf(0, 7))).toEqual([50, 50, 50, 50]);
    expect(count(labelsOf(7, 14))).toEqual([50, 50, 50, 50]);
    expect(labelsOf(0, 7)).not.toEqual(labelsOf(7, 14));
    expect(log.disposed).toBe(1);
  });

  it('feeds the scheduled learning rate and the documented noise of each step', async () => {
    const log = newLog();
    const graph = noisyGraph();
    await train(options({ graph, engineFactory: fakeEngineFactory(log), config: config({ schedule: 'linear', epochs: 2 }) }));
    const total = 14;
    expect(log.lrs).toEqual(Array.from({ length: total }, (_, t) => learningRate('linear', 0.05, t, total)));
    const plan = planDropPath(graph);
    log.noises.forEach((noise, step) => {
      expect(noise.joinMasks).toEqual(dropPathMasks(plan, 11, step));
      const mask = noise.dropoutMasks.get('dropout')!;
      expect(mask.length).toBe(log.batches[step].n * 16);
    });
  });

  it('writes metrics.jsonl with one line per epoch and a checkpoint that reads back', async () => {
    const o = options();
    const result = await train(o);
    const lines = readFileSync(join(o.outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.epoch)).toEqual([1, 2]);
    expect(lines[1]).toMatchObject({ step: 14, trainLoss: result.summary.trainLoss, testAccuracy: result.summary.testAccuracy });
    for (const key of ['lr', 'trainAccuracy', 'testLoss', 'samplesPerSecond', 'seconds', 'rssMB']) expect(typeof lines[0][key]).toBe('number');
    const ckpt = readCheckpoint(o.outDir);
    expect(ckpt.meta).toMatchObject({ epoch: 2, step: 14, seed: 11, engine: 'fake', spec: 'regression' });
    expect(bytesOf(ckpt.weights)).toEqual(bytesOf(result.weights));
    expect([...ckpt.slots.keys()].sort()).toEqual(['head/bias/m', 'head/bias/v', 'head/kernel/m', 'head/kernel/v']);
    expect(ckpt.shapes.get('head/kernel')).toEqual([16, 4]);
    expect(ckpt.shapes.get('head/kernel/m')).toEqual([16, 4]);
  });
});

describe('resuming', () => {
  for (const optimizer of ['adam', 'sgd'] as const) {
    it(`2 epochs in one run = 1 epoch + resume 1 epoch, bit for bit (${optimizer}, drop-path and dropout)`, async () => {
      const graph = noisyGraph();
      // A run of 1 epoch decays a cosine or linear schedule over 1 epoch; with a constant rate the
      // two runs take the same steps. (Killed runs with a decaying schedule are tested below.)
      const c = config({ schedule: 'constant', optimizer: { name: optimizer, momentum: 0.9, weightDecay: 1e-3 } });
      const whole = await train(options({ graph, config: c }));
      const dir = tempDir();
      const first = await train(options({ graph, config: { ...c, epochs: 1 }, outDir: dir }));
      expect(first.summary.epochs).toBe(1);
      const events: TrainEvent[] = [];
      const resumed = await train(options({ graph, config: c, outDir: dir, resume: true, onEvent: (e) => events.push(e) }));
      expect(bytesOf(resumed.weights)).toEqual(bytesOf(whole.weights));
      const a = readCheckpoint(whole.checkpointPath);
      const b = readCheckpoint(dir);
      expect(bytesOf(b.slots)).toEqual(bytesOf(a.slots));
      expect(b.meta.step).toBe(a.meta.step);
      expect(resumed.history.map((m) => m.trainLoss)).toEqual(whole.history.map((m) => m.trainLoss));
      expect(events.find((e) => e.type === 'resume')).toMatchObject({ epoch: 1, step: 7 });
      // Changing the number of epochs is allowed and announced.
      expect(events.filter((e) => e.type === 'notice').map((e) => (e as { message: string }).message)).toEqual([
        'epochs changed on resume: 1 → 2',
      ]);
    });
  }

  it('a run killed after epoch 1 of 2 resumes to the uninterrupted result (cosine schedule)', async () => {
    const graph = noisyGraph();
    const whole = await train(options({ graph }));
    const dir = tempDir();
    const controller = new AbortController();
    const stop = (e: TrainEvent) => e.type === 'checkpoint' && controller.abort();
    await expect(train(options({ graph, outDir: dir, signal: controller.signal, onEvent: stop }))).rejects.toThrow();
    const resumed = await train(options({ graph, outDir: dir, resume: true }));
    expect(bytesOf(resumed.weights)).toEqual(bytesOf(whole.weights));
  });

  it('a run stopped mid-epoch keeps its last checkpoint, and resuming gives the uninterrupted result', async () => {
    const graph = noisyGraph();
    const whole = await train(options({ graph, config: config({ epochs: 3 }) }));
    const dir = tempDir();
    const controller = new AbortController();
    let checkpointBytes: Buffer | null = null;
    const stop = (e: TrainEvent) => {
      if (e.type === 'checkpoint') checkpointBytes = readFileSync(e.path);
      // Stop in the middle of epoch 2.
      if (e.type === 'step' && e.epoch === 2 && e.step === 4) controller.abort();
    };
    await expect(train(options({ graph, config: config({ epochs: 3 }), outDir: dir, signal: controller.signal, onEvent: stop }))).rejects.toThrow();
    expect(readFileSync(join(dir, 'checkpoint.safetensors')).equals(checkpointBytes!)).toBe(true);
    expect(readCheckpoint(dir).meta.epoch).toBe(1);
    const resumed = await train(options({ graph, config: config({ epochs: 3 }), outDir: dir, resume: true }));
    expect(bytesOf(resumed.weights)).toEqual(bytesOf(whole.weights));
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).epoch)).toEqual([1, 2, 3]);
  });

  it('resuming a finished run trains nothing and returns its weights', async () => {
    const log = newLog();
    const o = options();
    const done = await train(o);
    const again = await train({ ...o, resume: true, engineFactory: fakeEngineFactory(log) });
    expect(log.batches).toHaveLength(0);
    expect(bytesOf(again.weights)).toEqual(bytesOf(done.weights));
    expect(again.summary).toMatchObject({ epochs: 2, trainLoss: done.summary.trainLoss, testAccuracy: done.summary.testAccuracy });
  });

  it('resumeRun reads the run once: what is asked for, else what the run recorded, else the defaults', async () => {
    const o = options({ config: config({ epochs: 1, optimizer: { name: 'sgd', momentum: 0.8, weightDecay: 1e-3 } }), modelParams: { width: '6' } });
    await train(o);
    const defaults = config({ epochs: 9, lr: 1, seed: 0, optimizer: { name: 'adam', momentum: 0.9, weightDecay: 0 } });
    const resumed = resumeRun(o.outDir, { epochs: 2, limit: undefined, optimizer: { momentum: 0.5 } }, defaults);
    expect(resumed.config).toEqual({ ...o.config, epochs: 2, optimizer: { name: 'sgd', momentum: 0.5, weightDecay: 1e-3 } });
    expect(resumed.modelParams).toEqual({ width: '6' });
    expect(resumed.checkpoint.meta.epoch).toBe(1);
    // train takes the run as read: the same as resume: true, with the notice of what changed.
    const events: TrainEvent[] = [];
    await train({ ...o, config: resumed.config, resume: resumed, onEvent: (e) => events.push(e) });
    expect(events.filter((e) => e.type === 'notice').map((e) => (e as { message: string }).message)).toEqual(['epochs changed on resume: 1 → 2', 'optimizer.momentum changed on resume: 0.8 → 0.5']);
    expect(() => resumeRun(tempDir(), {}, defaults)).toThrow(/no checkpoint at/);
  });

  it('refuses to overwrite a checkpoint without --resume, and to resume nothing', async () => {
    const o = options({ config: config({ epochs: 1 }) });
    await train(o);
    await expect(train(o)).rejects.toThrow(/already holds a checkpoint/);
    await expect(train(options({ resume: true }))).rejects.toThrow(/no checkpoint at/);
  });

  it('refuses a checkpoint of another spec, naming the differences', async () => {
    const o = options({ config: config({ epochs: 1 }) });
    await train(o);
    const other = regressionGraph([1, 4, 4], 5, 'wider');
    const err = await train({ ...o, graph: other, dataset: loadDataset('synthetic', other, { synthetic: { trainSize: 200 } }), resume: true }).catch((e) => e);
    expect(err).toBeInstanceOf(SofarError);
    expect(err.message).toMatch(/trained for model 'regression' and does not fit 'wider'/);
    expect(err.message).toMatch(/head\/kernel is 16×4, the spec wants 16×5/);
  });

  it('refuses to resume with another batch size, seed or optimizer', async () => {
    const o = options({ config: config({ epochs: 1 }) });
    await train(o);
    await expect(train({ ...o, resume: true, config: config({ batchSize: 16 }) })).rejects.toThrow(/batchSize = 32, this run asks for 16/);
    await expect(train({ ...o, resume: true, config: config({ seed: 12 }) })).rejects.toThrow(/seed = 11/);
    await expect(
      train({ ...o, resume: true, config: config({ optimizer: { name: 'sgd', momentum: 0.9, weightDecay: 0 } }) }),
    ).rejects.toThrow(/optimizer.name = "adam"/);
    expect(readCheckpoint(o.outDir).meta.epoch).toBe(1);
  });

  it('a checkpoint written by one engine is resumed by another (state is plain named tensors)', async () => {
    // The "other engine" here is the fake engine created fresh; the real cross-engine test is in engines.test.ts.
    const graph = regressionGraph();
    const dir = tempDir();
    const weights = initWeights(graph, 3);
    writeCheckpoint(dir, { graph, weights, slots: new Map(), step: 7, epoch: 1, meta: { seed: 11, engine: 'elsewhere' } });
    const events: TrainEvent[] = [];
    await train(options({ graph, outDir: dir, resume: true, onEvent: (e) => events.push(e) }));
    expect(events.find((e) => e.type === 'resume')).toMatchObject({ engine: 'elsewhere', epoch: 1 });
    expect(existsSync(join(dir, 'metrics.jsonl'))).toBe(true);
  });
});

describe('configuration errors', () => {
  it('are clear errors, not crashes', async () => {
    await expect(train(options({ config: config({ epochs: 0 }) }))).rejects.toThrow(/epochs must be a whole number ≥ 1/);
    await expect(train(options({ config: config({ lr: -1 }) }))).rejects.toThrow(/learning rate must be a positive number/);
    await expect(train(options({ config: config({ batchSize: 2.5 }) }))).rejects.toThrow(/batch size/);
  });

  it('a diverging run stops with advice and keeps the last good checkpoint', async () => {
    const o = options({ config: config({ epochs: 1 }) });
    await train(o);
    const nanEngine = fakeEngineFactory();
    const factory: TrainOptions['engineFactory'] = async (opts) => {
      const e = await nanEngine(opts);
      return { ...e, name: e.name, device: e.device, trainStep: async () => ({ loss: NaN, correct: 0 }), predict: e.predict.bind(e), getState: e.getState.bind(e), setState: e.setState.bind(e), dispose: e.dispose.bind(e) };
    };
    const before = readFileSync(join(o.outDir, 'checkpoint.safetensors'));
    await expect(train({ ...o, config: config({ epochs: 2 }), resume: true, engineFactory: factory })).rejects.toThrow(/loss became NaN at epoch 2, step 1/);
    expect(readFileSync(join(o.outDir, 'checkpoint.safetensors')).equals(before)).toBe(true);
  });
});
